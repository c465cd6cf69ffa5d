//! The kubernetes discovery plugin against a loopback API server answering with recorded
//! `NodeList` pages and `Status` errors shaped like the real API server's.

use std::path::Path;
use std::sync::{Arc, Mutex};

use carbonaut_model::{Account, Project, ProviderError, ResourceKind};
use carbonaut_plugins::{Plugin, load_file};
use carbonaut_runtime::Grants;

use crate::fake_api::{Reply, Seen, Upstream, reply};
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
    upstream: Upstream,
    mode: Arc<Mutex<Mode>>,
}

impl ApiServer {
    fn start() -> ApiServer {
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let shared = mode.clone();
        let upstream = Upstream::start(move |seen| answer(&mut shared.lock().expect("lock"), seen));
        ApiServer { upstream, mode }
    }

    fn origin(&self) -> String {
        self.upstream.origin()
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    fn requests(&self) -> Vec<Seen> {
        self.upstream.take()
    }
}

/// What the API server answers to `seen` in `mode`.
fn answer(mode: &mut Mode, seen: &Seen) -> Reply {
    if seen.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return reply(401, fixture("status-401.json"));
    }
    let continued = seen.query.get("continue").map(String::as_str);
    match *mode {
        Mode::TooMany => reply(429, fixture("status-429.json")).header("retry-after", "7"),
        Mode::Broken => reply(500, "internal error".to_owned()),
        Mode::Malformed => reply(
            200,
            r#"{"kind":"NodeList","items":[{"spec":{}}]}"#.to_owned(),
        ),
        Mode::ExpireOnce if continued.is_some() => {
            *mode = Mode::Normal;
            reply(410, fixture("status-410.json"))
        }
        _ if seen.path != "/api/v1/nodes" => reply(404, "{}".to_owned()),
        _ if continued == Some(CONTINUE_ENCODED) => reply(200, fixture("nodes-page-2.json")),
        _ => reply(200, fixture("nodes-page-1.json")),
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

    async fn projects(&self, token: &str) -> Result<Vec<Project>, carbonaut_plugins::CallError> {
        self.plugin
            .list_projects(&self.grants, &vec![], &self.account(token))
            .await
            .map(carbonaut_plugins::Checked::into_items)
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
    let queries: Vec<Vec<(&str, &str)>> = requests
        .iter()
        .map(|r| {
            assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                ("GET", "/api/v1/nodes")
            );
            assert_eq!(
                r.header("authorization"),
                Some(format!("Bearer {TOKEN}").as_str())
            );
            r.query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    assert_eq!(
        queries,
        [
            vec![("limit", "2")],
            vec![("continue", CONTINUE_ENCODED), ("limit", "2")]
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
    let continued: Vec<bool> = s
        .server
        .requests()
        .iter()
        .map(|r| r.query.contains_key("continue"))
        .collect();
    // Page 1, page 2 refused as expired, then the listing again from page 1.
    assert_eq!(continued, [false, true, false, true]);
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
    use carbonaut_runtime::tls_roots::TlsRoots;
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
        error
            .to_string()
            .ends_with("empty.pem holds no PEM certificate"),
        "{error}"
    );
}
