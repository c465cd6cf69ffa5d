//! One request to a Google API: the bearer token, a short retry with backoff when the API
//! throttles or stumbles, Google's error body (`{"error": {"code", "message", "status"}}`)
//! turned into the provider error the host acts on, each naming the account, the project and
//! the API action; and the count of requests a call made.

use carbonaut_sdk::ProviderError;
use carbonaut_sdk::http::retry::{Retry, refused};
use carbonaut_sdk::http::{Request, Response};
use serde::Deserialize;

/// Throttled without a hint: a minute is when Google's per-minute quotas refill.
const THROTTLED_WAIT_MS: u64 = 60_000;

/// Requests made so far in this call.
pub fn calls() -> u32 {
    carbonaut_sdk::http::requests_sent()
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

/// Sends `request`, retrying a throttled or failed answer a few times within the call (see
/// [`Retry`]), and returns a 2xx answer.
pub fn send(request: Request, action: &Action<'_>) -> Result<Response, ProviderError> {
    Retry::default().send(&request, action, |_| {}, |r| error_for(r, action))
}

/// A non-2xx answer as the error the host acts on (see [`refused`]), with Google's own
/// status and message.
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
    refused(response, message, THROTTLED_WAIT_MS)
}
