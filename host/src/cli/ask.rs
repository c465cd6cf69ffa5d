//! Asking a running daemon over plain HTTP, for the subcommands that read its API (`report
//! --url`, `best-window`): one GET with an optional bearer token, the body of a 2xx answer, the
//! daemon's own message otherwise.

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Empty};
use wasmtime_wasi_http::io::TokioIo;

/// `GET {url}{path}` (path with its query, values encoded with [`encode`]).
pub async fn get(url: &str, path: &str, token: Option<&str>) -> anyhow::Result<bytes::Bytes> {
    let base: http::Uri = url
        .parse()
        .with_context(|| format!("--url `{url}` is not a URL"))?;
    anyhow::ensure!(
        base.scheme_str() == Some("http"),
        "--url must be http://HOST:PORT; for a daemon serving HTTPS, query {path} with curl"
    );
    let authority = base
        .authority()
        .with_context(|| format!("--url `{url}` has no host"))?
        .clone();
    let tcp = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .with_context(|| format!("cannot connect to {authority}: is carbonaut running there?"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection);
    let mut request = http::Request::get(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::ACCEPT, "application/json");
    if let Some(t) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let response = sender
        .send_request(request.body(Empty::<bytes::Bytes>::new())?)
        .await
        .with_context(|| format!("GET {url}{path} failed"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        // carbonaut's errors are `{"error": "..."}`: the message alone reads better.
        let text = String::from_utf8_lossy(&body);
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.trim().to_owned());
        anyhow::bail!("{url} answered {status}: {message}");
    }
    Ok(body)
}

/// Percent-encodes a query value (an RFC 3339 offset has `+` and `:`).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
