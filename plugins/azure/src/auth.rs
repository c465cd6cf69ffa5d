//! The access token: OAuth 2.0 client credentials of a service principal at Microsoft Entra
//! ID's v2.0 token endpoint (`POST {login}/{tenant}/oauth2/v2.0/token` with
//! `grant_type=client_credentials` and `scope=https://management.azure.com/.default`), kept in
//! the key-value store until five minutes before it expires: one request an hour, not one per
//! call.

use carbonaut_sdk::http::{Request, encode_component};
use carbonaut_sdk::kv::{self, ExpiringCache};
use carbonaut_sdk::{ProviderError, time};
use serde::{Deserialize, Serialize};

use crate::api::{self, Action};
use crate::config::Config;

/// The resource the token is for: Azure Resource Manager, Azure Monitor's metrics included.
pub const SCOPE: &str = "https://management.azure.com/.default";
/// A token is dropped this long before it expires, so no request carries one that runs out
/// on the way.
const MARGIN_MS: u64 = 300_000;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    token: String,
}

fn key(config: &Config) -> String {
    format!("token/{}/{}", config.tenant_id, config.client_id)
}

/// A valid access token: the cached one, else a new one from the token endpoint.
pub fn token(config: &Config) -> Result<String, ProviderError> {
    let now = time::now_ms();
    // Any lifetime reads: the stored entry carries its own expiry.
    let cached = ExpiringCache::new(0)
        .get::<Cached>(&key(config), now)
        .map_err(|e| {
            // `get` fails only when the store is not granted.
            ProviderError::BadConfig(format!(
                "{}: the key-value store is not granted ({e:?}): set `key_value = true` on the \
                 provider; the plugin keeps its access token and the last utilisation answer \
                 there, so that the APIs billed per request are asked once per interval",
                config.who()
            ))
        })?;
    if let Some(cached) = cached {
        return Ok(cached.token);
    }
    let who = config.who();
    let action = Action {
        who: &who,
        subscription: "-",
        action: "Entra ID token (client_credentials)",
    };
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        config.login_base, config.tenant_id
    );
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
        encode_component(&config.client_id),
        encode_component(&config.client_secret),
        encode_component(SCOPE)
    );
    let request = Request::post(&url, body)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    let response = api::send(request, &action).map_err(|e| match e {
        // Entra ID answers 400 (`invalid_client`, `unauthorized_client`) or 401 for a wrong
        // secret or an unknown application: a refused credential.
        ProviderError::BadConfig(m) => ProviderError::Unauthorized(m),
        other => other,
    })?;
    let answer: TokenAnswer = serde_json::from_slice(&response.body).map_err(|e| {
        ProviderError::Other(format!("{action}: the answer holds no access token: {e}"))
    })?;
    let lifetime_ms = answer.expires_in.unwrap_or(3600).saturating_mul(1000);
    if lifetime_ms > MARGIN_MS {
        ExpiringCache::new(lifetime_ms - MARGIN_MS).remember(
            &key(config),
            now,
            &Cached {
                token: answer.access_token.clone(),
            },
        );
    }
    Ok(answer.access_token)
}

/// Forgets the cached token after an API refused it, so the next call asks for a new one.
pub fn forget(config: &Config) {
    let _ = kv::delete(&key(config));
}
