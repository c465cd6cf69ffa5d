//! The access token: the service account's signed assertion exchanged at the token URI
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`), kept in the key-value store
//! until five minutes before it expires, so a token (valid an hour) costs one request an hour
//! rather than one per call.

use carbonaut_sdk::http::{Request, encode_component};
use carbonaut_sdk::kv::{self, ExpiringCache};
use carbonaut_sdk::{ProviderError, time};
use serde::{Deserialize, Serialize};

use crate::api::{self, Action};
use crate::config::Config;
use crate::jwt;

/// A token is dropped this long before Google says it expires, so no request carries one
/// that runs out on the way.
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
    format!("token/{}", config.client_email)
}

/// A valid access token: the cached one, else a new one from the token URI.
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
        project: "-",
        action: "oauth2 token (jwt-bearer)",
    };
    let private = jwt::parse_key(&config.private_key).map_err(|e| {
        ProviderError::BadConfig(format!(
            "{}: setting `private_key` is not usable: {}",
            config.who(),
            e.0
        ))
    })?;
    let assertion = jwt::assertion(
        &private,
        config.private_key_id.as_deref(),
        &config.client_email,
        &config.token_uri,
        now / 1000,
    );
    let body = format!(
        "grant_type={}&assertion={}",
        encode_component("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        assertion
    );
    let request = Request::post(&config.token_uri, body)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    let response = api::send(request, &action).map_err(|e| match e {
        // The token endpoint answers 400 `invalid_grant` for a key it does not know (deleted,
        // of another account): a refused credential, not a setting's syntax.
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
