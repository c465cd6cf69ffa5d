//! WattTime's login: `GET /login` with HTTP basic credentials answers `{"token": ...}`, a
//! bearer token valid for 30 minutes. The token is kept in the key-value store (every call is
//! a fresh instance) until a minute before it expires, or until the API refuses it.

use carbonaut_sdk::http::Request;
use carbonaut_sdk::kv::{CacheError, ExpiringCache, StoreError};
use carbonaut_sdk::{ProviderError, log};

use crate::Config;
use crate::api::{status_error, text_field};

/// WattTime's documented token lifetime.
const TOKEN_LIFETIME_MS: u64 = 30 * 60 * 1000;
/// A token is renewed this long before it expires, so it never runs out during a call.
const RENEW_MARGIN_MS: u64 = 60 * 1000;
/// Tokens kept until a minute before WattTime lets them expire.
const TOKENS: ExpiringCache = ExpiringCache::new(TOKEN_LIFETIME_MS - RENEW_MARGIN_MS);

/// The bearer token of one call: read from the store or obtained by logging in, at most once
/// each unless the API refuses it.
pub struct Session<'a> {
    config: &'a Config,
    now: u64,
    token: Option<String>,
}

impl<'a> Session<'a> {
    pub fn new(config: &'a Config, now: u64) -> Self {
        Session {
            config,
            now,
            token: None,
        }
    }

    /// A token believed valid: this call's, the stored one while unexpired, or a new one.
    pub fn token(&mut self) -> Result<String, ProviderError> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let stored = TOKENS
            .get::<String>(&self.key(), self.now)
            .map_err(store_error)?;
        let token = match stored {
            Some(token) => token,
            None => self.login()?,
        };
        self.token = Some(token.clone());
        Ok(token)
    }

    /// A new token, after the API refused the one in hand.
    pub fn renew(&mut self) -> Result<String, ProviderError> {
        let token = self.login()?;
        self.token = Some(token.clone());
        Ok(token)
    }

    /// Per user, so changing `username` never sends another account's token.
    fn key(&self) -> String {
        format!("token/{}", self.config.username)
    }

    fn login(&mut self) -> Result<String, ProviderError> {
        let credentials = format!("{}:{}", self.config.username, self.config.password);
        let response = Request::get(&format!("{}/login", self.config.base_url))
            .header(
                "authorization",
                &format!("Basic {}", base64(credentials.as_bytes())),
            )
            .header("accept", "application/json")
            .send()?;
        match response.status {
            200 => {}
            401 | 403 => {
                return Err(ProviderError::Unauthorized(format!(
                    "WattTime refused the login of `{}` ({}); check `username` and `password`",
                    self.config.username, response.status
                )));
            }
            _ => return Err(status_error(&response, "login")),
        }
        let body: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
            ProviderError::Other(format!(
                "WattTime login answered something that is not JSON: {e}"
            ))
        })?;
        let token = text_field(&body, "token", "login")?.to_owned();
        TOKENS
            .set(&self.key(), self.now, &token)
            .map_err(|error| match error {
                CacheError::Store(store) => store_error(store),
                encode => encode.into(),
            })?;
        log::info(
            "logged in to WattTime",
            &[("username", &self.config.username)],
        );
        Ok(token)
    }
}

/// The store is required here: without it every call would log in again.
fn store_error(error: StoreError) -> ProviderError {
    match error {
        StoreError::Denied(why) => ProviderError::BadConfig(format!(
            "the key-value store is not granted ({why}): add `key_value = true` to this provider \
             in the config; it keeps the WattTime token between calls"
        )),
        other => other.into(),
    }
}

/// Standard base64 with padding (RFC 4648), for the basic credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
