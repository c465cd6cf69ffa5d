//! One request to Azure Resource Manager: the bearer token, a short retry with backoff when
//! it throttles (429 with `Retry-After`) or stumbles (5xx), ARM's error body
//! (`{"error": {"code", "message"}}`) turned into the provider error the host acts on, each
//! naming the account, the subscription and the API action; the count of requests a call
//! made; and the `x-ms-ratelimit-remaining-*` headers logged at debug.

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
/// A listing that keeps going is a server bug: 1 000 pages of VMs are far beyond a
/// subscription's quota.
pub const MAX_PAGES: u32 = 1_000;

thread_local! {
    /// Requests made during this call (each call is a fresh instance, so this starts at 0).
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

/// Requests made so far in this call.
pub fn calls() -> u32 {
    CALLS.with(Cell::get)
}

/// Who asks and about what, for error messages: `account `a` (client …), subscription `s`,
/// Microsoft.Compute/virtualMachines/read`.
pub struct Action<'a> {
    pub who: &'a str,
    pub subscription: &'a str,
    pub action: &'a str,
}

impl std::fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, subscription `{}`, {}",
            self.who, self.subscription, self.action
        )
    }
}

/// ARM's error body; Entra ID's token endpoint answers `{"error": "...",
/// "error_description": "..."}` instead, read by the same fallback.
#[derive(Deserialize)]
struct ErrorBody {
    error: ArmError,
}

#[derive(Deserialize)]
struct ArmError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: String,
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
        log_remaining(&response, action);
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

/// ARM reports what is left of the subscription's and tenant's read budgets on every answer.
fn log_remaining(response: &Response, action: &Action<'_>) {
    let remaining: Vec<(&str, &str)> = response
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-ratelimit-remaining-"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !remaining.is_empty() {
        let mut fields = vec![("action", action.action)];
        fields.extend(remaining);
        log::debug("Azure rate-limit budget", &fields);
    }
}

/// A non-2xx answer as the error the host acts on: 401 a refused credential, 403 a missing
/// role assignment (also `unauthorized`: the operator grants it), 429 and 5xx pass, 400 and
/// 404 are the settings' (an unknown subscription), the rest is reported with ARM's code.
pub fn error_for(response: &Response, action: &Action<'_>) -> ProviderError {
    let said = if let Ok(b) = serde_json::from_slice::<ErrorBody>(&response.body) {
        format!("{}: {}", b.error.code, b.error.message)
    } else if let Ok(t) = serde_json::from_slice::<TokenError>(&response.body) {
        format!("{}: {}", t.error, t.error_description)
    } else {
        response.excerpt()
    };
    let message = format!("{action}: answered {} {said}", response.status);
    match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        429 | 500..=599 => ProviderError::Unavailable(UnavailableError {
            message,
            // Throttled without a hint: ARM's token buckets refill within a minute.
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

/// Every item of a paged ARM list (`value`, `nextLink`). A `nextLink` must stay on the
/// management endpoint: the token is never sent anywhere a page points to.
pub fn list_all<T: serde::de::DeserializeOwned>(
    first: String,
    base: &str,
    token: &str,
    action: &Action<'_>,
) -> Result<Vec<T>, ProviderError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page<T> {
        #[serde(default = "Vec::new")]
        value: Vec<T>,
        #[serde(default)]
        next_link: Option<String>,
    }
    let mut items = Vec::new();
    let mut url = first;
    for _ in 0..MAX_PAGES {
        let page: Page<T> = get_json(&url, token, action)?;
        items.extend(page.value);
        match page.next_link.filter(|l| !l.is_empty()) {
            None => return Ok(items),
            Some(next) if next.starts_with(&format!("{base}/")) && next != url => url = next,
            Some(next) => {
                return Err(ProviderError::Other(format!(
                    "{action}: nextLink `{next}` leaves {base} or repeats the page"
                )));
            }
        }
    }
    Err(ProviderError::Other(format!(
        "{action}: the listing did not end after {MAX_PAGES} pages"
    )))
}
