//! Sending a request again, within one plugin call, when the server throttles (429) or
//! stumbles (5xx): after a doubling wait, or after the server's `Retry-After` when that is
//! short. A longer wait is the host's to make: the error goes back with its
//! `retry_after_ms`, and the host backs the provider instance off. Also the usual reading of
//! a refused answer's status as the [`ProviderError`] the host acts on.
//!
//! ```no_run
//! # fn demo(token: &str) -> Result<(), carbonaut_sdk::ProviderError> {
//! use carbonaut_sdk::http::Request;
//! use carbonaut_sdk::http::retry::{Retry, refused};
//! let request = Request::get("https://api.example.com/v1/things")
//!     .header("authorization", &format!("Bearer {token}"));
//! let context = "account `acme`, things.list";
//! let response = Retry::default().send(&request, &context, |_| {}, |r| {
//!     refused(r, format!("{context}: answered {}: {}", r.status, r.excerpt()), 60_000)
//! })?;
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::time::Duration;

use super::{Request, Response};
use crate::{ProviderError, UnavailableError, log};

/// How often and how long to wait, within one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait when the server gives no `Retry-After`; each retry doubles it.
    pub first_backoff_ms: u64,
    /// A wait longer than this (a `Retry-After`, usually) is handed to the host instead.
    pub max_wait_ms: u64,
}

impl Default for Retry {
    /// Two retries, after 250 ms and 500 ms, and a `Retry-After` of up to 2 s waited out: the
    /// host's call deadline (10 s by default) leaves room for a few short waits, not a long one.
    fn default() -> Self {
        Retry {
            retries: 2,
            first_backoff_ms: 250,
            max_wait_ms: 2_000,
        }
    }
}

impl Retry {
    /// Sends `request` until an answer is 2xx, retrying a 429 or 5xx as described above, and
    /// returns that answer. `observe` sees every answer (rate-limit headers, say). An answer
    /// that is not retried becomes `refuse(answer)`; a request that got no answer, the
    /// transport error prefixed with `context` (who asks for what).
    pub fn send(
        &self,
        request: &Request,
        context: &dyn Display,
        mut observe: impl FnMut(&Response),
        refuse: impl Fn(&Response) -> ProviderError,
    ) -> Result<Response, ProviderError> {
        let mut backoff = self.first_backoff_ms;
        let mut attempt = 0;
        loop {
            let response = request
                .clone()
                .send()
                .map_err(|e| ProviderError::from(e).context(context))?;
            observe(&response);
            if (200..300).contains(&response.status) {
                return Ok(response);
            }
            let wait = response.retry_after_ms().unwrap_or(backoff);
            if !is_retryable(response.status) || attempt == self.retries || wait > self.max_wait_ms
            {
                return Err(refuse(&response));
            }
            log::debug(
                "throttled or failed; retrying",
                &[
                    ("request", &context.to_string()),
                    ("status", &response.status.to_string()),
                    ("wait_ms", &wait.to_string()),
                ],
            );
            std::thread::sleep(Duration::from_millis(wait));
            attempt += 1;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// 429 (throttled) and 5xx (the server failed): worth asking again.
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 500..=599)
}

/// The usual reading of a refused answer, with `message` (who asked what, and what the
/// server said):
/// - 401 and 403: `unauthorized`, a refused credential or a missing permission, which the
///   operator fixes;
/// - 429 and 5xx: `unavailable`, after the server's `Retry-After`, or `throttled_wait_ms`
///   for a 429 without one (when the API's quota refills);
/// - 400 and 404: `bad-config`, an id in the settings that the API does not know;
/// - anything else: `other`.
pub fn refused(response: &Response, message: String, throttled_wait_ms: u64) -> ProviderError {
    match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        status if is_retryable(status) => ProviderError::Unavailable(UnavailableError {
            message,
            retry_after_ms: response
                .retry_after_ms()
                .or((status == 429).then_some(throttled_wait_ms)),
        }),
        400 | 404 => ProviderError::BadConfig(message),
        _ => ProviderError::Other(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Response {
        Response {
            status,
            headers: retry_after
                .map(|v| ("retry-after".to_owned(), v.to_owned()))
                .into_iter()
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn a_refused_answer_reads_as_the_error_the_host_acts_on() {
        let read = |status, retry_after| refused(&answer(status, retry_after), "m".into(), 60_000);
        assert_eq!(read(401, None), ProviderError::Unauthorized("m".into()));
        assert_eq!(read(403, None), ProviderError::Unauthorized("m".into()));
        assert_eq!(read(400, None), ProviderError::BadConfig("m".into()));
        assert_eq!(read(404, None), ProviderError::BadConfig("m".into()));
        assert_eq!(read(409, None), ProviderError::Other("m".into()));
        let unavailable = |retry_after_ms| {
            ProviderError::Unavailable(UnavailableError {
                message: "m".into(),
                retry_after_ms,
            })
        };
        assert_eq!(read(429, None), unavailable(Some(60_000)));
        assert_eq!(read(429, Some("30")), unavailable(Some(30_000)));
        assert_eq!(read(503, None), unavailable(None));
        assert_eq!(read(500, Some("2")), unavailable(Some(2_000)));
    }
}
