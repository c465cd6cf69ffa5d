//! One GET through the host's HTTP client, and what its status means for the host: retry
//! later (Unavailable), fix the settings (BadConfig), fix the credentials (Unauthorized).

use std::time::Duration;

use carbonaut_sdk::http::{HttpError, Request, Response};
use carbonaut_sdk::{ProviderError, UnavailableError};

/// Below the host's default 10 s call deadline, so a slow server fails as Unavailable with
/// its URL instead of as a deadline.
const TIMEOUT: Duration = Duration::from_secs(8);

/// A response with a 2xx status, or the error its status stands for. `what` names the request
/// in messages; `describe` turns an error body into the server's own message (Prometheus
/// answers errors in JSON).
pub fn get(
    url: &str,
    what: &str,
    accept: &str,
    bearer_token: Option<&str>,
    describe: impl Fn(&[u8]) -> Option<String>,
) -> Result<Response, ProviderError> {
    let mut request = Request::get(url).header("accept", accept).timeout(TIMEOUT);
    if let Some(token) = bearer_token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    // The query string is percent-encoded PromQL: `what` says it readably instead.
    let path = url.split('?').next().unwrap_or(url);
    let response = request.send().map_err(|e| HttpError {
        message: format!("{what}: {}", e.message.replace(url, path)),
        kind: e.kind,
    })?;
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let detail = describe(&response.body).unwrap_or_else(|| response.excerpt());
    let message = format!("{what}: {path} answered {status}: {detail}");
    Err(match status {
        400 | 422 => ProviderError::BadConfig(message),
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::BadConfig(format!(
            "{message} (check setting `url`: the server's base address in query mode, the \
             exporter's metrics endpoint in scrape mode)"
        )),
        429 | 500..=599 => ProviderError::Unavailable(UnavailableError {
            message,
            retry_after_ms: response.retry_after_ms(),
        }),
        _ => ProviderError::Other(message),
    })
}
