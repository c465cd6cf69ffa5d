//! A small blocking HTTP client over `wasi:http`, for plugins that call an API.
//!
//! The host sends a request only to origins the operator allowed for the provider instance
//! (`allow_http` in its config) and the plugin asked for
//! ([`Metadata::needs_http`](crate::Metadata::needs_http)); anything else fails with
//! [`HttpErrorKind::Denied`] without leaving the machine.
//!
//! ```no_run
//! # fn demo() -> Result<(), carbonaut_sdk::ProviderError> {
//! use carbonaut_sdk::http::Request;
//! let response = Request::get("https://api.example.com/v1/things?page=2")
//!     .header("accept", "application/json")
//!     .send()?;
//! if response.status == 200 {
//!     let text = response.text()?;
//! }
//! # Ok(()) }
//! ```

pub mod retry;

use std::cell::Cell;
use std::time::Duration;

use crate::bindings::wasi_http::wasi::http::outgoing_handler;
use crate::bindings::wasi_http::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::bindings::wasi_http::wasi::io::streams::StreamError;
use crate::{ProviderError, TimestampMs, UnavailableError, time};

/// Response bodies larger than this fail with [`HttpErrorKind::TooLarge`] unless
/// [`Request::max_body_bytes`] says otherwise: a plugin's memory is limited (128 MiB by
/// default) and an API page is rarely more than a few MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;

thread_local! {
    /// Requests sent during this call: the host gives each call a fresh instance, so this
    /// starts at 0.
    static SENT: Cell<u32> = const { Cell::new(0) };
}

/// Requests [`Request::send`] has handed to the host so far in this call (answered, refused
/// or not), for a plugin's log of what a call cost; a URL it could not read is not counted.
pub fn requests_sent() -> u32 {
    SENT.with(Cell::get)
}

/// An HTTP request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
    max_body_bytes: usize,
}

/// A response with its whole body read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The host refused the origin: it is not allowed for this provider instance.
    Denied,
    /// The URL could not be understood.
    InvalidUrl,
    /// The connection or the response took longer than the timeout.
    Timeout,
    /// The server could not be reached (DNS, refused connection, TLS).
    Connection,
    /// The response body is over the limit.
    TooLarge,
    /// Anything else the HTTP layer reported.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub kind: HttpErrorKind,
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for ProviderError {
    /// Denied and invalid URLs need the operator (a setting or the allowlist); the rest may
    /// pass, so the host retries them with backoff.
    fn from(error: HttpError) -> Self {
        match error.kind {
            HttpErrorKind::Denied | HttpErrorKind::InvalidUrl => {
                ProviderError::BadConfig(error.message)
            }
            HttpErrorKind::Timeout | HttpErrorKind::Connection => {
                ProviderError::Unavailable(UnavailableError {
                    message: error.message,
                    retry_after_ms: None,
                })
            }
            HttpErrorKind::TooLarge | HttpErrorKind::Other => ProviderError::Other(error.message),
        }
    }
}

fn error(kind: HttpErrorKind, message: impl Into<String>) -> HttpError {
    HttpError {
        kind,
        message: message.into(),
    }
}

impl Request {
    pub fn get(url: &str) -> Self {
        Self::new(Method::Get, url)
    }

    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut request = Self::new(Method::Post, url);
        request.body = body.into();
        request
    }

    fn new(method: Method, url: &str) -> Self {
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Duration::from_secs(5),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Connect and first-byte timeout (default 5 s). The host's call deadline still applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, HttpError> {
        let url = Url::parse(&self.url)?;
        let fields = Fields::new();
        for (name, value) in &self.headers {
            fields.append(name, value.as_bytes()).map_err(|e| {
                error(
                    HttpErrorKind::Other,
                    format!("header `{name}` refused: {e:?}"),
                )
            })?;
        }
        let request = OutgoingRequest::new(fields);
        let set = |ok: Result<(), ()>, what: &str| {
            ok.map_err(|()| {
                error(
                    HttpErrorKind::InvalidUrl,
                    format!("{what} of {} refused", self.url),
                )
            })
        };
        set(request.set_method(&self.method), "method")?;
        set(request.set_scheme(Some(&url.scheme)), "scheme")?;
        set(request.set_authority(Some(url.authority)), "host")?;
        set(
            request.set_path_with_query(Some(url.path_and_query)),
            "path",
        )?;
        let body = request
            .body()
            .map_err(|()| error(HttpErrorKind::Other, "the request body was already taken"))?;

        let options = RequestOptions::new();
        let nanos = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host may not support every timeout; the call deadline bounds the request anyway.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));

        SENT.with(|n| n.set(n.get().saturating_add(1)));
        let pending = outgoing_handler::handle(request, Some(options))
            .map_err(|code| from_code(&self.url, code))?;
        write_body(body, &self.body, &self.url)?;

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_code(&self.url, code)),
            Some(Err(())) | None => {
                return Err(error(
                    HttpErrorKind::Other,
                    format!("{}: no response", self.url),
                ));
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| error(HttpErrorKind::Other, "the response body was already taken"))?;
        let body = read_body(&incoming, self.max_body_bytes, &self.url)?;
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8], url: &str) -> Result<(), HttpError> {
    {
        let stream = body.write().map_err(|()| {
            error(
                HttpErrorKind::Other,
                "the request body stream was already taken",
            )
        })?;
        // `blocking-write-and-flush` takes at most 4096 bytes at a time.
        for chunk in bytes.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(|e| {
                error(
                    HttpErrorKind::Connection,
                    format!("{url}: sending the body failed: {e:?}"),
                )
            })?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| from_code(url, code))
}

fn read_body(incoming: &IncomingBody, max: usize, url: &str) -> Result<Vec<u8>, HttpError> {
    let stream = incoming.stream().map_err(|()| {
        error(
            HttpErrorKind::Other,
            "the response body stream was already taken",
        )
    })?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => {
                if body.len() + chunk.len() > max {
                    return Err(error(
                        HttpErrorKind::TooLarge,
                        format!("{url}: the response body is over {max} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(error(
                    HttpErrorKind::Connection,
                    format!(
                        "{url}: reading the response failed: {}",
                        e.to_debug_string()
                    ),
                ));
            }
        }
    }
}

fn from_code(url: &str, code: ErrorCode) -> HttpError {
    let kind = match &code {
        ErrorCode::HttpRequestDenied => {
            return error(
                HttpErrorKind::Denied,
                format!(
                    "the host refused the request to {url}: its origin must be both in the \
                     plugin's `needs.http` and in the provider's `allow_http` (the host's error \
                     for this call says which one lacks it)"
                ),
            );
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => HttpErrorKind::Timeout,
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => HttpErrorKind::Connection,
        ErrorCode::HttpRequestUriInvalid => HttpErrorKind::InvalidUrl,
        _ => HttpErrorKind::Other,
    };
    error(kind, format!("{url}: {code:?}"))
}

/// The parts of a URL `wasi:http` wants.
struct Url<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_and_query: &'a str,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Result<Self, HttpError> {
        let invalid = |why: &str| {
            error(
                HttpErrorKind::InvalidUrl,
                format!("`{url}` is not a URL: {why}"),
            )
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        let path = path.split('#').next().unwrap_or_default();
        Ok(Url {
            scheme,
            authority,
            path_and_query: if path.is_empty() { "/" } else { path },
        })
    }
}

/// Percent-encodes a query-string value (RFC 3986: everything but the unreserved characters),
/// for values that come from settings or from an API (zones, continue tokens, PromQL).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Response {
    /// The start of the body for an error message: enough to recognise it, never a page.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(200) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None if text.is_empty() => "(empty body)".to_owned(),
            None => text.to_owned(),
        }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8.
    pub fn text(&self) -> Result<&str, ProviderError> {
        std::str::from_utf8(&self.body)
            .map_err(|e| ProviderError::Other(format!("the response is not UTF-8: {e}")))
    }

    /// `Retry-After` in milliseconds: a number of seconds, or an HTTP date counted from the
    /// response's own `Date` (else this machine's clock), so that the server's clock and
    /// ours never mix. A date already past is 0.
    pub fn retry_after_ms(&self) -> Option<u64> {
        let value = self.header("retry-after")?.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(seconds.saturating_mul(1000));
        }
        let at = time::parse_http_date_ms(value).ok()?;
        let now = self.date_ms().unwrap_or_else(time::now_ms);
        Some(at.saturating_sub(now))
    }

    /// The server's clock: its `Date` header in milliseconds since the Unix epoch, when it
    /// is an HTTP date.
    pub fn date_ms(&self) -> Option<TimestampMs> {
        time::parse_http_date_ms(self.header("date")?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 503,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_counted_from_the_servers_clock() {
        assert_eq!(
            response(&[("retry-after", " 7 ")]).retry_after_ms(),
            Some(7000)
        );
        let dated = |retry: &str| {
            response(&[
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("retry-after", retry),
            ])
            .retry_after_ms()
        };
        assert_eq!(dated("Sun, 06 Nov 1994 08:50:07 GMT"), Some(30_000));
        assert_eq!(dated("Sun, 06 Nov 1994 08:00:00 GMT"), Some(0));
        assert_eq!(dated("soon"), None);
        assert_eq!(response(&[]).retry_after_ms(), None);
        assert_eq!(
            response(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT")]).date_ms(),
            Some(784_111_777_000)
        );
    }
}
