//! Who may talk to carbonaut, against the real binary: client certificates (mutual TLS) and
//! JWTs, each against the role a route group needs; the caller named in the reload history;
//! a real Prometheus scraping over mutual TLS; the shipped example; no input a caller controls
//! can forge a log record.

use std::path::Path;

use crate::reload::{ADMIN_TOKEN, ONE_ACCOUNT, Site};
use crate::support::Daemon;

mod example;
mod jwt;
mod log_forging;
mod mtls;
mod openapi;
pub mod pki;
mod prometheus;

/// A [`Site`] whose config starts with `server` (before `[paths]`) and ends with `tail`
/// (after the two static tokens `ops`/admin and `dashboards`/read and one account).
fn site_with(server: &str, tail: &str) -> Site {
    let site = Site::new(&format!("{ONE_ACCOUNT}\n{tail}"));
    let text = std::fs::read_to_string(site.config()).expect("read");
    std::fs::write(site.config(), format!("{server}\n{text}")).expect("write");
    site
}

/// `https://localhost:PORT{path}` of a daemon serving TLS.
fn https(daemon: &Daemon, path: &str) -> String {
    format!("https://localhost:{}{path}", daemon.addr.port())
}

/// A client trusting `server_ca`, presenting `identity` if given.
fn client(server_ca: &str, identity: Option<reqwest::Identity>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(server_ca.as_bytes()).expect("CA"));
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().expect("client")
}

/// The status of `method path`, or `None` when the TLS handshake (or connection) failed.
fn status(
    client: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
) -> Option<u16> {
    let mut request = client.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().ok().map(|r| r.status().as_u16())
}

/// The newest reload record, read with the static admin token.
fn last_reload(client: &reqwest::blocking::Client, url: &str) -> serde_json::Value {
    client
        .get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .expect("request")
        .json::<serde_json::Value>()
        .expect("JSON")[0]
        .clone()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}
