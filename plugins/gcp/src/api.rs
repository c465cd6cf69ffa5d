//! One request to a Google API: the bearer token, a short retry with backoff when the API
//! throttles or stumbles, Google's error body (`{"error": {"code", "message", "status"}}`)
//! turned into the provider error the host acts on, each naming the account, the project and
//! the API action; and the count of requests a call made.

use std::cell::Cell;
use std::time::Duration;

use carbonaut_sdk::http::{Request, Response};
use carbonaut_sdk::{ProviderError, UnavailableError, log};
use serde::Deserialize;

/// Retries after a throttled (429) or failed (5xx) answer, within one call: the host's call
/// deadline (10 s by default) leaves room for a few short waits, not for a long one.
const RETRIES: u32 = 2;
/// The first wait; each retry doubles it.
const FIRST_BACKOFF_MS: u64 = 250;
/// A `Retry-After` longer than this is handed to the host rather than waited out in the call.
const MAX_WAIT_MS: u64 = 2_000;

thread_local! {
    /// Requests made during this call (each call is a fresh instance, so this starts at 0).
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

/// Requests made so far in this call.
pub fn calls() -> u32 {
    CALLS.with(Cell::get)
}

/// Who asks and about what, for error messages: `account `a` (sa@…), project `p`,
/// compute.instances.aggregatedList`.
pub struct Action<'a> {
    pub who: &'a str,
    pub project: &'a str,
    pub action: &'a str,
}

impl std::fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, project `{}`, {}",
            self.who, self.project, self.action
        )
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

/// GETs `url` with the bearer `token` and parses the JSON answer as `T`.
pub fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
    token: &str,
    action: &Action<'_>,
) -> Result<T, ProviderError> {
    let request = Request::get(url)
        .header("accept", "application/json")
        .header("authorization", &format!("Bearer {token}"));
    let response = send(request, action)?;
    serde_json::from_slice(&response.body).map_err(|e| {
        ProviderError::Other(format!(
            "{action}: the answer does not read as expected: {e}"
        ))
    })
}

/// Sends `request`, retrying a throttled or failed answer up to [`RETRIES`] times with a
/// doubling wait (or the server's `Retry-After`, when short), and returns a 2xx answer.
pub fn send(request: Request, action: &Action<'_>) -> Result<Response, ProviderError> {
    let mut backoff = FIRST_BACKOFF_MS;
    let mut attempt = 0;
    loop {
        CALLS.with(|c| c.set(c.get() + 1));
        let response = request
            .clone()
            .send()
            .map_err(|e| with_action(ProviderError::from(e), action))?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let error = error_for(&response, action);
        let retryable = matches!(response.status, 429 | 500..=599);
        let wait = response.retry_after_ms().unwrap_or(backoff);
        if !retryable || attempt == RETRIES || wait > MAX_WAIT_MS {
            return Err(error);
        }
        log::debug(
            "throttled or failed; retrying",
            &[
                ("action", action.action),
                ("status", &response.status.to_string()),
                ("wait_ms", &wait.to_string()),
            ],
        );
        std::thread::sleep(Duration::from_millis(wait));
        attempt += 1;
        backoff *= 2;
    }
}

/// A non-2xx answer as the error the host acts on: 401 a refused credential, 403 a missing
/// permission (also `unauthorized`: the operator grants it), 429 and 5xx pass, the rest is
/// reported with Google's own status and message.
pub fn error_for(response: &Response, action: &Action<'_>) -> ProviderError {
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let message = match body {
        Some(b) => format!(
            "{action}: answered {} {}: {}",
            response.status, b.error.status, b.error.message
        ),
        None => format!(
            "{action}: answered {}: {}",
            response.status,
            response.excerpt()
        ),
    };
    match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        429 | 500..=599 => ProviderError::Unavailable(UnavailableError {
            message,
            // Throttled without a hint: a minute is when Google's per-minute quotas refill.
            retry_after_ms: response
                .retry_after_ms()
                .or((response.status == 429).then_some(60_000)),
        }),
        400 | 404 => ProviderError::BadConfig(message),
        _ => ProviderError::Other(message),
    }
}

/// Prefixes a transport error's message with who asked for what.
pub fn with_action(error: ProviderError, action: &Action<'_>) -> ProviderError {
    match error {
        ProviderError::BadConfig(m) => ProviderError::BadConfig(format!("{action}: {m}")),
        ProviderError::Unauthorized(m) => ProviderError::Unauthorized(format!("{action}: {m}")),
        ProviderError::Unavailable(u) => ProviderError::Unavailable(UnavailableError {
            message: format!("{action}: {}", u.message),
            retry_after_ms: u.retry_after_ms,
        }),
        ProviderError::Other(m) => ProviderError::Other(format!("{action}: {m}")),
    }
}
