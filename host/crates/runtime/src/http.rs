//! Outgoing HTTP for plugins: origins an operator may allow, and the `wasi:http` hook that
//! sends a request only when its origin is on the provider instance's allowlist. A refused
//! request fails inside the plugin with `HTTP-request-denied` and is logged with the plugin
//! and the origin it tried.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

/// `https` or `http`; nothing else leaves the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpScheme {
    Http,
    Https,
}

impl HttpScheme {
    fn default_port(self) -> u16 {
        match self {
            HttpScheme::Http => 80,
            HttpScheme::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            HttpScheme::Http => "http",
            HttpScheme::Https => "https",
        }
    }
}

/// `scheme://host[:port]`, where the host may start with `*.` to match any subdomain (not the
/// domain itself). Written by operators in `allow_http` and by plugins in their needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpOrigin {
    scheme: HttpScheme,
    /// Lower case; `*.example.com` for a wildcard.
    host: String,
    port: u16,
}

/// Why an origin did not parse, in words for the config or metadata message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an origin: {reason}; write it like `https://api.example.com` or `http://127.0.0.1:9090`"
)]
pub struct OriginError {
    text: String,
    reason: &'static str,
}

impl FromStr for HttpOrigin {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, OriginError> {
        let fail = |reason| OriginError {
            text: text.to_owned(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail("it has no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => HttpScheme::Https,
            "http" => HttpScheme::Http,
            _ => return Err(fail("the scheme must be http or https")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(fail("an origin has no path, query or credentials"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal without a port ends in `]`.
            Some((host, port)) if !port.ends_with(']') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| fail("the port is not a number from 1 to 65535"))?,
            ),
            _ => (rest, scheme.default_port()),
        };
        let bare = host.strip_prefix("*.").unwrap_or(host);
        let valid = !bare.is_empty()
            && !bare.contains('*')
            && bare
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
        if !valid || port == 0 {
            return Err(fail(
                "the host is empty or has characters a host name cannot have",
            ));
        }
        Ok(HttpOrigin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for HttpOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl serde::Serialize for HttpOrigin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl HttpOrigin {
    /// Whether a request to `scheme://host:port` falls under this origin.
    pub fn allows(&self, scheme: HttpScheme, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.port == port && host_covers(&self.host, host)
    }

    /// Whether everything `other` allows, this allows too.
    pub fn covers(&self, other: &HttpOrigin) -> bool {
        self.scheme == other.scheme
            && self.port == other.port
            && host_covers(&self.host, &other.host)
    }
}

fn host_covers(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix('*') {
        // `*.example.com` covers `a.example.com` and `*.a.example.com`, not `example.com`.
        Some(suffix) => host.ends_with(suffix) && host.len() > suffix.len(),
        None => pattern == host,
    }
}

/// An HTTP need a plugin declares: an origin, or `*` for whatever the operator allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpNeed {
    Any,
    Origin(HttpOrigin),
}

impl FromStr for HttpNeed {
    type Err = OriginError;

    fn from_str(text: &str) -> Result<Self, OriginError> {
        match text.trim() {
            "*" => Ok(HttpNeed::Any),
            origin => origin.parse().map(HttpNeed::Origin),
        }
    }
}

impl fmt::Display for HttpNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpNeed::Any => f.write_str("*"),
            HttpNeed::Origin(o) => o.fmt(f),
        }
    }
}

/// The origins of `allowed` (the operator's) that some need in `needs` (the plugin's) covers.
pub fn grant_http(allowed: &[HttpOrigin], needs: &[HttpNeed]) -> Vec<HttpOrigin> {
    allowed
        .iter()
        .filter(|origin| {
            needs.iter().any(|need| match need {
                HttpNeed::Any => true,
                HttpNeed::Origin(asked) => asked.covers(origin),
            })
        })
        .cloned()
        .collect()
}

/// The `wasi:http` hooks of one call: sends a request only to an allowed origin, and
/// remembers what it refused so the call's failure can say why.
pub struct HttpPolicy {
    plugin: Arc<str>,
    allowed: Arc<[HttpOrigin]>,
    /// The operator's CA bundle for this provider, if any.
    tls: Option<Arc<rustls::ClientConfig>>,
    refused: Vec<String>,
    /// A refused origin is the guest's text: scrubbed before it is logged or kept.
    secrets: carbonaut_model::text::Secrets,
}

impl HttpPolicy {
    pub fn new(
        plugin: Arc<str>,
        allowed: Arc<[HttpOrigin]>,
        tls_roots: Option<&super::tls_roots::TlsRoots>,
        secrets: carbonaut_model::text::Secrets,
    ) -> Self {
        HttpPolicy {
            plugin,
            allowed,
            tls: tls_roots.map(|r| r.config()),
            refused: Vec::new(),
            secrets,
        }
    }

    /// Origins refused during this call (at most a few are kept).
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    fn permits(&mut self, uri: &http::Uri) -> bool {
        let scheme = match uri.scheme_str() {
            Some("http") => HttpScheme::Http,
            // The hooks' default scheme when the guest sets none.
            Some("https") | None => HttpScheme::Https,
            Some(_) => return false,
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(scheme.default_port());
        if self.allowed.iter().any(|o| o.allows(scheme, host, port)) {
            return true;
        }
        let origin = self
            .secrets
            .scrub_owned(format!("{}://{host}:{port}", scheme.as_str()));
        tracing::warn!(
            plugin = &*self.plugin,
            origin = %origin,
            "refused an outgoing HTTP request: the origin is not on the provider's allowlist"
        );
        if self.refused.len() < 8 {
            self.refused.push(origin);
        }
        false
    }
}

type ResponseIo = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<wasmtime_wasi_http::WasiBody>, ResponseIo), HttpError>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: ResponseIo,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        if !self.permits(request.uri()) {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if let Some(tls) = &self.tls
            && request.uri().scheme() == Some(&http::uri::Scheme::HTTPS)
        {
            return Box::new(super::tls_roots::send(request, options, tls.clone()));
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(|body| body.boxed_unsync()),
                Box::new(io) as ResponseIo,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> HttpOrigin {
        s.parse().expect("origin")
    }

    #[test]
    fn origins_parse_with_default_ports_and_refuse_paths() {
        assert_eq!(
            origin("https://API.example.com").to_string(),
            "https://api.example.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:9090/").to_string(),
            "http://127.0.0.1:9090"
        );
        assert_eq!(origin("http://example.com:443").port, 443);
        for bad in [
            "example.com",
            "ftp://x",
            "https://x/path",
            "https://u@x",
            "https://x:0",
            "https://",
            "https://a*b",
        ] {
            assert!(bad.parse::<HttpOrigin>().is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_cover_subdomains_only() {
        let any_sub = origin("https://*.example.com");
        assert!(any_sub.allows(HttpScheme::Https, "api.example.com", 443));
        assert!(!any_sub.allows(HttpScheme::Https, "example.com", 443));
        assert!(!any_sub.allows(HttpScheme::Https, "evilexample.com", 443));
        assert!(!any_sub.allows(HttpScheme::Http, "api.example.com", 80));
        assert!(!any_sub.allows(HttpScheme::Https, "api.example.com", 8443));
    }

    #[test]
    fn the_grant_is_the_intersection_of_config_and_needs() {
        let allowed = [
            origin("https://api.example.com"),
            origin("http://127.0.0.1:9090"),
        ];
        let needs = [HttpNeed::Origin(origin("https://*.example.com"))];
        assert_eq!(grant_http(&allowed, &needs), vec![allowed[0].clone()]);
        assert_eq!(grant_http(&allowed, &[HttpNeed::Any]), allowed.to_vec());
        assert!(grant_http(&allowed, &[]).is_empty());
    }

    #[test]
    fn requests_outside_the_allowlist_are_refused_and_remembered() {
        let mut policy = HttpPolicy::new(
            Arc::from("p"),
            Arc::from(vec![origin("http://127.0.0.1:9090")]),
            None,
            carbonaut_model::text::Secrets::new(["hunter2"]),
        );
        assert!(policy.permits(&"http://127.0.0.1:9090/api".parse().expect("uri")));
        assert!(!policy.permits(&"http://127.0.0.1:9091/api".parse().expect("uri")));
        assert!(!policy.permits(&"https://127.0.0.1:9090/api".parse().expect("uri")));
        // An origin is the guest's text: a secret in it is kept and logged scrubbed.
        assert!(!policy.permits(&"https://hunter2.example:443/".parse().expect("uri")));
        assert_eq!(
            policy.refused(),
            [
                "http://127.0.0.1:9091",
                "https://127.0.0.1:9090",
                "https://***.example:443"
            ]
        );
    }
}
