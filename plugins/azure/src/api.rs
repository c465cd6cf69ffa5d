//! One request to Azure Resource Manager: the bearer token, a short retry with backoff when
//! it throttles (429 with `Retry-After`) or stumbles (5xx), ARM's error body
//! (`{"error": {"code", "message"}}`) turned into the provider error the host acts on, each
//! naming the account, the subscription and the API action; the count of requests a call
//! made; and the `x-ms-ratelimit-remaining-*` headers logged at debug.

use carbonaut_sdk::http::retry::{Retry, refused};
use carbonaut_sdk::http::{Request, Response};
use carbonaut_sdk::{ProviderError, log};
use serde::Deserialize;

/// Throttled without a hint: ARM's token buckets refill within a minute.
const THROTTLED_WAIT_MS: u64 = 60_000;
/// A listing that keeps going is a server bug: 1 000 pages of VMs are far beyond a
/// subscription's quota.
pub const MAX_PAGES: u32 = 1_000;

/// Requests made so far in this call.
pub fn calls() -> u32 {
    carbonaut_sdk::http::requests_sent()
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

/// Sends `request`, retrying a throttled or failed answer a few times within the call (see
/// [`Retry`]), and returns a 2xx answer.
pub fn send(request: Request, action: &Action<'_>) -> Result<Response, ProviderError> {
    Retry::default().send(
        &request,
        action,
        |r| log_remaining(r, action),
        |r| error_for(r, action),
    )
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

/// A non-2xx answer as the error the host acts on (see [`refused`]; a 400 or 404 is an
/// unknown subscription in the settings), with ARM's code and message.
pub fn error_for(response: &Response, action: &Action<'_>) -> ProviderError {
    let said = if let Ok(b) = serde_json::from_slice::<ErrorBody>(&response.body) {
        format!("{}: {}", b.error.code, b.error.message)
    } else if let Ok(t) = serde_json::from_slice::<TokenError>(&response.body) {
        format!("{}: {}", t.error, t.error_description)
    } else {
        response.excerpt()
    };
    let message = format!("{action}: answered {} {said}", response.status);
    refused(response, message, THROTTLED_WAIT_MS)
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
