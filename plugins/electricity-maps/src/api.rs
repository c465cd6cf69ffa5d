//! The two requests per zone and what their status codes mean: 401/403 a refusal of the
//! zone (the host then asks the zones apart, so only this one is refused), except a 401 for a
//! zone the token was answered for lately, which is throttling; 429 and 5xx a passing failure
//! (with the server's Retry-After); 404 and 400 a zone the API does not know (the zone is the
//! only parameter this plugin does not check itself). Every request asks the API not to fall
//! back to the caller's IP location, and an answer for another zone than the one asked is
//! refused.

use carbonaut_sdk::http::{Request, Response, encode_component};
use carbonaut_sdk::{ProviderError, UnavailableError, log};
use serde::{Deserialize, Serialize};

use crate::Config;
use crate::answered;
use crate::parse::{self, ZoneMix};

/// What the API said about a zone, as it is cached: the parsed figures (a few hundred bytes,
/// not the API's bodies, so hundreds of zones fit in the store's 1 MiB namespace). A zone left
/// out is cached too, so an unknown zone is not asked about on every collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    Mix(ZoneMix),
    /// The zone is unknown or has no figure; the reason, for the log.
    LeftOut(String),
}

/// Without these the API may answer for the zone of the caller's IP address when it cannot
/// place the query. `disableCallerLookup` is the name Electricity Maps' clients send on v3
/// and v4; `shouldUseFallbackCallerLookup` the older one. Unknown parameters are ignored.
pub const NO_CALLER_LOOKUP: &str = "disableCallerLookup=true&shouldUseFallbackCallerLookup=false";

/// An answer is at most this long: the latest figures are a few hundred bytes, a forecast of
/// 72 hourly points a few kilobytes; a body past it fails rather than fill the plugin's memory.
const MAX_BODY_BYTES: usize = 2 << 20;

/// How long to wait after a 401 taken as throttling (the API sends no Retry-After with it).
const THROTTLED_RETRY_MS: u64 = 5 * 60 * 1000;

/// A zone's answer: its mix, or why it is left out.
pub fn fetch(config: &Config, zone: &str) -> Result<Answer, ProviderError> {
    let mut query = format!("zone={}&{NO_CALLER_LOOKUP}", encode_component(zone));
    if let Some(factor) = config.emission_factor {
        query.push_str("&emissionFactorType=");
        query.push_str(factor);
    }
    let body = match get(config, "carbon-intensity/latest", &query, zone)? {
        Ok(body) => body,
        Err(left_out) => return Ok(Answer::LeftOut(left_out)),
    };
    let body = parse::json("carbon-intensity/latest", &body)?;
    let intensity = parse::intensity(&body)?;
    if let Some(answered) = other_zone("carbon-intensity/latest", &body, zone) {
        // Handed to the host with the zone the API named: the host refuses it, counted as a
        // `wrong-zone` rejection, so the operator sees it rather than a location left out.
        return Ok(match intensity.carbon_intensity {
            Some(carbon_intensity) => Answer::Mix(ZoneMix {
                carbon_intensity,
                direct: intensity.direct,
                shares: Vec::new(),
                valid_at_ms: intensity.valid_at_ms,
                estimated: intensity.estimated,
                zone: Some(answered),
            }),
            None => Answer::LeftOut(format!(
                "Electricity Maps answered for zone {answered}, not {zone}, without an intensity"
            )),
        });
    }
    let Some(carbon_intensity) = intensity.carbon_intensity else {
        return Ok(Answer::LeftOut(
            "Electricity Maps has no carbon intensity for this zone (carbonIntensity is null)"
                .into(),
        ));
    };

    let breakdown = get(
        config,
        "power-breakdown/latest",
        &format!("zone={}&{NO_CALLER_LOOKUP}", encode_component(zone)),
        zone,
    )?;
    let (shares, breakdown_estimated) = match breakdown {
        Ok(body) => {
            let body = parse::json("power-breakdown/latest", &body)?;
            match other_zone("power-breakdown/latest", &body, zone) {
                None => parse::shares(&body, zone)?,
                // The intensity, for the zone asked, holds without the mix.
                Some(_) => (Vec::new(), false),
            }
        }
        // The intensity holds without the mix.
        Err(why) => {
            log::warn(
                "the zone has a carbon intensity but no power breakdown; its mix is left empty",
                &[("zone", zone), ("why", &why)],
            );
            (Vec::new(), false)
        }
    };
    Ok(Answer::Mix(ZoneMix {
        carbon_intensity,
        direct: intensity.direct,
        shares,
        valid_at_ms: intensity.valid_at_ms,
        estimated: intensity.estimated || breakdown_estimated,
        zone: Some(zone.to_owned()),
    }))
}

/// The zone an answer names when it is not the one asked (an answer without `zone` is taken
/// as the zone asked).
fn other_zone(endpoint: &str, body: &serde_json::Value, zone: &str) -> Option<String> {
    let answered = body.get("zone").and_then(serde_json::Value::as_str)?;
    (answered != zone).then(|| {
        log::warn(
            "Electricity Maps answered for another zone than the one asked (it may have fallen \
             back to the caller's location); the host refuses the answer",
            &[
                ("asked", zone),
                ("answered", answered),
                ("endpoint", endpoint),
            ],
        );
        answered.to_owned()
    })
}

/// The body of a 200 answer, `Err(why)` for a zone the API does not know, or the call's error.
pub fn get(
    config: &Config,
    endpoint: &str,
    query: &str,
    zone: &str,
) -> Result<Result<Vec<u8>, String>, ProviderError> {
    let response = send(config, endpoint, query)?;
    let status = response.status;
    let now = carbonaut_sdk::time::now_ms();
    match status {
        200 => {
            answered::remember(config, zone, now);
            Ok(Ok(response.body))
        }
        401 if let Some(at) = answered::throttled(config, zone, now) => {
            Err(ProviderError::Unavailable(UnavailableError {
                message: format!(
                    "Electricity Maps answered 401 on {endpoint} for zone {zone}, which it \
                     answered with this token {} min ago: taken as rate limiting (the API \
                     answers 401 rather than 429 past a plan's limit), not as a bad token ({})",
                    (now - at) / 60_000,
                    message(&response)
                ),
                retry_after_ms: Some(response.retry_after_ms().unwrap_or(THROTTLED_RETRY_MS)),
            }))
        }
        401 | 403 => Err(ProviderError::Unauthorized(format!(
            "Electricity Maps refused zone {zone} ({status} on {endpoint}: {}); check that your \
             plan includes this zone and endpoint (a free token covers one zone), and \
             `api_token`",
            message(&response)
        ))),
        400 | 404 => Ok(Err(format!(
            "Electricity Maps answered {status} on {endpoint}: {}",
            message(&response)
        ))),
        _ => Err(status_error(&response, endpoint)),
    }
}

/// `GET {base_url}/v3/{endpoint}?{query}` with the token; the answer whatever its status.
pub fn send(config: &Config, endpoint: &str, query: &str) -> Result<Response, ProviderError> {
    let url = format!("{}/v3/{endpoint}?{query}", config.base_url);
    Ok(Request::get(&url)
        .header("auth-token", &config.token)
        .header("accept", "application/json")
        .max_body_bytes(MAX_BODY_BYTES)
        .send()?)
}

/// 429 and 5xx pass (with the server's Retry-After); any other status is reported.
pub fn status_error(response: &Response, endpoint: &str) -> ProviderError {
    let status = response.status;
    match status {
        429 => ProviderError::Unavailable(UnavailableError {
            message: format!(
                "Electricity Maps rate limit reached on {endpoint}: {}",
                message(response)
            ),
            retry_after_ms: response.retry_after_ms(),
        }),
        500..=599 => ProviderError::Unavailable(UnavailableError {
            message: format!(
                "Electricity Maps answered {status} on {endpoint}: {}",
                message(response)
            ),
            retry_after_ms: response.retry_after_ms(),
        }),
        _ => ProviderError::Other(format!(
            "Electricity Maps answered {status} on {endpoint}: {}",
            message(response)
        )),
    }
}

/// The error message of an error body (`{"message": ...}` or `{"error": ...}`), else the
/// start of the body.
pub fn message(response: &Response) -> String {
    let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let field = json.as_ref().and_then(|j| {
        ["message", "error"]
            .iter()
            .find_map(|k| j.get(*k).and_then(serde_json::Value::as_str))
    });
    field.map_or_else(|| response.excerpt(), str::to_owned)
}
