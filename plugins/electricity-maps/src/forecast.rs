//! `environment.forecast`: a zone's carbon-intensity forecast from
//! `GET /v3/carbon-intensity/forecast`, hourly points as the API gives them, generated at its
//! `updatedAt`, kept per zone in the key-value store for an hour (or `cache_seconds` if
//! longer): the API's values are hourly, and the host asks after every environment step. A
//! zone whose forecast is refused (a plan without forecasts), unknown or unreadable is left
//! out, remembered for `cache_seconds`; throttling, the rate limit and server errors fail the
//! call, as they do for `collect`.

use carbonaut_sdk::forecast::{MAX_POINTS, StoredPoints, in_order};
use carbonaut_sdk::http::encode_component;
use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{
    EmissionFactorType, ForecastPoint, IntensityForecast, ProviderError, log, time,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{self, NO_CALLER_LOOKUP};
use crate::{Config, not_granted};

const FORECAST: &str = "carbon-intensity/forecast";

/// The API's forecast points are hourly.
const POINT_MS: u64 = 60 * 60 * 1000;
/// How long a forecast is reused at least: the API computes its hourly values anew about once
/// an hour.
const FORECAST_LIFETIME_MS: u64 = 60 * 60 * 1000;

/// A zone's forecast as read from one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// `zone`: the zone the API answered for (absent: the one asked).
    pub zone: Option<String>,
    /// `emissionFactorType`, when the answer names it.
    pub direct: Option<bool>,
    pub generated_at_ms: u64,
    pub points: Vec<ForecastPoint>,
    /// Points left out: unreadable, overlapping, or past [`MAX_POINTS`].
    pub skipped: usize,
}

/// What is kept per zone: the forecast, or why the zone is left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Cached {
    Forecast(ZoneForecast),
    LeftOut(String),
}

/// A zone's forecast, as kept and handed to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneForecast {
    /// The zone the API answered for.
    pub zone: String,
    pub direct: bool,
    pub generated_at_ms: u64,
    pub points: StoredPoints,
}

impl ZoneForecast {
    pub fn to_wit(&self, location_id: String) -> IntensityForecast {
        IntensityForecast {
            location_id,
            // The host refuses a forecast for another zone than the query's.
            zone: Some(self.zone.clone()),
            emission_factor: if self.direct {
                EmissionFactorType::Direct
            } else {
                EmissionFactorType::Lifecycle
            },
            generated_at: self.generated_at_ms,
            points: self.points.points(),
        }
    }
}

/// The zone's forecast from the store while fresh, else from the API (then stored); `None`
/// for a zone left out.
pub fn zone_forecast(
    config: &Config,
    zone: &str,
    now: u64,
) -> Result<Option<ZoneForecast>, ProviderError> {
    let factor = config.emission_factor.unwrap_or("default");
    let key = format!("forecast/{factor}/{zone}");
    // An entry's lifetime is chosen when it is written and checked when it is read back, so
    // any lifetime reads it.
    let reader = ExpiringCache::new(0);
    if config.cache_ms > 0
        && let Some(cached) = reader.get::<Cached>(&key, now).map_err(not_granted)?
    {
        return Ok(match cached {
            Cached::Forecast(forecast) => Some(forecast),
            Cached::LeftOut(why) => {
                log::debug(
                    "zone's forecast left out (cached answer)",
                    &[("zone", zone), ("why", &why)],
                );
                None
            }
        });
    }
    let answer = match fetch(config, zone)? {
        Ok(parsed) if parsed.points.is_empty() => Cached::LeftOut(format!(
            "Electricity Maps {FORECAST} answered no usable point for zone {zone}"
        )),
        Ok(parsed) => {
            if parsed.skipped > 0 {
                log::warn(
                    "forecast points left out: unreadable, overlapping or past the 2 688th",
                    &[
                        ("zone", zone),
                        ("endpoint", FORECAST),
                        ("left_out", &parsed.skipped.to_string()),
                    ],
                );
            }
            Cached::Forecast(ZoneForecast {
                zone: parsed.zone.unwrap_or_else(|| zone.to_owned()),
                direct: parsed
                    .direct
                    .unwrap_or(config.emission_factor == Some("direct")),
                generated_at_ms: parsed.generated_at_ms,
                points: StoredPoints::new(&parsed.points),
            })
        }
        Err(why) => Cached::LeftOut(why),
    };
    if config.cache_ms > 0 {
        // A zone left out is asked again as soon as a live answer would be.
        let lifetime = match answer {
            Cached::Forecast(_) => FORECAST_LIFETIME_MS.max(config.cache_ms),
            Cached::LeftOut(_) => config.cache_ms,
        };
        ExpiringCache::new(lifetime).remember(&key, now, &answer);
    }
    Ok(match answer {
        Cached::Forecast(forecast) => Some(forecast),
        Cached::LeftOut(why) => {
            log::warn(
                "zone's forecast left out",
                &[("zone", zone), ("endpoint", FORECAST), ("why", &why)],
            );
            None
        }
    })
}

/// The parsed forecast, `Err(why)` for a zone left out, or the call's error.
fn fetch(config: &Config, zone: &str) -> Result<Result<Parsed, String>, ProviderError> {
    let mut query = format!("zone={}&{NO_CALLER_LOOKUP}", encode_component(zone));
    if let Some(factor) = config.emission_factor {
        query.push_str("&emissionFactorType=");
        query.push_str(factor);
    }
    let response = api::send(config, FORECAST, &query)?;
    let status = response.status;
    let endpoint = format!("{FORECAST} for zone {zone}");
    match status {
        200 => {
            Ok(parse(&response.body).map_err(|why| format!("Electricity Maps {endpoint}: {why}")))
        }
        // Forecasts are a feature of some plans: a plan may price a zone now and refuse its
        // forecast. Only this zone's forecast is left out; a 401 is not taken as throttling
        // here (as `collect` takes it after an answer), since failing the call would hold up
        // every other zone's forecast for a refusal. A refused token shows in `collect`.
        401 | 403 | 400 | 404 => Ok(Err(format!(
            "Electricity Maps answered {status} on {endpoint}: {}{}",
            api::message(&response),
            if matches!(status, 401 | 403) {
                " (check that your plan includes forecasts for this zone)"
            } else {
                ""
            }
        ))),
        _ => Err(api::status_error(&response, &endpoint)),
    }
}

/// `forecast[].carbonIntensity` (gCO2eq/kWh) from `forecast[].datetime` for an hour each,
/// generated at `updatedAt`. A point that does not read (`null`, a wrong type, a bad time) is
/// left out and counted; a body without `forecast` or `updatedAt` is refused as a whole.
pub fn parse(body: &[u8]) -> Result<Parsed, String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let updated_at = body
        .get("updatedAt")
        .and_then(Value::as_str)
        .ok_or("`updatedAt` is missing or not a string")?;
    let generated_at_ms =
        time::parse_rfc3339_ms(updated_at).map_err(|e| format!("`updatedAt`: {e}"))?;
    let direct = match body.get("emissionFactorType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "lifecycle" => Some(false),
        Some(Value::String(s)) if s == "direct" => Some(true),
        Some(v) => {
            return Err(format!(
                "`emissionFactorType` is {v}, not \"lifecycle\" or \"direct\""
            ));
        }
    };
    let list = body
        .get("forecast")
        .and_then(Value::as_array)
        .ok_or("`forecast` is missing or not a list")?;
    let mut unreadable = 0;
    let points = list
        .iter()
        .take(MAX_POINTS)
        .filter_map(|point| {
            let value = point
                .get("carbonIntensity")
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite() && *v >= 0.0);
            let starts_at = point
                .get("datetime")
                .and_then(Value::as_str)
                .and_then(|t| time::parse_rfc3339_ms(t).ok());
            let (Some(carbon_intensity), Some(starts_at)) = (value, starts_at) else {
                unreadable += 1;
                return None;
            };
            Some(ForecastPoint {
                starts_at,
                duration_ms: POINT_MS,
                carbon_intensity,
            })
        })
        .collect();
    let (points, out_of_order) = in_order(points);
    Ok(Parsed {
        zone: body.get("zone").and_then(Value::as_str).map(str::to_owned),
        direct,
        generated_at_ms,
        points,
        skipped: unreadable + out_of_order + list.len().saturating_sub(MAX_POINTS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v3 forecast body as Electricity Maps' API reference and the Carbon Aware SDK's
    /// client read it: zone, hourly points, updatedAt.
    const SAMPLE: &str = r#"{
      "zone": "DE",
      "forecast": [
        {"carbonIntensity": 301, "datetime": "2024-01-01T10:00:00.000Z"},
        {"carbonIntensity": 288.5, "datetime": "2024-01-01T11:00:00.000Z"},
        {"carbonIntensity": 275, "datetime": "2024-01-01T12:00:00.000Z"}
      ],
      "updatedAt": "2024-01-01T09:12:00.000Z"
    }"#;

    /// 2024-01-01T10:00:00Z.
    const TEN: u64 = 1_704_103_200_000;

    #[test]
    fn hourly_points_from_datetime_generated_at_updated_at() {
        let parsed = parse(SAMPLE.as_bytes()).expect("parsed");
        assert_eq!(parsed.zone.as_deref(), Some("DE"));
        assert_eq!(parsed.direct, None);
        // 09:12, 48 minutes before ten.
        assert_eq!(parsed.generated_at_ms, TEN - 48 * 60_000);
        assert_eq!(parsed.skipped, 0);
        assert_eq!(
            parsed.points,
            [
                ForecastPoint {
                    starts_at: TEN,
                    duration_ms: 3_600_000,
                    carbon_intensity: 301.0,
                },
                ForecastPoint {
                    starts_at: TEN + 3_600_000,
                    duration_ms: 3_600_000,
                    carbon_intensity: 288.5,
                },
                ForecastPoint {
                    starts_at: TEN + 7_200_000,
                    duration_ms: 3_600_000,
                    carbon_intensity: 275.0,
                },
            ]
        );
    }

    #[test]
    fn unreadable_or_repeated_points_are_left_out_and_counted() {
        let body = SAMPLE
            .replace("288.5", "null")
            .replace("2024-01-01T12:00:00.000Z", "noon");
        let parsed = parse(body.as_bytes()).expect("parsed");
        assert_eq!(parsed.points.len(), 1);
        assert_eq!(parsed.skipped, 2);
        let text = SAMPLE.replace("275", "\"high\"");
        assert_eq!(parse(text.as_bytes()).expect("parsed").skipped, 1);
        let repeated = SAMPLE.replace("T12:00", "T10:30");
        let parsed = parse(repeated.as_bytes()).expect("parsed");
        assert_eq!(parsed.points.len(), 2);
        assert_eq!(parsed.skipped, 1);
    }

    #[test]
    fn the_emission_factor_is_read_when_the_answer_names_it() {
        let direct = SAMPLE.replace("\"zone\"", "\"emissionFactorType\": \"direct\", \"zone\"");
        assert_eq!(parse(direct.as_bytes()).expect("parsed").direct, Some(true));
        let odd = SAMPLE.replace("\"zone\"", "\"emissionFactorType\": 3, \"zone\"");
        let err = parse(odd.as_bytes()).expect_err("odd factor");
        assert!(err.contains("emissionFactorType"), "{err}");
    }

    #[test]
    fn the_points_read_stop_at_the_hosts_bound() {
        let mut body: Value = serde_json::from_str(SAMPLE).expect("JSON");
        let points: Vec<Value> = (0..MAX_POINTS as u64 + 3)
            .map(|i| {
                serde_json::json!({
                    "carbonIntensity": 100,
                    "datetime": time::format_rfc3339_ms(TEN + i * 3_600_000),
                })
            })
            .collect();
        body["forecast"] = points.into();
        let parsed = parse(body.to_string().as_bytes()).expect("parsed");
        assert_eq!(parsed.points.len(), MAX_POINTS);
        assert_eq!(parsed.skipped, 3);
    }

    #[test]
    fn a_body_without_forecast_or_updated_at_is_refused() {
        let err = parse(br#"{"zone": "DE", "updatedAt": "2024-01-01T09:12:00.000Z"}"#)
            .expect_err("no forecast");
        assert!(err.contains("`forecast`"), "{err}");
        let err =
            parse(SAMPLE.replace("updatedAt", "updated").as_bytes()).expect_err("no updatedAt");
        assert!(err.contains("`updatedAt`"), "{err}");
        let err =
            parse(SAMPLE.replace("09:12:00.000Z", "9am").as_bytes()).expect_err("bad updatedAt");
        assert!(err.contains("`updatedAt`"), "{err}");
        let err = parse(b"Access denied").expect_err("not JSON");
        assert!(err.contains("not JSON"), "{err}");
    }
}
