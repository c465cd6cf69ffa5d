//! The kubernetes discovery plugin against a loopback API server answering with recorded
//! `NodeList` pages and `Status` errors shaped like the real API server's.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use carbonaut::plugins::{Plugin, load_file};
use carbonaut::runtime::Grants;
use carbonaut::runtime::bindings::{Account, Project, ProviderError, ResourceKind};

use crate::support::*;

const KUBERNETES: &str = env!("CARBONAUT_GUEST_KUBERNETES");
const TOKEN: &str = "test-token";
/// The `continue` token of page 1, as the server sends it and as it must come back encoded.
const CONTINUE: &str =
    "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjgzMTEsInN0YXJ0IjoiZ2tlLXBvb2wtYS0yIn0+/=";
const CONTINUE_ENCODED: &str =
    "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjgzMTEsInN0YXJ0IjoiZ2tlLXBvb2wtYS0yIn0%2B%2F%3D";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubernetes")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the fake API server does next.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Normal,
    TooMany,
    Broken,
    Malformed,
    /// Answers the next `continue` request with 410 Gone, then behaves.
    ExpireOnce,
}

struct ApiServer {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    /// Request line and `authorization` header of each request.
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl ApiServer {
    fn start() -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (m, s) = (mode.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization: ") {
                        auth = v.trim().to_owned();
                    }
                }
                s.lock()
                    .expect("lock")
                    .push((request_line.trim().to_owned(), auth.clone()));
                let mut mode = m.lock().expect("lock");
                let target = request_line.split_whitespace().nth(1).unwrap_or_default();
                let (status, extra, body) = if auth != format!("bearer {TOKEN}") {
                    (401, "", fixture("status-401.json"))
                } else {
                    match *mode {
                        Mode::TooMany => (429, "retry-after: 7\r\n", fixture("status-429.json")),
                        Mode::Broken => (500, "", "internal error".to_owned()),
                        Mode::Malformed => (
                            200,
                            "",
                            "{\"kind\":\"NodeList\",\"items\":[{\"spec\":{}}]}".to_owned(),
                        ),
                        Mode::ExpireOnce if target.contains("continue=") => {
                            *mode = Mode::Normal;
                            (410, "", fixture("status-410.json"))
                        }
                        _ if target.contains(&format!("continue={CONTINUE_ENCODED}")) => {
                            (200, "", fixture("nodes-page-2.json"))
                        }
                        _ if target.starts_with("/api/v1/nodes?limit=") => {
                            (200, "", fixture("nodes-page-1.json"))
                        }
                        _ => (404, "", "{}".to_owned()),
                    }
                };
                drop(mode);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        ApiServer { port, mode, seen }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    fn requests(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

struct Setup {
    server: ApiServer,
    plugin: Plugin,
    grants: Grants,
}

async fn setup() -> Setup {
    let server = ApiServer::start();
    let plugin = load_file(&runtime(), KUBERNETES.as_ref())
        .await
        .expect("loads");
    let grants = Grants {
        http: vec![server.origin().parse().expect("origin")],
        ..Grants::NONE
    };
    Setup {
        server,
        plugin,
        grants,
    }
}

impl Setup {
    fn account(&self, token: &str) -> Account {
        Account {
            name: "cluster".into(),
            settings: settings(&[
                ("api_server", &self.server.origin()),
                ("token", token),
                ("page_size", "2"),
            ]),
        }
    }

    async fn projects(&self, token: &str) -> Result<Vec<Project>, carbonaut::plugins::CallError> {
        self.plugin
            .list_projects(&self.grants, &vec![], &self.account(token))
            .await
    }
}

fn project(id: &str) -> Project {
    Project {
        id: id.into(),
        name: id.into(),
        labels: vec![],
    }
}

#[tokio::test]
async fn nodes_are_listed_page_by_page_and_grouped_by_pool() {
    let s = setup().await;
    let projects = s.projects(TOKEN).await.expect("projects");
    assert_eq!(
        projects.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["default", "pool-a"]
    );
    let requests = s.server.requests();
    // The token of page 1 goes back percent-encoded (`+`, `/` and `=` are not URL-safe).
    assert!(fixture("nodes-page-1.json").contains(&format!("\"continue\": \"{CONTINUE}\"")));
    assert_eq!(
        requests,
        [
            (
                "GET /api/v1/nodes?limit=2 HTTP/1.1".to_owned(),
                format!("bearer {TOKEN}")
            ),
            (
                format!("GET /api/v1/nodes?limit=2&continue={CONTINUE_ENCODED} HTTP/1.1"),
                format!("bearer {TOKEN}")
            ),
        ]
    );

    let pool = s
        .plugin
        .list_resources(&s.grants, &vec![], &s.account(TOKEN), &project("pool-a"))
        .await
        .expect("pool-a");
    assert_eq!(pool.len(), 2);
    let a1 = &pool[0];
    assert_eq!(
        (a1.id.as_str(), a1.kind),
        ("gke-pool-a-1", ResourceKind::Vm)
    );
    assert_eq!(a1.location.region.as_deref(), Some("europe-west3"));
    assert_eq!(a1.location.zone.as_deref(), Some("europe-west3-a"));
    assert_eq!(a1.hardware.vcpus, Some(4));
    // 16393244 Ki = 16393244 × 1024 bytes.
    assert_eq!(a1.hardware.memory_bytes, Some(16_786_681_856));
    assert!(
        a1.labels
            .contains(&("instance_type".into(), "e2-standard-4".into()))
    );
    // The deprecated beta labels still place a node; 7500m is 7.5 CPUs, rounded up to 8.
    let a2 = &pool[1];
    assert_eq!(a2.location.zone.as_deref(), Some("europe-west3-b"));
    assert_eq!(a2.hardware.vcpus, Some(8));
    assert_eq!(a2.hardware.memory_bytes, Some(32 << 30));
    assert!(
        a2.labels
            .contains(&("instance_type".into(), "e2-standard-8".into()))
    );

    let rack = s
        .plugin
        .list_resources(&s.grants, &vec![], &s.account(TOKEN), &project("default"))
        .await
        .expect("default pool");
    assert_eq!(rack.len(), 1);
    assert_eq!(
        rack[0].kind,
        ResourceKind::Host,
        "no providerID: not a cloud VM"
    );
    assert_eq!(rack[0].hardware.vcpus, Some(64));
    // 256G is decimal: 256 × 10^9 bytes.
    assert_eq!(rack[0].hardware.memory_bytes, Some(256_000_000_000));
    assert_eq!(rack[0].location.region, None);
}

#[tokio::test]
async fn api_errors_become_the_errors_the_host_acts_on() {
    let s = setup().await;
    let err = s.projects("wrong").await.expect_err("401");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m)) if m.contains("401 Unauthorized: Unauthorized")),
        "{err}"
    );

    s.server.set(Mode::TooMany);
    let err = s.projects(TOKEN).await.expect_err("429");
    match err.provider_error() {
        Some(ProviderError::Unavailable(u)) => {
            assert_eq!(u.retry_after_ms, Some(7000));
            assert!(u.message.contains("Too many requests"), "{}", u.message);
        }
        other => panic!("{other:?}"),
    }

    s.server.set(Mode::Broken);
    let err = s.projects(TOKEN).await.expect_err("500");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unavailable(u)) if u.message.contains("answered 500") && u.retry_after_ms.is_none()),
        "{err}"
    );

    s.server.set(Mode::Malformed);
    let err = s.projects(TOKEN).await.expect_err("malformed");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Other(m)) if m.contains("not a NodeList") && m.contains("metadata")),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_listing_once() {
    let s = setup().await;
    s.server.set(Mode::ExpireOnce);
    let projects = s.projects(TOKEN).await.expect("recovers");
    assert_eq!(projects.len(), 2);
    let targets: Vec<String> = s
        .server
        .requests()
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    assert_eq!(targets.len(), 4, "{targets:?}");
    assert!(
        targets[0].contains("limit=2 ") && targets[2].contains("limit=2 "),
        "{targets:?}"
    );
}

#[tokio::test]
async fn a_server_outside_the_allowlist_is_refused() {
    let s = setup().await;
    let err = s
        .plugin
        .list_projects(&Grants::NONE, &vec![], &s.account(TOKEN))
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), "denied");
    assert!(s.server.requests().is_empty());
}

/// An API server on HTTPS with a self-signed certificate, as a self-managed cluster's is;
/// returns its origin and the PEM of its certificate (the cluster's CA).
async fn https_api_server() -> (String, String) {
    use axum::routing::get;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        cert.cert.pem().into_bytes(),
        cert.key_pair.serialize_pem().into_bytes(),
    )
    .await
    .expect("tls config");
    let app = axum::Router::new().route(
        "/api/v1/nodes",
        get(|| async { fixture("nodes-page-2.json") }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum_server::from_tcp_rustls(listener, config)
            .serve(app.into_make_service())
            .await;
    });
    (format!("https://localhost:{port}"), cert.cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_when_the_operator_names_it() {
    use carbonaut::runtime::tls_roots::TlsRoots;
    let (origin, ca) = https_api_server().await;
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("ca.pem"), &ca).expect("write");
    let plugin = load_file(&runtime(), KUBERNETES.as_ref())
        .await
        .expect("loads");
    let account = Account {
        name: "cluster".into(),
        settings: settings(&[("api_server", &origin)]),
    };
    let mut grants = Grants {
        http: vec![origin.parse().expect("origin")],
        ..Grants::NONE
    };
    // The public roots do not know this CA: the TLS handshake fails, as it should.
    let err = plugin
        .list_projects(&grants, &vec![], &account)
        .await
        .expect_err("untrusted certificate");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unavailable(u)) if u.message.contains("Tls")),
        "{err}"
    );
    grants.tls_roots = Some(TlsRoots::load(&dir.path().join("ca.pem")).expect("bundle"));
    let projects = plugin
        .list_projects(&grants, &vec![], &account)
        .await
        .expect("trusted through the operator's CA");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].id, "default");

    // A file without certificates is refused when the config is read, naming it.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").expect("write");
    let error = TlsRoots::load(&dir.path().join("empty.pem")).expect_err("no certificate");
    assert!(
        error.ends_with("empty.pem holds no PEM certificate"),
        "{error}"
    );
}
