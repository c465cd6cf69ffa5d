//! `environment.forecast`: WattTime's co2_moer forecast of a region for the next
//! `forecast_hours` (`GET /v3/forecast?horizon_hours=N`), each point converted from lbs/MWh to
//! g/kWh as the live MOER is, and kept per region in the key-value store for the forecast's
//! own update period (`meta.generated_at_period_seconds`, five minutes) or `cache_seconds` if
//! longer: the host asks after every environment step, and WattTime computes a new forecast
//! only once a period. A region whose forecast is refused, unknown or unreadable is left out
//! (and remembered as such for the period); only a refused login or token, the rate limit and
//! server errors fail the call, as they do for `collect`.

use carbonaut_sdk::forecast::{MAX_POINTS, StoredPoints, in_order};
use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{
    EmissionFactorType, ForecastPoint, IntensityForecast, ProviderError, log, time,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Config;
use crate::api::{self, FORECAST, LBS_PER_MWH_TO_G_PER_KWH};
use crate::auth::Session;

/// How long a forecast is reused when the answer does not say how often WattTime renews it.
const DEFAULT_PERIOD_MS: u64 = 5 * 60 * 1000;
/// Bounds on the period an answer states: a minute keeps a bad value from asking every
/// step, an hour keeps one from freezing the forecast.
const MIN_PERIOD_MS: u64 = 60 * 1000;
const MAX_PERIOD_MS: u64 = 60 * 60 * 1000;

/// A region's forecast as read from one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// `meta.region`: the region WattTime answered for (absent: the one asked).
    pub region: Option<String>,
    pub generated_at_ms: u64,
    /// `meta.generated_at_period_seconds`: how often WattTime computes a new forecast.
    pub period_ms: Option<u64>,
    pub points: Vec<ForecastPoint>,
    /// Points left out: unreadable, overlapping, or past [`MAX_POINTS`].
    pub skipped: usize,
}

/// What is kept per region: the forecast, or why the region is left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Cached {
    Forecast {
        region: String,
        generated_at_ms: u64,
        points: StoredPoints,
    },
    LeftOut(String),
}

impl Cached {
    /// The forecast kept, or why the region is left out.
    fn into_forecast(self) -> Result<RegionForecast, String> {
        match self {
            Cached::Forecast {
                region,
                generated_at_ms,
                points,
            } => Ok(RegionForecast {
                region,
                generated_at_ms,
                points: points.points(),
            }),
            Cached::LeftOut(why) => Err(why),
        }
    }
}

/// A region's forecast, ready to hand to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionForecast {
    /// The region WattTime answered for.
    pub region: String,
    pub generated_at_ms: u64,
    pub points: Vec<ForecastPoint>,
}

impl RegionForecast {
    pub fn to_wit(&self, location_id: String, zone: Option<String>) -> IntensityForecast {
        IntensityForecast {
            location_id,
            zone,
            // As for the live MOER: the marginal plant's CO2 at the stack.
            emission_factor: EmissionFactorType::Direct,
            generated_at: self.generated_at_ms,
            points: self.points.clone(),
        }
    }
}

/// The region's forecast from the store while fresh, else from the API (then stored); `None`
/// for a region left out.
pub fn region_forecast(
    config: &Config,
    session: &mut Session,
    region: &str,
    now: u64,
) -> Result<Option<RegionForecast>, ProviderError> {
    // The horizon is part of the key: a changed `forecast_hours` is asked afresh.
    let key = format!("forecast/{}h/{region}", config.forecast_hours);
    // The lifetime of an entry is checked when it is read back as stored, so any lifetime
    // reads it; it is chosen per entry when writing.
    let reader = ExpiringCache::new(0);
    if config.cache_ms > 0
        && let Some(cached) = reader.get::<Cached>(&key, now).ok().flatten()
    {
        return Ok(cached
            .into_forecast()
            .inspect_err(|why| {
                log::debug(
                    "region's forecast left out (cached answer)",
                    &[("region", region), ("why", why)],
                );
            })
            .ok());
    }
    let (answer, period_ms) = match fetch(config, session, region)? {
        Ok(parsed) => {
            if parsed.skipped > 0 {
                log::warn(
                    "forecast points left out: unreadable, overlapping or past the 2 688th",
                    &[
                        ("region", region),
                        ("endpoint", FORECAST),
                        ("left_out", &parsed.skipped.to_string()),
                    ],
                );
            }
            let period_ms = parsed.period_ms;
            let answer = if parsed.points.is_empty() {
                Cached::LeftOut(format!(
                    "WattTime {FORECAST} answered no usable point for region {region}"
                ))
            } else {
                Cached::Forecast {
                    region: parsed.region.unwrap_or_else(|| region.to_owned()),
                    generated_at_ms: parsed.generated_at_ms,
                    points: StoredPoints::new(&parsed.points),
                }
            };
            (answer, period_ms)
        }
        Err(why) => (Cached::LeftOut(why), None),
    };
    if config.cache_ms > 0 {
        let lifetime = period_ms
            .unwrap_or(DEFAULT_PERIOD_MS)
            .clamp(MIN_PERIOD_MS, MAX_PERIOD_MS)
            .max(config.cache_ms);
        ExpiringCache::new(lifetime).remember(&key, now, &answer);
    }
    Ok(answer
        .into_forecast()
        .inspect_err(|why| {
            log::warn(
                "region's forecast left out",
                &[("region", region), ("endpoint", FORECAST), ("why", why)],
            );
        })
        .ok())
}

/// The parsed forecast, `Err(why)` for a region left out, or the call's error.
fn fetch(
    config: &Config,
    session: &mut Session,
    region: &str,
) -> Result<Result<Parsed, String>, ProviderError> {
    let response = api::get_forecast(config, session, region, config.forecast_hours)?;
    let endpoint = format!("{FORECAST} for region {region}");
    match response.status {
        200 => Ok(parse(&response.body)
            .map_err(|why| format!("WattTime {FORECAST} for region {region}: {why}"))),
        // A token refused right after a login refuses every region.
        401 => Err(ProviderError::Unauthorized(format!(
            "WattTime refused a fresh token on {endpoint} ({})",
            api::message(&response)
        ))),
        // The plan may price a region now and not forecast it: the others go on.
        403 => Ok(Err(format!(
            "WattTime refused the co2_moer forecast on {endpoint} ({}); your plan may not \
             include forecasts for it",
            api::message(&response)
        ))),
        400 | 404 => Ok(Err(format!(
            "WattTime answered {} on {endpoint}: {}",
            response.status,
            api::message(&response)
        ))),
        _ => Err(api::status_error(&response, &endpoint)),
    }
}

/// `data[].point_time/value` in `meta.units` (lbs/MWh), each lasting
/// `meta.data_point_period_seconds`, generated at `meta.generated_at`. A point that does not
/// read is left out and counted; a body without those fields is refused as a whole.
pub fn parse(body: &[u8]) -> Result<Parsed, String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let meta = &body["meta"];
    let units = meta.get("units").and_then(Value::as_str);
    if units != Some("lbs_co2_per_mwh") {
        return Err(format!(
            "`meta.units` is {}, not \"lbs_co2_per_mwh\"",
            meta.get("units").unwrap_or(&Value::Null)
        ));
    }
    let seconds = |field: &str| {
        meta.get(field)
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .map(|s| s.saturating_mul(1000))
    };
    let duration_ms = seconds("data_point_period_seconds").ok_or_else(|| {
        format!(
            "`meta.data_point_period_seconds` is {}, not a positive whole number",
            meta.get("data_point_period_seconds")
                .unwrap_or(&Value::Null)
        )
    })?;
    let generated_at = meta
        .get("generated_at")
        .and_then(Value::as_str)
        .ok_or("`meta.generated_at` is missing or not a string")?;
    let generated_at_ms =
        time::parse_rfc3339_ms(generated_at).map_err(|e| format!("`meta.generated_at`: {e}"))?;
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or("`data` is missing or not a list")?;
    let mut unreadable = 0;
    let points = data
        .iter()
        .take(MAX_POINTS)
        .filter_map(|point| {
            let value = point
                .get("value")
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite() && *v >= 0.0);
            let starts_at = point
                .get("point_time")
                .and_then(Value::as_str)
                .and_then(|t| time::parse_rfc3339_ms(t).ok());
            let (Some(value), Some(starts_at)) = (value, starts_at) else {
                unreadable += 1;
                return None;
            };
            Some(ForecastPoint {
                starts_at,
                duration_ms,
                carbon_intensity: value * LBS_PER_MWH_TO_G_PER_KWH,
            })
        })
        .collect();
    let (points, out_of_order) = in_order(points);
    Ok(Parsed {
        region: meta
            .get("region")
            .and_then(Value::as_str)
            .map(str::to_owned),
        generated_at_ms,
        period_ms: seconds("generated_at_period_seconds"),
        points,
        skipped: unreadable + out_of_order + data.len().saturating_sub(MAX_POINTS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WattTime's v3 forecast sample (its v2 to v3 transition guide), three points.
    const SAMPLE: &str = r#"{
      "data": [
        {"point_time": "2022-07-15T00:00:00+00:00", "value": 1048.4131919701972},
        {"point_time": "2022-07-15T00:05:00+00:00", "value": 1051.0880801214637},
        {"point_time": "2022-07-15T00:10:00+00:00", "value": 950.0}
      ],
      "meta": {
        "data_point_period_seconds": 300,
        "region": "CAISO_NORTH",
        "warnings": [{"type": "EXAMPLE_WARNING", "message": "This is just an example"}],
        "signal_type": "co2_moer",
        "model": {"date": "2023-03-01"},
        "units": "lbs_co2_per_mwh",
        "generated_at_period_seconds": 300,
        "generated_at": "2022-07-15T00:00:00+00:00"
      }
    }"#;

    /// 2022-07-15T00:00:00Z.
    const START: u64 = 1_657_843_200_000;

    #[test]
    fn a_forecast_is_converted_to_grams_per_kilowatt_hour_point_by_point() {
        let parsed = parse(SAMPLE.as_bytes()).expect("parsed");
        assert_eq!(parsed.region.as_deref(), Some("CAISO_NORTH"));
        assert_eq!(parsed.generated_at_ms, START);
        assert_eq!(parsed.period_ms, Some(300_000));
        assert_eq!(parsed.skipped, 0);
        assert_eq!(
            parsed.points,
            [
                ForecastPoint {
                    starts_at: START,
                    duration_ms: 300_000,
                    carbon_intensity: 1048.4131919701972 * 0.453_592_37,
                },
                ForecastPoint {
                    starts_at: START + 300_000,
                    duration_ms: 300_000,
                    carbon_intensity: 1051.0880801214637 * 0.453_592_37,
                },
                ForecastPoint {
                    starts_at: START + 600_000,
                    duration_ms: 300_000,
                    carbon_intensity: 950.0 * LBS_PER_MWH_TO_G_PER_KWH,
                },
            ]
        );
        // 950 lbs/MWh, as the live MOER converts it.
        assert!((parsed.points[2].carbon_intensity - 430.912_751_5).abs() < 1e-9);
    }

    #[test]
    fn unreadable_points_are_left_out_and_counted() {
        let body = SAMPLE
            .replace("1051.0880801214637", "null")
            .replace("2022-07-15T00:10:00+00:00", "yesterday");
        let parsed = parse(body.as_bytes()).expect("parsed");
        assert_eq!(parsed.points.len(), 1);
        assert_eq!(parsed.skipped, 2);
        let negative = SAMPLE.replace("950.0", "-3");
        assert_eq!(parse(negative.as_bytes()).expect("parsed").skipped, 1);
    }

    #[test]
    fn a_repeated_point_is_dropped_rather_than_the_forecast() {
        let body = SAMPLE.replace("2022-07-15T00:10:00", "2022-07-15T00:02:00");
        let parsed = parse(body.as_bytes()).expect("parsed");
        assert_eq!(parsed.points.len(), 2);
        assert_eq!(parsed.skipped, 1);
        assert!(
            parsed
                .points
                .windows(2)
                .all(|w| w[0].starts_at < w[1].starts_at)
        );
    }

    #[test]
    fn the_points_read_stop_at_the_hosts_bound() {
        let mut body: Value = serde_json::from_str(SAMPLE).expect("JSON");
        let points: Vec<Value> = (0..MAX_POINTS as u64 + 5)
            .map(|i| {
                serde_json::json!({
                    "point_time": time::format_rfc3339_ms(START + i * 300_000),
                    "value": 900.0,
                })
            })
            .collect();
        body["data"] = points.into();
        let parsed = parse(body.to_string().as_bytes()).expect("parsed");
        assert_eq!(parsed.points.len(), MAX_POINTS);
        assert_eq!(parsed.skipped, 5);
    }

    #[test]
    fn a_body_without_units_period_or_generated_time_is_refused() {
        let units = SAMPLE.replace("lbs_co2_per_mwh", "percentile");
        let err = parse(units.as_bytes()).expect_err("percentile");
        assert!(
            err.contains("`meta.units`") && err.contains("percentile"),
            "{err}"
        );
        let period = SAMPLE.replace("\"data_point_period_seconds\": 300", "\"x\": 0");
        let err = parse(period.as_bytes()).expect_err("no period");
        assert!(err.contains("data_point_period_seconds"), "{err}");
        let generated = SAMPLE.replace("\"generated_at\": \"2022", "\"generated\": \"2022");
        let err = parse(generated.as_bytes()).expect_err("no generated_at");
        assert!(err.contains("meta.generated_at"), "{err}");
        let err = parse(b"<html>").expect_err("not JSON");
        assert!(err.contains("not JSON"), "{err}");
        let err = parse(br#"{"meta": {"units": "lbs_co2_per_mwh", "data_point_period_seconds": 300, "generated_at": "2022-07-15T00:00:00Z"}}"#)
            .expect_err("no data");
        assert!(err.contains("`data`"), "{err}");
    }
}
