//! The aws plugin against moto's server (started here on loopback, seeded with boto3):
//! instances of three regions with their types, sizes, states, tags, countries and grid zones,
//! every page of DescribeInstances, an assumed role, CloudWatch utilisation read once per
//! interval, and `carbonaut plugin check` printing the inventory. `faults` plays AWS's error
//! answers (throttling, an expired token, a region that never answers) on a fake server, and
//! `kept` shows a daemon keeping the last inventory of a region that stopped answering.

mod faults;
mod kept;
mod moto;

use std::sync::Arc;

use carbonaut_model::{Account, Project, ResourceInfo, ResourceKind};
use carbonaut_plugins::{Plugin, load_file};
use carbonaut_runtime::{Grants, Limits, Runtime};

use crate::support::*;
use moto::{Moto, Seeded};

const THREE_REGIONS: &str = "us-east-1,eu-west-1,ap-southeast-2";

/// A runtime with the key-value store on a temporary sled tree the test can inspect.
fn runtime_with_store() -> (Arc<Runtime>, sled::Tree) {
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let tree = db.open_tree("kv").expect("tree");
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    runtime.enable_key_value(tree.clone());
    (Arc::new(runtime), tree)
}

async fn plugin(runtime: &Arc<Runtime>) -> Plugin {
    load_file(runtime, AWS.as_ref()).await.expect("aws loads")
}

fn grants(origin: &str) -> Grants {
    Grants {
        http: vec![origin.parse().expect("origin")],
        key_value: Some("aws".into()),
        ..Grants::NONE
    }
}

/// An account reading `endpoint` with test keys, 5 instances a page, plus `extra` settings
/// (which win).
fn account(endpoint: &str, extra: &[(&str, &str)]) -> Account {
    let mut pairs = settings(extra);
    pairs.extend(settings(&[
        ("access_key_id", "AKIDCARBONAUTTEST"),
        ("secret_access_key", "moto-secret"),
        ("endpoint_url", endpoint),
        ("page_size", "5"),
    ]));
    Account {
        name: "prod".into(),
        settings: pairs,
    }
}

fn region(id: &str) -> Project {
    Project {
        id: id.into(),
        name: id.into(),
        labels: vec![],
    }
}

fn label<'a>(resource: &'a ResourceInfo, key: &str) -> Option<&'a str> {
    resource
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

struct Setup {
    moto: Moto,
    seeded: Seeded,
    plugin: Plugin,
    tree: sled::Tree,
}

async fn setup() -> Setup {
    // reqwest's blocking client (moto's readiness) must not run on the async runtime.
    let (moto, seeded) = tokio::task::spawn_blocking(|| {
        let moto = Moto::start();
        let seeded = moto.seed();
        (moto, seeded)
    })
    .await
    .expect("moto starts");
    let (runtime, tree) = runtime_with_store();
    let plugin = plugin(&runtime).await;
    Setup {
        moto,
        seeded,
        plugin,
        tree,
    }
}

impl Setup {
    async fn resources(&self, account: &Account, id: &str) -> Vec<ResourceInfo> {
        self.plugin
            .list_resources(&grants(&self.moto.url()), &vec![], account, &region(id))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"))
            .into_items()
    }
}

#[tokio::test]
async fn instances_of_three_regions_with_size_place_state_and_tags() {
    let s = setup().await;
    let url = s.moto.url();
    let configured = account(&url, &[("regions", THREE_REGIONS)]);
    let projects = s
        .plugin
        .list_projects(&grants(&url), &vec![], &configured)
        .await
        .expect("projects");
    let ids: Vec<&str> = projects.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["us-east-1", "eu-west-1", "ap-southeast-2"]);

    // Without `regions`: every region DescribeRegions lists as enabled.
    let all = s
        .plugin
        .list_projects(&grants(&url), &vec![], &account(&url, &[]))
        .await
        .expect("all regions");
    let all: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    for wanted in ["us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1"] {
        assert!(all.contains(&wanted), "{wanted} in {all:?}");
    }

    // Seven instances at five a page: two pages.
    let virginia = s.resources(&configured, "us-east-1").await;
    assert_eq!(virginia.len(), 7, "{virginia:#?}");
    let web = virginia
        .iter()
        .find(|r| r.id == s.seeded.id("us-east-1", "web-1"))
        .expect("web-1");
    assert_eq!((web.name.as_str(), web.kind), ("web-1", ResourceKind::Vm));
    assert_eq!(web.location.region.as_deref(), Some("us-east-1"));
    assert_eq!(web.location.country.as_deref(), Some("US"));
    assert_eq!(web.location.grid_zone.as_deref(), Some("US-MIDA-PJM"));
    assert_eq!(web.hardware.vcpus, Some(2));
    assert_eq!(web.hardware.memory_bytes, Some(8 << 30));
    assert_eq!(web.hardware.cpu_model, None);
    assert_eq!(web.hardware.instance_type.as_deref(), Some("m5.large"));
    assert_eq!(web.location.cloud.as_deref(), Some("aws"));
    assert_eq!(
        label(web, "instance_type"),
        None,
        "in hardware, not a label"
    );
    assert_eq!(label(web, "state"), Some("running"));
    assert_eq!(label(web, "tag_team"), Some("web"));
    assert_eq!(label(web, "tag_Name"), Some("web-1"));
    assert!(
        label(web, "availability_zone").is_some_and(|z| z.starts_with("us-east-1")),
        "{web:?}"
    );
    let micro = virginia
        .iter()
        .find(|r| r.id == s.seeded.id("us-east-1", "micro-1"))
        .expect("micro-1");
    // No Name tag: the id is the name.
    assert_eq!(micro.name, micro.id);
    assert_eq!(micro.hardware.vcpus, Some(2));
    assert_eq!(micro.hardware.memory_bytes, Some(1 << 30));
    let arm = virginia.iter().find(|r| r.name == "arm").expect("arm");
    assert_eq!(
        (arm.hardware.vcpus, arm.hardware.memory_bytes),
        (Some(4), Some(8 << 30))
    );

    let ireland = s.resources(&configured, "eu-west-1").await;
    assert_eq!(ireland.len(), 2);
    let stopped = ireland
        .iter()
        .find(|r| r.id == s.seeded.id("eu-west-1", "db-2"))
        .expect("the stopped instance is listed");
    assert_eq!(label(stopped, "state"), Some("stopped"));
    assert_eq!(stopped.location.country.as_deref(), Some("IE"));
    assert_eq!(stopped.location.grid_zone.as_deref(), Some("IE"));
    assert_eq!(stopped.hardware.memory_bytes, Some(16 << 30));

    let sydney = s.resources(&configured, "ap-southeast-2").await;
    let [tagged] = sydney.as_slice() else {
        panic!("{sydney:?}")
    };
    assert_eq!(tagged.location.grid_zone.as_deref(), Some("AU-NSW"));
    assert_eq!(
        (tagged.hardware.vcpus, tagged.hardware.memory_bytes),
        (Some(8), Some(32 << 30))
    );
    // 21 tags (20 and Name), the first 16 in key order.
    let tags: Vec<&str> = tagged
        .labels
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("tag_"))
        .collect();
    assert_eq!(tags.len(), 16, "{tags:?}");
    assert_eq!((tags[0], tags[15]), ("Name", "k14"));

    // A region the account no longer reads holds nothing, without a request.
    let gone = s.resources(&configured, "eu-central-1").await;
    assert!(gone.is_empty());
}

#[tokio::test]
async fn a_role_is_assumed_and_its_session_kept_until_it_expires() {
    let s = setup().await;
    let url = s.moto.url();
    let role = s.seeded.role_arn();
    let reader = account(&url, &[("regions", "eu-west-1"), ("role_arn", &role)]);
    let instances = s.resources(&reader, "eu-west-1").await;
    assert_eq!(instances.len(), 2);
    let sessions: Vec<serde_json::Value> = s
        .tree
        .iter()
        .filter_map(Result::ok)
        .filter(|(k, _)| String::from_utf8_lossy(k).contains("sts/"))
        .map(|(_, v)| serde_json::from_slice(&v).expect("JSON entry"))
        .collect();
    let [session] = sessions.as_slice() else {
        panic!("one kept session: {sessions:?}")
    };
    let credentials = &session["value"]["credentials"];
    assert!(
        credentials["access_key_id"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA")),
        "moto's temporary key: {session}"
    );
    assert!(credentials["session_token"].is_string());
    // moto's sessions last the hour asked for (from moto's clock, a moment after ours); kept
    // until five minutes before: 55 minutes, give or take the request.
    let kept_ms = session["expires_at_ms"].as_u64().expect("expiry")
        - session["stored_at_ms"].as_u64().expect("stored");
    assert!(
        kept_ms.abs_diff(55 * 60 * 1000) < 10_000,
        "kept {kept_ms} ms"
    );
    // The second call signs with the kept session.
    assert_eq!(s.resources(&reader, "eu-west-1").await.len(), 2);
}

#[tokio::test]
async fn utilisation_comes_from_cloudwatch_once_per_interval() {
    let s = setup().await;
    let url = s.moto.url();
    let reader = account(&url, &[("regions", THREE_REGIONS)]);
    let mut resources = s.resources(&reader, "us-east-1").await;
    resources.extend(s.resources(&reader, "eu-west-1").await);
    let samples = s
        .plugin
        .collect_samples(&grants(&url), &vec![], &reader, &resources)
        .await
        .expect("samples")
        .into_items();
    let web = s.seeded.id("us-east-1", "web-1");
    let db = s.seeded.id("eu-west-1", "db-1");
    let got: Vec<(&str, Option<f64>, u64, bool)> = samples
        .iter()
        .map(|s| {
            (
                s.resource_id.as_str(),
                s.cpu_utilization_ratio,
                s.read_at,
                s.estimated,
            )
        })
        .collect();
    let period = s.seeded.period_ms();
    let mut expected = vec![
        (web.as_str(), Some(0.425), period, false),
        (db.as_str(), Some(0.0725), period, false),
    ];
    expected.sort_by(|a, b| a.0.cmp(b.0));
    // The newest datapoint of each; none for the stopped instance (never asked, though it has
    // one) nor for instances without datapoints.
    assert_eq!(got, expected);
    assert!(
        samples
            .iter()
            .all(|s| s.energy_joules.is_none() && s.power_watts.is_none())
    );

    // Within the interval the same answer comes from the key-value store: even with no HTTP
    // granted at all, nothing is asked.
    let offline = Grants {
        key_value: Some("aws".into()),
        ..Grants::NONE
    };
    let again = s
        .plugin
        .collect_samples(&offline, &vec![], &reader, &resources)
        .await
        .expect("from the store")
        .into_items();
    assert_eq!(again, samples);

    // Without the store the plugin refuses rather than bill a read at every collection.
    let err = s
        .plugin
        .collect_samples(
            &Grants {
                http: grants(&url).http,
                ..Grants::NONE
            },
            &vec![],
            &reader,
            &resources,
        )
        .await
        .expect_err("no store");
    assert!(err.to_string().contains("key_value = true"), "{err}");
}

#[test]
fn plugin_check_prints_the_inventory_of_the_emulator() {
    let moto = Moto::start();
    let seeded = moto.seed();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("aws.toml");
    std::fs::write(
        &config,
        format!(
            r#"[paths]
plugin_dir = {plugins:?}
state_dir = {state:?}

[providers.aws]
plugin = "aws"
allow_http = ["{url}"]
key_value = true

[providers.grid]
plugin = "static-grid"

[environment]
provider = "grid"

[accounts.prod]
discovery = "aws"
resource_metrics = "aws"
settings = {{ access_key_id = "AKIDCARBONAUTTEST", secret_access_key = "${{AWS_TEST_SECRET}}", regions = "eu-west-1", endpoint_url = "{url}" }}
"#,
            plugins = plugin_dir().display().to_string(),
            state = dir.path().join("state").display().to_string(),
            url = moto.url(),
        ),
    )
    .expect("write the config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["plugin", "check", AWS, "--config"])
        .arg(&config)
        .env("AWS_TEST_SECRET", "moto-secret")
        .output()
        .expect("run plugin check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "plugin      aws 0.1.0 (carbonaut:provider@0.3.0; discovery, resource-metrics)\n",
        "discovery.list-projects: ok in ",
        ", 1 item\n  {\"id\":\"eu-west-1\"",
        "discovery.list-resources (project `eu-west-1`): ok in ",
        ", 2 items\n",
        "\"instance_type\":\"r5.large\"",
        "resource-metrics.collect (2 resources): ok in ",
        "ok: every call answered\n",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    for instance in ["db-1", "db-2"] {
        assert!(
            text.contains(&format!("\"id\":\"{}\"", seeded.id("eu-west-1", instance))),
            "{instance} in:\n{text}"
        );
    }
}

/// Both examples pass `check-config` with the keys they read set, grant everything they
/// offer, and name the key that is missing.
#[test]
fn the_examples_pass_check_config() {
    let keys = [
        ("AWS_ACCESS_KEY_ID", Some("AKIDEXAMPLE")),
        ("AWS_SECRET_ACCESS_KEY", Some("secret")),
    ];
    for (name, summary) in [
        ("aws.toml", ": ok (2 providers, 2 accounts, "),
        ("aws-prometheus.toml", ": ok (3 providers, 1 accounts, "),
    ] {
        let checked = check_example(name, &keys);
        assert!(
            checked.ok && checked.stdout.contains(summary),
            "{name}: {}{}",
            checked.stdout,
            checked.stderr
        );
        assert!(!checked.stderr.contains("allow_http"), "{}", checked.stderr);
    }
    let checked = check_example("aws.toml", &[keys[0], ("AWS_SECRET_ACCESS_KEY", None)]);
    assert!(!checked.ok);
    assert!(
        checked
            .stderr
            .contains("environment variable `AWS_SECRET_ACCESS_KEY` is not set"),
        "{}",
        checked.stderr
    );
}
