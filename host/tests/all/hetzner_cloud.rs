//! The hetzner-cloud discovery plugin against a loopback API answering with pages and error
//! bodies shaped like the Hetzner Cloud API's documented ones.

use std::path::Path;
use std::sync::{Arc, Mutex};

use carbonaut_model::{Account, Project, ProviderError, ResourceInfo, ResourceKind};
use carbonaut_plugins::{CallError, Offered, Plugin, load_file};
use carbonaut_runtime::Grants;

use crate::fake_api::{Reply, Seen, Upstream, reply};
use crate::support::*;

const TOKEN: &str = "hcloud-test-token";
/// The `Date` of a rate-limited answer, and its `RateLimit-Reset` 37 s later
/// (`date -u -d '2026-11-23 15:00:00 UTC' +%s` is 1795446000).
const DATE: &str = "Mon, 23 Nov 2026 15:00:00 GMT";
const RESET: u64 = 1_795_446_000 + 37;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hetzner-cloud")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the fake API does next.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Normal,
    Forbidden,
    /// 429 with the `RateLimit-*` headers the API sends.
    RateLimited,
    /// 429 with a `Retry-After` too (a proxy in front of the API may add it).
    RetryAfter,
    Broken,
    Malformed,
    /// Page 1 with a server carrying 20 labels.
    ManyLabels,
}

struct HetznerApi {
    upstream: Upstream,
    mode: Arc<Mutex<Mode>>,
}

impl HetznerApi {
    fn start() -> HetznerApi {
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let shared = mode.clone();
        let upstream = Upstream::start(move |seen| answer(*shared.lock().expect("lock"), seen));
        HetznerApi { upstream, mode }
    }

    fn origin(&self) -> String {
        self.upstream.origin()
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    /// Request line and `authorization` header of each request since the last call.
    fn requests(&self) -> Vec<(String, String)> {
        self.upstream
            .take()
            .iter()
            .map(|r| {
                (
                    format!("{} {} HTTP/1.1", r.method, r.target()),
                    r.header("authorization").unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// What the API answers to `seen` in `mode`; every answer carries the `Date` the rate-limit
/// reset is counted from.
fn answer(mode: Mode, seen: &Seen) -> Reply {
    let reply = |status, body: String| reply(status, body).header("date", DATE);
    if seen.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return reply(401, fixture("error-401.json"));
    }
    let rate_limited = |r: Reply| {
        r.header("ratelimit-limit", "3600")
            .header("ratelimit-remaining", "0")
            .header("ratelimit-reset", RESET.to_string())
    };
    let target = seen.target();
    match mode {
        Mode::Forbidden => reply(403, fixture("error-403.json")),
        Mode::RateLimited => rate_limited(reply(429, fixture("error-429.json"))),
        Mode::RetryAfter => {
            rate_limited(reply(429, fixture("error-429.json"))).header("retry-after", "7")
        }
        Mode::Broken => reply(500, "internal server error".to_owned()),
        Mode::Malformed => reply(
            200,
            // A server without its `server_type`.
            r#"{"servers":[{"id":7,"name":"x","status":"running","labels":{}}],"meta":{"pagination":{"next_page":null}}}"#.to_owned(),
        ),
        _ if target == "/v1/servers?page=1&per_page=1" => {
            let mut page = fixture("servers-page-1.json");
            if mode == Mode::ManyLabels {
                let mut json: serde_json::Value = serde_json::from_str(&page).expect("json");
                let labels = &mut json["servers"][0]["labels"];
                for i in 0..20 {
                    labels[format!("k{i:02}")] = format!("v{i}").into();
                }
                page = json.to_string();
            }
            reply(200, page)
        }
        _ if target == "/v1/servers?page=2&per_page=1" => reply(200, fixture("servers-page-2.json")),
        _ => reply(
            404,
            r#"{"error":{"code":"not_found","message":"not found","details":{}}}"#.to_owned(),
        ),
    }
}

struct Setup {
    api: HetznerApi,
    plugin: Plugin,
    grants: Grants,
}

async fn setup() -> Setup {
    let api = HetznerApi::start();
    let plugin = load_file(&runtime(), HETZNER_CLOUD.as_ref())
        .await
        .expect("loads");
    let grants = Grants {
        http: vec![api.origin().parse().expect("origin")],
        ..Grants::NONE
    };
    Setup {
        api,
        plugin,
        grants,
    }
}

impl Setup {
    fn account(&self, extra: &[(&str, &str)]) -> Account {
        // `extra` first: the first of two equal keys wins.
        let mut pairs: Vec<(&str, String)> =
            extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        pairs.push(("base_url", self.api.origin()));
        pairs.push(("page_size", "1".to_owned()));
        Account {
            name: "acme-prod".into(),
            settings: pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    async fn resources_with(&self, token: &str) -> Result<Vec<ResourceInfo>, CallError> {
        self.plugin
            .list_resources(
                &self.grants,
                &settings(&[("token", token)]),
                &self.account(&[]),
                &project("acme-prod"),
            )
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

fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    settings(labels)
}

#[tokio::test]
async fn servers_are_listed_page_by_page_with_location_and_size() {
    let s = setup().await;
    let projects = s
        .plugin
        .list_projects(&s.grants, &settings(&[("token", TOKEN)]), &s.account(&[]))
        .await
        .expect("projects");
    assert_eq!(*projects, [project("acme-prod")]);
    assert!(s.api.requests().is_empty(), "the project needs no request");

    let servers = s.resources_with(TOKEN).await.expect("servers");
    assert_eq!(
        s.api.requests(),
        [
            (
                "GET /v1/servers?page=1&per_page=1 HTTP/1.1".to_owned(),
                format!("Bearer {TOKEN}")
            ),
            (
                "GET /v1/servers?page=2&per_page=1 HTTP/1.1".to_owned(),
                format!("Bearer {TOKEN}")
            ),
        ]
    );
    assert_eq!(servers.len(), 2);

    let web = &servers[0];
    assert_eq!(
        (web.id.as_str(), web.name.as_str(), web.kind),
        ("42", "web-fsn1-1", ResourceKind::Vm)
    );
    assert_eq!(web.location.region.as_deref(), Some("fsn1"));
    assert_eq!(web.location.country.as_deref(), Some("DE"));
    // Today's API has no datacenter, so no zone.
    assert_eq!(web.location.zone, None);
    let at = web.location.coordinates.expect("coordinates");
    assert_eq!((at.latitude, at.longitude), (50.47612, 12.370071));
    assert_eq!(web.hardware.vcpus, Some(2));
    // `"memory": 4.0` GB is 4 × 2^30 bytes.
    assert_eq!(web.hardware.memory_bytes, Some(4 << 30));
    assert_eq!(web.hardware.cpu_model, None);
    assert_eq!(
        web.labels,
        pairs(&[
            ("server_type", "cx22"),
            ("status", "running"),
            ("cpu_type", "shared"),
            ("architecture", "x86"),
            ("network_zone", "eu-central"),
            ("label_env", "prod"),
            ("label_role", "frontend"),
            ("label_team_example_com_owner", "web"),
        ])
    );

    // A response from the deprecation window still carries `datacenter`: it gives the zone.
    let batch = &servers[1];
    assert_eq!(
        (batch.id.as_str(), batch.name.as_str()),
        ("1337", "batch-ash-1")
    );
    assert_eq!(batch.location.region.as_deref(), Some("ash"));
    assert_eq!(batch.location.zone.as_deref(), Some("ash-dc1"));
    assert_eq!(batch.location.country.as_deref(), Some("US"));
    let at = batch.location.coordinates.expect("coordinates");
    assert_eq!((at.latitude, at.longitude), (39.045821, -77.487073));
    assert_eq!(batch.hardware.vcpus, Some(4));
    assert_eq!(batch.hardware.memory_bytes, Some(16 << 30));
    assert_eq!(
        batch.labels,
        pairs(&[
            ("server_type", "ccx23"),
            ("status", "off"),
            ("cpu_type", "dedicated"),
            ("architecture", "x86"),
            ("network_zone", "us-east"),
        ])
    );
}

#[tokio::test]
async fn the_project_is_named_by_the_setting_and_other_projects_are_empty() {
    let s = setup().await;
    let named = s.account(&[("project_name", "shop"), ("token", TOKEN)]);
    let projects = s
        .plugin
        .list_projects(&s.grants, &vec![], &named)
        .await
        .expect("projects");
    assert_eq!(*projects, [project("shop")]);
    let gone = s
        .plugin
        .list_resources(&s.grants, &vec![], &named, &project("acme-prod"))
        .await
        .expect("a project no longer configured");
    assert!(gone.is_empty());
    assert!(s.api.requests().is_empty());

    let err = s
        .plugin
        .list_projects(&s.grants, &vec![], &s.account(&[]))
        .await
        .expect_err("no token");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::BadConfig(m)) if m.contains("`token`")),
        "{err}"
    );
    let err = s
        .plugin
        .list_projects(
            &s.grants,
            &vec![],
            &s.account(&[("token", TOKEN), ("page_size", "51")]),
        )
        .await
        .expect_err("page too big");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::BadConfig(m)) if m.contains("`page_size` is `51`")),
        "{err}"
    );
}

#[tokio::test]
async fn own_labels_are_bounded() {
    let s = setup().await;
    s.api.set(Mode::ManyLabels);
    let servers = s.resources_with(TOKEN).await.expect("servers");
    let own: Vec<&str> = servers[0]
        .labels
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("label_"))
        .collect();
    // 23 labels, the first 16 in key order.
    assert_eq!(own.len(), 16, "{own:?}");
    assert_eq!(own[0], "env");
    assert_eq!(own[15], "k14");
}

#[tokio::test]
async fn api_errors_become_the_errors_the_host_acts_on() {
    let s = setup().await;
    let err = s.resources_with("wrong").await.expect_err("401");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m)) if m.contains("401 unauthorized: unable to authenticate")),
        "{err}"
    );

    s.api.set(Mode::Forbidden);
    let err = s.resources_with(TOKEN).await.expect_err("403");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unauthorized(m)) if m.contains("403 forbidden")),
        "{err}"
    );

    // Waits until the budget is back: `RateLimit-Reset` minus the answer's `Date`.
    s.api.set(Mode::RateLimited);
    let err = s.resources_with(TOKEN).await.expect_err("429");
    match err.provider_error() {
        Some(ProviderError::Unavailable(u)) => {
            assert_eq!(u.retry_after_ms, Some(37_000));
            assert!(
                u.message.contains("429 rate_limit_exceeded"),
                "{}",
                u.message
            );
        }
        other => panic!("{other:?}"),
    }

    s.api.set(Mode::RetryAfter);
    let err = s.resources_with(TOKEN).await.expect_err("429");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unavailable(u)) if u.retry_after_ms == Some(7_000)),
        "{err}"
    );

    s.api.set(Mode::Broken);
    let err = s.resources_with(TOKEN).await.expect_err("500");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Unavailable(u)) if u.message.ends_with("answered 500") && u.retry_after_ms.is_none()),
        "{err}"
    );

    s.api.set(Mode::Malformed);
    let err = s.resources_with(TOKEN).await.expect_err("malformed");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::Other(m)) if m.contains("not a server list") && m.contains("server_type")),
        "{err}"
    );
}

#[tokio::test]
async fn an_origin_outside_the_grants_is_refused() {
    let s = setup().await;
    let err = s
        .plugin
        .list_resources(
            &Grants::NONE,
            &settings(&[("token", TOKEN)]),
            &s.account(&[]),
            &project("acme-prod"),
        )
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), "denied");
    assert!(s.api.requests().is_empty());
}

/// The plugin asks for the API's origin only, so a daemon grants nothing else, whatever
/// `allow_http` offers: another `base_url` is for tests that hand out grants themselves.
#[tokio::test]
async fn a_daemon_grants_only_the_hetzner_api() {
    let s = setup().await;
    let offered = Offered {
        http: vec![
            s.api.origin().parse().expect("origin"),
            "https://api.hetzner.cloud".parse().expect("origin"),
        ],
        ..Offered::default()
    };
    let (grants, unused) = s.plugin.info().needs.grant(&offered, "hcloud");
    let granted: Vec<String> = grants.http.iter().map(ToString::to_string).collect();
    assert_eq!(granted, ["https://api.hetzner.cloud"]);
    assert_eq!(unused, [format!("allow_http `{}`", s.api.origin())]);
}
