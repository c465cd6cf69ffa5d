//! The two requests per zone and what their status codes mean: 401/403 refused credentials,
//! 429 and 5xx a passing failure (with the server's Retry-After), 404 and 400 a zone the API
//! does not know (the zone is the only parameter this plugin does not check itself).

use carbonaut_sdk::http::{Request, Response, encode_component};
use carbonaut_sdk::{ProviderError, UnavailableError, log};

use crate::Config;
use crate::cache::Cached;
use crate::parse::{self, ZoneMix};

/// A zone's answer: its mix, or why it is left out.
pub fn fetch(config: &Config, zone: &str) -> Result<Cached, ProviderError> {
    let mut query = format!("zone={}", encode_component(zone));
    if let Some(factor) = config.emission_factor {
        query.push_str("&emissionFactorType=");
        query.push_str(factor);
    }
    let body = match get(config, "carbon-intensity/latest", &query)? {
        Ok(body) => body,
        Err(left_out) => return Ok(Cached::LeftOut(left_out)),
    };
    let intensity = parse::intensity(&parse::json("carbon-intensity/latest", &body)?)?;
    let Some(carbon_intensity) = intensity.carbon_intensity else {
        return Ok(Cached::LeftOut(
            "Electricity Maps has no carbon intensity for this zone (carbonIntensity is null)"
                .into(),
        ));
    };

    let breakdown = get(
        config,
        "power-breakdown/latest",
        &format!("zone={}", encode_component(zone)),
    )?;
    let (shares, breakdown_estimated) = match breakdown {
        Ok(body) => parse::shares(&parse::json("power-breakdown/latest", &body)?, zone)?,
        // The intensity holds without the mix.
        Err(why) => {
            log::warn(
                "the zone has a carbon intensity but no power breakdown; its mix is left empty",
                &[("zone", zone), ("why", &why)],
            );
            (Vec::new(), false)
        }
    };
    Ok(Cached::Mix(ZoneMix {
        carbon_intensity,
        direct: intensity.direct,
        shares,
        valid_at_ms: intensity.valid_at_ms,
        estimated: intensity.estimated || breakdown_estimated,
    }))
}

/// The body of a 200 answer, `Err(why)` for a zone the API does not know, or the call's error.
fn get(
    config: &Config,
    endpoint: &str,
    query: &str,
) -> Result<Result<Vec<u8>, String>, ProviderError> {
    let url = format!("{}/v3/{endpoint}?{query}", config.base_url);
    let response = Request::get(&url)
        .header("auth-token", &config.token)
        .header("accept", "application/json")
        .send()?;
    let status = response.status;
    match status {
        200 => Ok(Ok(response.body)),
        401 | 403 => Err(ProviderError::Unauthorized(format!(
            "Electricity Maps refused the API token ({status} on {endpoint}: {}); check \
             `api_token` and that your plan includes this endpoint",
            message(&response)
        ))),
        400 | 404 => Ok(Err(format!(
            "Electricity Maps answered {status} on {endpoint}: {}",
            message(&response)
        ))),
        429 => Err(ProviderError::Unavailable(UnavailableError {
            message: format!(
                "Electricity Maps rate limit reached on {endpoint}: {}",
                message(&response)
            ),
            retry_after_ms: response.retry_after_ms(),
        })),
        500..=599 => Err(ProviderError::Unavailable(UnavailableError {
            message: format!(
                "Electricity Maps answered {status} on {endpoint}: {}",
                message(&response)
            ),
            retry_after_ms: response.retry_after_ms(),
        })),
        _ => Err(ProviderError::Other(format!(
            "Electricity Maps answered {status} on {endpoint}: {}",
            message(&response)
        ))),
    }
}

/// The error message of an error body (`{"message": ...}` or `{"error": ...}`), else the
/// start of the body.
fn message(response: &Response) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let field = json.as_ref().and_then(|j| {
        ["message", "error"]
            .iter()
            .find_map(|k| j.get(*k).and_then(serde_json::Value::as_str))
    });
    field.map_or_else(|| response.excerpt(), str::to_owned)
}
