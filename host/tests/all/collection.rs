//! Collection in process, step by step (no timers): topology sync with churn, failure
//! isolation, emissions, and the JSON API through `oneshot`.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use carbonaut::api::{AppState, app};
use carbonaut::collect::{Collector, Plan};
use carbonaut::config::Config;
use carbonaut::daemon::load_plugins;
use carbonaut::snapshot::SnapshotCell;
use carbonaut::telemetry::Telemetry;
use carbonaut_store::state::{StateError, StateStore};

use crate::support::*;

pub struct Harness {
    pub collector: Collector,
    pub state: AppState,
    _dirs: Vec<tempfile::TempDir>,
}

/// A collector over `config` (TOML without the [paths] table), with `plugins` copied into a
/// fresh plugin folder and a fresh state folder.
pub async fn harness(config: &str, plugins: &[&str]) -> Harness {
    let plugin_dir = tempfile::tempdir().expect("plugin dir");
    for p in plugins {
        let name = Path::new(p).file_name().expect("file name");
        std::fs::copy(p, plugin_dir.path().join(name)).expect("copy plugin");
    }
    let state_dir = tempfile::tempdir().expect("state dir");
    let text = format!(
        "[paths]\nplugin_dir = {:?}\nstate_dir = {:?}\n{config}",
        plugin_dir.path().display().to_string(),
        state_dir.path().display().to_string()
    );
    let config =
        Config::parse(&text, "test.toml", Path::new("."), &|_| None).expect("valid config");
    let runtime = runtime();
    let loaded = load_plugins(&runtime, &config).await.expect("plugins");
    let plan = Plan::from_config(&config, &loaded.by_name()).expect("plan");
    let store = Arc::new(StateStore::open(&config.state_dir).expect("state"));
    let history =
        carbonaut_store::history::HistoryStore::new(store.history_tree().expect("history"));
    let telemetry = Arc::new(Telemetry::default());
    let snapshot = Arc::new(SnapshotCell::default());
    let collector = Collector::new(
        plan,
        loaded.plugins().cloned().collect(),
        store,
        telemetry.clone(),
        snapshot.clone(),
    )
    .expect("collector");
    let vitals = collector.vitals();
    Harness {
        collector,
        state: AppState {
            snapshot,
            telemetry,
            reload: None,
            config: Arc::new(std::sync::RwLock::new(carbonaut::config::ApiConfig::of(
                &config,
            ))),
            history: Some(history),
            vitals,
        },
        _dirs: vec![plugin_dir, state_dir],
    }
}

pub async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    let response = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get_json(state: &AppState, uri: &str) -> serde_json::Value {
    let (status, body) = get(state, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

const MOCKS: &str = r#"
[providers.cloud]
plugin = "mock-cloud"
settings = { projects = 2, resources_per_project = 10 }
[providers.meter]
plugin = "mock-meter"
[providers.grid]
plugin = "mock-grid"
[environment]
provider = "grid"
[accounts.acme]
discovery = "cloud"
resource_metrics = "meter"
"#;

#[tokio::test]
async fn not_ready_until_the_first_sync_then_emissions_after_two_samples() {
    let mut h = harness(MOCKS, &[MOCK_CLOUD, MOCK_METER, MOCK_GRID]).await;
    assert_eq!(
        get(&h.state, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    h.collector.sync_topology().await;
    assert_eq!(get(&h.state, "/readyz").await.0, StatusCode::OK);
    h.collector.collect_environment().await;
    h.collector.collect_samples().await;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    h.collector.collect_samples().await;
    let (_, text) = get(&h.state, "/metrics").await;
    let joules = metric_value(
        &text,
        "carbonaut_resource_energy_joules_total",
        "resource=\"acme-p0-vm0-g0\"",
    )
    .expect("energy");
    let grams = metric_value(
        &text,
        "carbonaut_resource_emissions_grams_total",
        "resource=\"acme-p0-vm0-g0\"",
    )
    .expect("emissions");
    assert!(joules > 0.0);
    // acme-p0-vm0 is in Germany; emissions are its energy times Germany's intensity.
    let intensity = metric_value(
        &text,
        "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
        "location=\"DE\"",
    )
    .expect("DE");
    let expected = joules / 3.6e6 * intensity;
    assert!(
        (grams - expected).abs() <= expected * 1e-9,
        "{grams} vs {expected}"
    );
    let project = metric_value(
        &text,
        "carbonaut_project_emissions_grams_total",
        "project=\"acme-p0\"",
    )
    .expect("project");
    let account = metric_value(
        &text,
        "carbonaut_account_emissions_grams_total",
        "account=\"acme\"",
    )
    .expect("account");
    assert!(project >= grams && account >= project);
    // One batch call per account per collection, not one per resource.
    assert!(text.contains("carbonaut_plugin_calls_total{plugin=\"mock-meter\",operation=\"collect-samples\",outcome=\"ok\"} 2\n"), "{text}");
    assert!(text.contains("carbonaut_plugin_calls_total{plugin=\"mock-grid\",operation=\"collect-environment\",outcome=\"ok\"} 1\n"));
}

#[tokio::test]
async fn sync_follows_resources_that_come_and_go() {
    let config = MOCKS.replace(
        "resources_per_project = 10 }",
        "resources_per_project = 10, churn_period_secs = 1 }",
    );
    let mut h = harness(&config, &[MOCK_CLOUD, MOCK_METER, MOCK_GRID]).await;
    h.collector.sync_topology().await;
    let before = get_json(&h.state, "/api/v1/topology").await;
    let ids = |t: &serde_json::Value| -> std::collections::BTreeSet<String> {
        t["accounts"][0]["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["resources"].as_array().into_iter().flatten())
            .map(|r| r["provider_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let before_ids = ids(&before);
    assert_eq!(before_ids.len(), 20);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    h.collector.sync_topology().await;
    let after_ids = ids(&get_json(&h.state, "/api/v1/topology").await);
    assert_eq!(after_ids.len(), 20);
    let removed: Vec<_> = before_ids.difference(&after_ids).collect();
    let added: Vec<_> = after_ids.difference(&before_ids).collect();
    assert!(
        !removed.is_empty() && removed.len() == added.len(),
        "removed {removed:?}, added {added:?}"
    );
    h.collector.collect_samples().await;
    let (_, text) = get(&h.state, "/metrics").await;
    for gone in &removed {
        assert!(
            !text.contains(&format!("resource=\"{gone}\"")),
            "{gone} still in /metrics"
        );
    }
    for new in &added {
        assert!(
            text.contains(&format!("resource=\"{new}\"")),
            "{new} missing from /metrics"
        );
    }
}

#[tokio::test]
async fn a_failing_account_is_isolated_counted_and_visible() {
    let config = format!(
        "{MOCKS}\n[providers.broken]\nplugin = \"trapping\"\n[accounts.doomed]\ndiscovery = \"cloud\"\nresource_metrics = \"broken\"\n"
    );
    let mut h = harness(&config, &[MOCK_CLOUD, MOCK_METER, MOCK_GRID, TRAPPING]).await;
    h.collector.sync_topology().await;
    h.collector.collect_environment().await;
    h.collector.collect_samples().await;
    h.collector.collect_samples().await;
    let (_, text) = get(&h.state, "/metrics").await;
    assert!(
        metric_value(
            &text,
            "carbonaut_resource_energy_joules_total",
            "account=\"acme\""
        )
        .is_some(),
        "acme still collected"
    );
    assert!(
        metric_value(
            &text,
            "carbonaut_resource_energy_joules_total",
            "account=\"doomed\""
        )
        .is_none()
    );
    assert!(
        text.contains(
            "carbonaut_collection_failures_total{account=\"doomed\",stage=\"samples\"} 2\n"
        ),
        "{text}"
    );
    // The first call traps; the second finds the provider backing off and is not made.
    assert!(text.contains("carbonaut_plugin_calls_total{plugin=\"trapping\",operation=\"collect-samples\",outcome=\"trap\"} 1\n"), "{text}");
    assert!(text.contains("carbonaut_plugin_calls_total{plugin=\"trapping\",operation=\"collect-samples\",outcome=\"backoff\"} 1\n"), "{text}");
    assert!(text.contains("carbonaut_plugin_up{plugin=\"trapping\",version=\"0.0.1\"} 0\n"));
    assert!(text.contains("carbonaut_plugin_up{plugin=\"mock-meter\",version=\"0.1.0\"} 1\n"));
    assert!(
        text.contains("carbonaut_provider_degraded{provider=\"broken\",plugin=\"trapping\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("carbonaut_provider_degraded{provider=\"meter\",plugin=\"mock-meter\"} 0\n"),
        "{text}"
    );

    let status = get_json(&h.state, "/api/v1/status").await;
    let error = status["accounts"]["doomed"]["last_collection_error"]
        .as_str()
        .expect("error shown");
    assert!(
        error.starts_with("provider `broken` (plugin trapping) is degraded after 1 failed calls"),
        "{error}"
    );
    assert_eq!(status["providers"]["broken"]["degraded"], true);
    assert_eq!(status["providers"]["broken"]["consecutive_failures"], 1);
    assert_eq!(status["providers"]["meter"]["degraded"], false);
    assert!(status["accounts"]["acme"]["last_collection_error"].is_null());
    let plugins = get_json(&h.state, "/api/v1/plugins").await;
    let trapping = plugins
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "trapping")
        .expect("listed");
    assert_eq!(trapping["providers"], serde_json::json!(["broken"]));
    assert!(trapping["last_error"].as_str().is_some());
}

#[tokio::test]
async fn topology_filters_and_resource_lookup() {
    let mut h = harness(&MOCKS.replace("[accounts.acme]", "[accounts.other]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n[accounts.acme]"), &[MOCK_CLOUD, MOCK_METER, MOCK_GRID]).await;
    h.collector.sync_topology().await;
    let all = get_json(&h.state, "/api/v1/topology").await;
    assert_eq!(all["accounts"].as_array().expect("accounts").len(), 2);
    let acme = get_json(&h.state, "/api/v1/topology?account=acme&project=acme-p1").await;
    assert_eq!(acme["accounts"].as_array().expect("accounts").len(), 1);
    let projects = acme["accounts"][0]["projects"]
        .as_array()
        .expect("projects");
    assert_eq!(projects.len(), 1);
    assert_eq!(
        projects[0]["resources"]
            .as_array()
            .expect("resources")
            .len(),
        10
    );
    let labelled = get_json(
        &h.state,
        "/api/v1/topology?account=acme&project=acme-p1&label=team=team-0",
    )
    .await;
    let resources = labelled["accounts"][0]["projects"][0]["resources"]
        .as_array()
        .expect("resources");
    assert_eq!(resources.len(), 4, "slots 0, 3, 6 and 9 are team-0");
    let (status, body) = get(&h.state, "/api/v1/topology?label=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("must be key=value"));
    // What the OpenAPI pattern `^[^=]+=` says: a key, then `=`; the value may be empty.
    for bad in ["", "=team-0", "="] {
        let (status, _) = get(&h.state, &format!("/api/v1/topology?label={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "label={bad}");
    }
    let (status, _) = get(&h.state, "/api/v1/topology?label=team=").await;
    assert_eq!(status, StatusCode::OK);

    let id = resources[0]["id"].as_str().expect("id");
    let detail = get_json(&h.state, &format!("/api/v1/resources/{id}")).await;
    assert_eq!(detail["project"], "acme-p1");
    assert_eq!(detail["labels"]["team"], "team-0");
    let (status, body) = get(&h.state, "/api/v1/resources/0000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no resource with id"), "{body}");
}

#[test]
fn a_state_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = sled::open(dir.path()).expect("sled");
        db.insert("schema_version", "999").expect("insert");
        db.flush().expect("flush");
    }
    let err = StateStore::reopen(dir.path()).err().expect("refused");
    assert!(matches!(err, StateError::UnknownSchema { .. }));
    assert!(
        err.to_string()
            .contains("has schema version 999, but this carbonaut reads version 3"),
        "{err}"
    );
}

/// The collector renders `/metrics` on a blocking thread and swaps the snapshot in only once
/// it is whole: on a runtime of one async worker, a scrape made while a publish renders (slowed
/// by the test hook) is answered at once, from the previous snapshot, complete; the next one
/// gets the new snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_scrape_while_a_collection_renders_gets_the_previous_snapshot_whole() {
    let h = harness(MOCKS, &[MOCK_CLOUD, MOCK_METER, MOCK_GRID]).await;
    let Harness {
        collector,
        state,
        _dirs,
    } = h;
    let render = std::time::Duration::from_millis(1500);
    let mut collector = collector.with_render_delay(render);
    collector.sync_topology().await;
    collector.collect_environment().await;
    collector.collect_samples().await;
    let energy = |text: &str| -> Vec<String> {
        series(text, "carbonaut_resource_energy_joules_total")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let (_, before) = get(&state, "/metrics").await;
    assert_eq!(energy(&before).len(), 20, "{before}");

    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let started = std::time::Instant::now();
    let collection = tokio::spawn(async move {
        collector.collect_samples().await;
        collector
    });
    // The samples of 20 resources take far less than the render's delay: this scrape lands
    // while the new snapshot renders. It runs as a task, so it needs the one async worker.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let asked = std::time::Instant::now();
    let scrape = tokio::spawn({
        let state = state.clone();
        async move { get(&state, "/metrics").await }
    });
    let (status, during) = scrape.await.expect("the scrape task");
    let answered_in = asked.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(
        !collection.is_finished(),
        "the collection ended before the scrape ({:?}): the render delay did not apply",
        started.elapsed()
    );
    assert!(
        answered_in < render / 2,
        "a scrape during the render took {answered_in:?}: it waited for the collector"
    );
    assert_eq!(energy(&during), energy(&before), "the previous snapshot");
    assert!(
        during.contains("carbonaut_provider_degraded{"),
        "the previous snapshot is whole: {during}"
    );
    collection.await.expect("the collection task");
    assert!(started.elapsed() >= render);
    let (_, after) = get(&state, "/metrics").await;
    assert_eq!(energy(&after).len(), 20);
    assert_ne!(
        energy(&after),
        energy(&before),
        "the new snapshot once rendered"
    );
}
