//! Capabilities beyond the empty sandbox: outgoing HTTP only to allowed origins, the
//! key-value store only when granted and within its size limits, and per-provider limits.

use std::sync::Arc;
use std::time::Duration;

use carbonaut_model::{Account, ProviderError};
use carbonaut_plugins::{CallError, Plugin, load_file};
use carbonaut_runtime::{Grants, Limits, MAX_NAMESPACE_BYTES, Runtime};

use crate::fake_api::{Upstream, reply};
use crate::support::*;

const HOSTILE: &str = env!("CARBONAUT_GUEST_HOSTILE");

/// A loopback server answering every request with `200 hello`.
fn hello_server() -> Upstream {
    Upstream::start(|_| reply(200, "hello".to_owned()))
}

fn account() -> Account {
    Account {
        name: "a".into(),
        settings: vec![],
    }
}

async fn hostile_on(runtime: &Arc<Runtime>) -> Plugin {
    load_file(runtime, HOSTILE.as_ref())
        .await
        .expect("hostile loads")
}

async fn attack(plugin: &Plugin, grants: &Grants, pairs: &[(&str, &str)]) -> Result<(), CallError> {
    plugin
        .collect_samples(
            grants,
            &settings(pairs),
            &account(),
            &[] as &[carbonaut_model::ResourceInfo],
        )
        .await
        .map(|_| ())
}

fn guest_report(err: &CallError) -> String {
    match err.provider_error() {
        Some(ProviderError::Other(report)) => report.clone(),
        _ => panic!("expected the guest's report, got: {err}"),
    }
}

#[tokio::test]
async fn an_allowed_origin_is_reached_through_wasi_http() {
    let upstream = hello_server();
    let plugin = hostile_on(&runtime()).await;
    let grants = Grants {
        http: vec![upstream.origin().parse().expect("origin")],
        ..Grants::NONE
    };
    let url = format!("{}/v3/latest?zone=DE", upstream.origin());
    let err = attack(&plugin, &grants, &[("mode", "http-get"), ("url", &url)])
        .await
        .expect_err("the guest reports the response");
    assert_eq!(guest_report(&err), "status 200: hello");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target().as_str()),
        ("GET", "/v3/latest?zone=DE")
    );
    assert_eq!(seen[0].header("x-plugin"), Some("hostile"));
}

#[tokio::test]
async fn a_request_to_an_origin_not_allowed_never_leaves_the_host() {
    let upstream = hello_server();
    let other = hello_server();
    let plugin = hostile_on(&runtime()).await;
    let url = format!("{}/steal", upstream.origin());
    for grants in [
        Grants::NONE,
        // Same host, another port; and the right port over https.
        Grants {
            http: vec![
                other.origin().parse().expect("origin"),
                format!("https://127.0.0.1:{}", upstream.addr.port())
                    .parse()
                    .expect("origin"),
            ],
            ..Grants::NONE
        },
    ] {
        let err = attack(&plugin, &grants, &[("mode", "http-get"), ("url", &url)])
            .await
            .expect_err("refused");
        assert_eq!(err.reason(), "denied", "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("plugin hostile 0.0.1: resource-metrics.collect was refused HTTP to ")
                && text.contains(&format!("127.0.0.1:{}", upstream.addr.port())),
            "{text}"
        );
        // The SDK tells the plugin (and so the operator) what to change.
        assert!(
            matches!(err.provider_error(), Some(ProviderError::BadConfig(m)) if m.contains("allow_http")),
            "{err:?}"
        );
    }
    assert!(upstream.seen().is_empty());
    assert!(other.seen().is_empty());
}

fn kv_runtime() -> (Arc<Runtime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = sled::open(dir.path()).expect("sled");
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    runtime.enable_key_value(db.open_tree("kv").expect("tree"));
    (Arc::new(runtime), dir)
}

fn kv(namespace: &str) -> Grants {
    Grants {
        key_value: Some(namespace.to_owned()),
        ..Grants::NONE
    }
}

#[tokio::test]
async fn the_key_value_store_keeps_state_across_fresh_instances_per_namespace() {
    let (runtime, _dir) = kv_runtime();
    let plugin = hostile_on(&runtime).await;
    let count = async |grants: &Grants| {
        guest_report(
            &attack(&plugin, grants, &[("mode", "kv-count")])
                .await
                .expect_err("reports the count"),
        )
    };
    assert_eq!(count(&kv("first")).await, "count 1");
    assert_eq!(count(&kv("first")).await, "count 2");
    assert_eq!(count(&kv("first")).await, "count 3");
    // Another provider instance of the same plugin has its own namespace.
    assert_eq!(count(&kv("second")).await, "count 1");

    // Not granted: the plugin is told so, and so is the operator.
    let err = attack(&plugin, &Grants::NONE, &[("mode", "kv-count")])
        .await
        .expect_err("denied");
    assert!(
        matches!(err.provider_error(), Some(ProviderError::BadConfig(m)) if m.contains("key_value = true")),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_cannot_fill_the_hosts_disk_through_the_store() {
    let (runtime, _dir) = kv_runtime();
    let plugin = hostile_on(&runtime).await;
    let report = guest_report(
        &attack(&plugin, &kv("filler"), &[("mode", "kv-fill")])
            .await
            .expect_err("stopped"),
    );
    // 60 000-byte values plus 6- or 7-byte keys: 17 fit in 1 MiB, the 18th would pass it.
    let fits = MAX_NAMESPACE_BYTES / 60_007;
    assert!(
        report.starts_with(&format!("stopped after {fits}: StoreError::Full(")),
        "{report}"
    );
}

#[tokio::test]
async fn per_provider_limits_override_the_runtime_ones() {
    let runtime = runtime();
    let plugin = hostile_on(&runtime).await;
    let tight = Limits {
        memory_bytes: 16 << 20,
        call_deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    let grants = Grants {
        limits: Some(tight),
        ..Grants::NONE
    };
    let err = attack(&plugin, &grants, &[("mode", "memory-bomb")])
        .await
        .expect_err("stopped");
    assert_eq!(err.reason(), "memory");
    assert!(err.to_string().ends_with("the limit is 16777216"), "{err}");
    let err = attack(&plugin, &grants, &[("mode", "loop")])
        .await
        .expect_err("stopped");
    assert_eq!(err.reason(), "deadline");
    assert!(err.to_string().contains("deadline of 200 ms"), "{err}");
}

#[tokio::test]
async fn a_result_over_the_item_limit_is_refused() {
    let runtime = runtime();
    let cloud = load_file(&runtime, MOCK_CLOUD.as_ref())
        .await
        .expect("loads");
    let settings = settings(&[("projects", "1"), ("resources_per_project", "300")]);
    let projects = cloud
        .list_projects(&Grants::NONE, &settings, &account())
        .await
        .expect("projects");
    let grants = Grants {
        limits: Some(Limits {
            max_result_items: 299,
            ..Limits::default()
        }),
        ..Grants::NONE
    };
    let err = cloud
        .list_resources(&grants, &settings, &account(), &projects[0])
        .await
        .expect_err("too many");
    assert_eq!(err.reason(), "result-size");
    assert!(
        err.to_string()
            .contains("returned 300 items; the limit is 299"),
        "{err}"
    );
    let fine = cloud
        .list_resources(&Grants::NONE, &settings, &account(), &projects[0])
        .await
        .expect("within the default limit");
    assert_eq!(fine.len(), 300);
}

#[test]
fn the_api_shows_what_a_plugin_needs_and_what_its_provider_was_granted() {
    use crate::reload::{READ_TOKEN, Site};
    let site = Site::new(
        r#"
[providers.hostile]
plugin = "hostile"
settings = { mode = "kv-count" }
allow_http = ["http://127.0.0.1:9", "https://api.example.com"]
key_value = true
read_only_dirs = { "/data" = "data", "/other" = "other" }

[providers.hostile.limits]
memory_mib = 32
call_deadline = "2s"

[accounts.acme]
discovery = "cloud"
resource_metrics = "hostile"
"#,
    );
    std::fs::copy(HOSTILE, site.plugins().join("hostile.wasm")).expect("copy");
    for dir in ["data", "other"] {
        std::fs::create_dir(site.dir.path().join(dir)).expect("mkdir");
    }
    let daemon = site.start();
    let get = |path: &str| -> serde_json::Value {
        reqwest::blocking::Client::new()
            .get(daemon.url(path))
            .bearer_auth(READ_TOKEN)
            .send()
            .and_then(|r| r.json())
            .expect("json")
    };
    let plugins = get("/api/v1/plugins");
    let hostile = plugins
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "hostile"))
        .expect("hostile listed");
    assert_eq!(
        hostile["needs"],
        serde_json::json!({"http": ["*"], "read_only_dirs": ["/data"], "key_value": true})
    );
    let status = get("/api/v1/status");
    let granted = &status["providers"]["hostile"]["granted"];
    let data = site.dir.path().join("data").display().to_string();
    assert_eq!(
        granted,
        &serde_json::json!({
            "http": ["http://127.0.0.1:9", "https://api.example.com"],
            "tls_ca": null,
            "read_only_dirs": {"/data": data},
            "key_value": true,
            "memory_bytes": 32 << 20,
            "call_deadline_ms": 2000,
            "max_concurrent_calls": 4,
            "max_result_items": 100_000,
            "max_power_watts": 100_000,
        })
    );
    // mock-cloud asks for nothing, so it gets nothing, under the global limits.
    let cloud = &status["providers"]["cloud"]["granted"];
    assert_eq!(cloud["http"], serde_json::json!([]));
    assert_eq!(cloud["memory_bytes"], 128 << 20);
    // The plugin counts its calls in its key-value store and reports the count as its error.
    let count = |status: &serde_json::Value| -> u64 {
        status["accounts"]["acme"]["last_collection_error"]
            .as_str()
            .and_then(|e| e.rsplit("count ").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let wait_for_count = |daemon: &crate::support::Daemon, at_least: u64| -> u64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status: serde_json::Value = reqwest::blocking::Client::new()
                .get(daemon.url("/api/v1/status"))
                .bearer_auth(READ_TOKEN)
                .send()
                .and_then(|r| r.json())
                .expect("json");
            let n = count(&status);
            if n >= at_least {
                return n;
            }
            assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let before = wait_for_count(&daemon, 2);
    let log = daemon.stop();
    assert!(
        log.contains("read_only_dirs `/other` is configured, but the plugin does not ask for it"),
        "{log}"
    );
    // The store lives in the state directory: after a restart the count goes on.
    let daemon = site.start();
    let after = wait_for_count(&daemon, 1);
    assert!(
        after > before,
        "count {after} after the restart, {before} before"
    );
    daemon.stop();
}
