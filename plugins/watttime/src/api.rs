//! `GET /v3/forecast?region=R&signal_type=co2_moer&horizon_hours=0`: the current five-minute
//! marginal operating emissions rate in lbs CO2/MWh (`signal-index` would be a 0-100 percentile,
//! not an amount of CO2), converted to g/kWh, and what WattTime's status codes mean.

use carbonaut_sdk::http::{Request, Response, encode_component};
use carbonaut_sdk::{EmissionFactorType, EnergyMix, ProviderError, UnavailableError, time};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Config;
use crate::auth::Session;

/// Grams in a pound (avoirdupois, exact by definition).
const GRAMS_PER_POUND: f64 = 453.592_37;
/// lbs/MWh → g/kWh: × 453.59237 g/lb ÷ 1000 kWh/MWh.
pub const LBS_PER_MWH_TO_G_PER_KWH: f64 = GRAMS_PER_POUND / 1000.0;

/// A region's current MOER, as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moer {
    pub grams_per_kwh: f64,
    pub valid_at_ms: u64,
}

impl Moer {
    pub fn to_wit(&self, location_id: String) -> EnergyMix {
        EnergyMix {
            zone: None,
            location_id,
            carbon_intensity: self.grams_per_kwh,
            // A MOER counts the CO2 the marginal plant burns, nothing upstream.
            emission_factor: EmissionFactorType::Direct,
            // WattTime publishes no generation mix.
            shares: Vec::new(),
            valid_at: self.valid_at_ms,
            // The MOER is always a model's output (WattTime infers the marginal plant), and
            // horizon 0 of the forecast is its estimate for the current interval.
            estimated: true,
        }
    }
}

pub const FORECAST: &str = "v3/forecast";

/// A forecast answer is at most this long: 72 hours of five-minute points are about 60 KB, and
/// the points past the 2 688th are not read anyway.
const MAX_FORECAST_BYTES: usize = 2 << 20;

/// `GET /v3/forecast` for `region`, `horizon_hours` ahead (0: the current point only). A
/// refused token is renewed once; the answer after that is returned whatever its status.
pub fn get_forecast(
    config: &Config,
    session: &mut Session,
    region: &str,
    horizon_hours: u64,
) -> Result<Response, ProviderError> {
    let url = format!(
        "{}/{FORECAST}?region={}&signal_type=co2_moer&horizon_hours={horizon_hours}",
        config.base_url,
        encode_component(region)
    );
    let send = |token: &str| {
        Request::get(&url)
            .header("authorization", &format!("Bearer {token}"))
            .header("accept", "application/json")
            .max_body_bytes(MAX_FORECAST_BYTES)
            .send()
    };
    let mut response = send(&session.token()?)?;
    if response.status == 401 {
        // Revoked or expired early: one new login, then the API's word is final.
        response = send(&session.renew()?)?;
    }
    Ok(response)
}

/// The region's MOER, `Err(why)` for a region WattTime does not know, or the call's error.
pub fn forecast_now(
    config: &Config,
    session: &mut Session,
    region: &str,
) -> Result<Result<Moer, String>, ProviderError> {
    let response = get_forecast(config, session, region, 0)?;
    match response.status {
        200 => parse(&response.body).map(Ok),
        401 => Err(ProviderError::Unauthorized(format!(
            "WattTime refused a fresh token on {FORECAST} ({})",
            message(&response)
        ))),
        403 => Err(ProviderError::Unauthorized(format!(
            "WattTime refused co2_moer for region {region} ({}); the free plan covers only \
             CAISO_NORTH, other regions need a plan that includes them",
            message(&response)
        ))),
        400 | 404 => Ok(Err(format!(
            "WattTime answered {} on {FORECAST}: {}",
            response.status,
            message(&response)
        ))),
        _ => Err(status_error(&response, FORECAST)),
    }
}

fn malformed(field: &str, why: &str) -> ProviderError {
    ProviderError::Other(format!(
        "WattTime {FORECAST} answered a body of an unexpected shape: `{field}` {why}"
    ))
}

/// `data[0].value` in `meta.units`, at `data[0].point_time`.
pub fn parse(body: &[u8]) -> Result<Moer, ProviderError> {
    let body: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::Other(format!(
            "WattTime {FORECAST} answered something that is not JSON: {e}"
        ))
    })?;
    let units = text_field(&body["meta"], "units", FORECAST)
        .map_err(|_| malformed("meta.units", "is missing or not a string"))?;
    if units != "lbs_co2_per_mwh" {
        return Err(malformed(
            "meta.units",
            &format!("is \"{units}\", not \"lbs_co2_per_mwh\""),
        ));
    }
    let point = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("data", "is missing or not a list"))?
        .first()
        .ok_or_else(|| malformed("data", "is empty"))?;
    let value = point
        .get("value")
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| {
            malformed(
                "data[0].value",
                &format!("is {}, not a number of lbs/MWh", point["value"]),
            )
        })?;
    let point_time = point
        .get("point_time")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("data[0].point_time", "is missing or not a string"))?;
    let valid_at_ms = time::parse_rfc3339_ms(point_time)
        .map_err(|e| malformed("data[0].point_time", &e.to_string()))?;
    Ok(Moer {
        grams_per_kwh: value * LBS_PER_MWH_TO_G_PER_KWH,
        valid_at_ms,
    })
}

/// A string field of a JSON object, or an error naming it.
pub fn text_field<'a>(
    body: &'a Value,
    field: &str,
    endpoint: &str,
) -> Result<&'a str, ProviderError> {
    body.get(field).and_then(Value::as_str).ok_or_else(|| {
        ProviderError::Other(format!(
            "WattTime {endpoint} answered a body of an unexpected shape: `{field}` is missing \
             or not a string"
        ))
    })
}

/// 429 and 5xx pass (with the server's Retry-After); anything else unexpected is reported.
pub fn status_error(response: &Response, endpoint: &str) -> ProviderError {
    let status = response.status;
    match status {
        429 | 500..=599 => ProviderError::Unavailable(UnavailableError {
            message: format!(
                "WattTime answered {status} on {endpoint}{}: {}",
                if status == 429 { " (rate limit)" } else { "" },
                message(response)
            ),
            retry_after_ms: response.retry_after_ms(),
        }),
        _ => ProviderError::Other(format!(
            "WattTime answered {status} on {endpoint}: {}",
            message(response)
        )),
    }
}

/// The message of an error body (`{"message": ...}` or `{"error": ...}`), else its start.
pub fn message(response: &Response) -> String {
    let json: Option<Value> = serde_json::from_slice(&response.body).ok();
    let field = json.as_ref().and_then(|j| {
        ["message", "error"]
            .iter()
            .find_map(|k| j.get(*k).and_then(Value::as_str))
    });
    field.map_or_else(|| response.excerpt(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pound_per_megawatt_hour_is_under_half_a_gram_per_kilowatt_hour() {
        assert_eq!(LBS_PER_MWH_TO_G_PER_KWH, 0.453_592_37);
        assert!((1000.0 * LBS_PER_MWH_TO_G_PER_KWH - 453.592_37).abs() < 1e-9);
    }
}
