//! Hot reload against the real binary: plugins dropped, replaced, corrupted and removed, and
//! the config edited, while a client scrapes `/metrics` in a loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::*;

const MOCK_GRID_NEXT: &str = env!("CARBONAUT_GUEST_MOCK_GRID_NEXT");

pub const ADMIN_TOKEN: &str = "admin-secret";
pub const READ_TOKEN: &str = "read-secret";

/// A plugin folder with the three mocks and a config file using them, in a temp dir.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new(accounts: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("plugins")).expect("plugins dir");
        for p in [MOCK_CLOUD, MOCK_METER, MOCK_GRID] {
            std::fs::copy(
                p,
                dir.path()
                    .join("plugins")
                    .join(Path::new(p).file_name().expect("name")),
            )
            .expect("copy");
        }
        let site = Site { dir };
        site.write_config(accounts);
        site
    }

    pub fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("carbonaut.toml")
    }

    pub fn write_config(&self, accounts: &str) {
        let text = format!(
            r#"[paths]
plugin_dir = "plugins"
state_dir = "state"

[intervals]
topology_sync = "2s"
resource_metrics = "1s"
environment = "1s"

[providers.cloud]
plugin = "mock-cloud"
settings = {{ projects = 2, resources_per_project = 3 }}

[providers.meter]
plugin = "mock-meter"

[providers.grid]
plugin = "mock-grid"

[environment]
provider = "grid"

[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = "16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01"

[[auth.tokens]]
name = "dashboards"
role = "read"
sha256 = "f0fd6c09405cb6d3707d04067d8509cb924e62ae66fa02067c2bc467b0d721e4"

{accounts}"#
        );
        // Write then rename, as editors do, so the watcher never sees half a file.
        let tmp = self.dir.path().join(".carbonaut.toml.tmp");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(&tmp, self.config()).expect("move config");
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(&["--config", self.config().to_str().expect("utf-8")])
    }
}

pub const ONE_ACCOUNT: &str =
    "[accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n";

pub fn json(daemon: &Daemon, path: &str) -> serde_json::Value {
    reqwest::blocking::Client::new()
        .get(daemon.url(path))
        .bearer_auth(READ_TOKEN)
        .send()
        .expect("request")
        .json()
        .expect("JSON")
}

pub fn plugin_version(daemon: &Daemon, name: &str) -> Option<String> {
    json(daemon, "/api/v1/plugins")
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| p["version"].as_str().unwrap_or_default().to_owned())
}

pub fn wait_until(what: &str, daemon: &Daemon, check: impl Fn() -> bool) {
    for _ in 0..150 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}; log:\n{}", daemon.log());
}

pub fn last_reload(daemon: &Daemon) -> serde_json::Value {
    json(daemon, "/api/v1/reloads")[0].clone()
}

/// Scrapes `/metrics` in a loop until dropped; counts failed or empty scrapes.
struct Scraper {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    scrapes: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scraper {
    fn start(url: String) -> Scraper {
        let (stop, failures, scrapes) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (s, f, n) = (stop.clone(), failures.clone(), scrapes.clone());
        let thread = std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            while !s.load(Ordering::Relaxed) {
                let ok = client
                    .get(&url)
                    .send()
                    .ok()
                    .filter(|r| r.status().is_success())
                    .and_then(|r| r.text().ok())
                    .is_some_and(|t| t.contains("carbonaut_resource_energy_joules_total{"));
                if !ok {
                    f.fetch_add(1, Ordering::Relaxed);
                }
                n.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Scraper {
            stop,
            failures,
            scrapes,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("scraper thread");
        }
        (
            self.failures.load(Ordering::Relaxed),
            self.scrapes.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn plugins_dropped_replaced_corrupted_and_removed_while_scraping() {
    let site = Site::new(ONE_ACCOUNT);
    let daemon = site.start();
    let before = daemon.wait_for("/metrics", 60, |t| {
        metric_value(t, "carbonaut_resource_emissions_grams_total", "resource=")
            .is_some_and(|v| v > 0.0)
    });
    let energy_before = metric_value(
        &before,
        "carbonaut_resource_energy_joules_total",
        "resource=\"acme-p0-vm0-g0\"",
    )
    .expect("energy");
    let scraper = Scraper::start(daemon.url("/metrics"));

    // Replace: a newer mock-grid over the old file. The new version answers.
    std::fs::copy(MOCK_GRID_NEXT, site.plugins().join("mock-grid.wasm")).expect("replace");
    wait_until("mock-grid 0.2.0", &daemon, || {
        plugin_version(&daemon, "mock-grid").as_deref() == Some("0.2.0")
    });
    daemon.wait_for("/metrics", 30, |t| {
        metric_value(
            t,
            "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
            "location=\"DE\"",
        ) == Some(123.0)
    });
    let replaced = json(&daemon, "/api/v1/reloads");
    assert!(
        replaced
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r["outcome"] == "applied"
                && r["items"].as_array().is_some_and(|i| i
                    .iter()
                    .any(|x| x == "plugin replaced: mock-grid 0.1.0 -> 0.2.0"))),
        "{replaced}"
    );

    // Drop a broken file: rolled back, naming it; the rest keeps serving.
    std::fs::write(site.plugins().join("junk.wasm"), b"this is not wasm").expect("junk");
    wait_until("a rolled-back reload", &daemon, || {
        last_reload(&daemon)["outcome"] == "rolled-back"
    });
    let reason = last_reload(&daemon)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("junk.wasm: not a WebAssembly file"),
        "{reason}"
    );
    std::fs::remove_file(site.plugins().join("junk.wasm")).expect("remove junk");

    // Corrupt the serving plugin's file: the good version in memory keeps serving.
    let bytes = std::fs::read(MOCK_GRID_NEXT).expect("read");
    std::fs::write(
        site.plugins().join("mock-grid.wasm"),
        &bytes[..bytes.len() / 3],
    )
    .expect("truncate");
    wait_until("the truncated file refused", &daemon, || {
        let r = last_reload(&daemon);
        r["outcome"] == "rolled-back"
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.contains("mock-grid.wasm: not a valid WebAssembly component"))
    });
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.2.0")
    );

    // Remove the meter: its provider goes down with a clear error; discovery keeps working.
    std::fs::remove_file(site.plugins().join("mock-meter.wasm")).expect("remove meter");
    wait_until("the meter down", &daemon, || {
        json(&daemon, "/api/v1/status")["accounts"]["acme"]["last_collection_error"]
            .as_str()
            .is_some_and(|e| {
                e.contains("plugin mock-meter is down: plugin `mock-meter` is not loaded")
            })
    });
    // Put it back: it comes up again.
    std::fs::copy(MOCK_METER, site.plugins().join("mock-meter.wasm")).expect("restore");
    wait_until("the meter up", &daemon, || {
        json(&daemon, "/api/v1/status")["accounts"]["acme"]["last_collection_error"].is_null()
    });

    let (failures, scrapes) = scraper.finish();
    assert_eq!(
        failures, 0,
        "{failures} of {scrapes} scrapes failed or were empty"
    );
    assert!(scrapes > 20, "only {scrapes} scrapes");
    let after = daemon.get("/metrics").text().expect("metrics");
    let energy_after = metric_value(
        &after,
        "carbonaut_resource_energy_joules_total",
        "resource=\"acme-p0-vm0-g0\"",
    )
    .expect("energy");
    assert!(
        energy_after > energy_before,
        "counters continue: {energy_before} -> {energy_after}"
    );
    assert!(after.contains("carbonaut_reloads_total{outcome=\"applied\"}"));
    daemon.stop();
}

#[test]
fn config_edits_apply_or_roll_back() {
    let site = Site::new(ONE_ACCOUNT);
    let daemon = site.start();
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));

    // Add an account.
    site.write_config(&format!(
        "{ONE_ACCOUNT}[accounts.globex]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
    ));
    wait_until("globex synced", &daemon, || {
        json(&daemon, "/api/v1/topology?account=globex")["accounts"][0]["projects"]
            .as_array()
            .is_some_and(|p| p.len() == 2)
    });
    let applied = last_reload(&daemon);
    assert_eq!(applied["outcome"], "applied");
    assert_eq!(
        applied["items"],
        serde_json::json!(["account added: globex"])
    );

    // Change one provider's settings: acme's topology follows.
    let text = std::fs::read_to_string(site.config()).expect("read");
    let edited = text.replace("resources_per_project = 3", "resources_per_project = 4");
    std::fs::write(site.config(), edited).expect("edit");
    wait_until("4 resources per project", &daemon, || {
        json(&daemon, "/api/v1/topology?account=acme")["accounts"][0]["projects"][0]["resources"]
            .as_array()
            .is_some_and(|r| r.len() == 4)
    });
    assert!(
        json(&daemon, "/api/v1/reloads")
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r["items"] == serde_json::json!(["provider changed: cloud"]))
    );

    // A setting the plugin does not declare: rolled back, naming the key it meant; the
    // applied settings keep serving.
    let text = std::fs::read_to_string(site.config()).expect("read");
    std::fs::write(
        site.config(),
        text.replace("resources_per_project = 4", "resources_per_projct = 4"),
    )
    .expect("misspell");
    wait_until("the misspelt setting refused", &daemon, || {
        last_reload(&daemon)["outcome"] == "rolled-back"
    });
    let reason = last_reload(&daemon)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains(
            "provider `cloud` sets `resources_per_projct`, which its plugin `mock-cloud` does \
             not declare; did you mean `resources_per_project`?"
        ),
        "{reason}"
    );
    assert_eq!(
        json(&daemon, "/api/v1/topology?account=acme")["accounts"][0]["projects"][0]["resources"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    // A syntax error: rolled back with file:line:column; the last good config keeps serving.
    std::fs::write(
        site.config(),
        format!(
            "{}\n[accounts.broken\n",
            std::fs::read_to_string(site.config()).expect("read")
        ),
    )
    .expect("break");
    wait_until("the broken config refused", &daemon, || {
        last_reload(&daemon)["outcome"] == "rolled-back"
    });
    let reason = last_reload(&daemon)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let shown = site.config().display().to_string();
    assert!(reason.starts_with(&format!("{shown}:")), "{reason}");
    assert!(
        daemon
            .get("/metrics")
            .text()
            .expect("metrics")
            .contains("account=\"globex\"")
    );

    // SIGHUP and POST /api/v1/reload trigger the same reload.
    let pid = daemon.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    wait_until("a reload by SIGHUP", &daemon, || {
        last_reload(&daemon)["trigger"] == "sighup"
    });
    assert_eq!(
        last_reload(&daemon)["outcome"],
        "rolled-back",
        "the file is still broken"
    );
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(daemon.url("/api/v1/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .expect("reload");
    assert_eq!(resp.status(), 200);
    let record: serde_json::Value = resp.json().expect("JSON");
    assert_eq!(record["trigger"], "api");
    assert_eq!(record["outcome"], "rolled-back", "the file is still broken");
    daemon.stop();
}

/// A new version of a plugin that no longer declares a setting the config sets is refused
/// like a bad config, and the version that declared it stays in use (issue 28: settings are
/// checked at every reload, not only when the config changed).
#[test]
fn a_plugin_version_that_drops_a_configured_setting_is_refused() {
    let site = Site::new(ONE_ACCOUNT);
    std::fs::copy(MOCK_GRID_NEXT, site.plugins().join("mock-grid.wasm")).expect("next grid");
    let text = std::fs::read_to_string(site.config()).expect("read");
    let with_setting = text.replacen(
        "[providers.grid]\nplugin = \"mock-grid\"\n",
        "[providers.grid]\nplugin = \"mock-grid\"\nsettings = { intensity = 100 }\n",
        1,
    );
    assert_ne!(with_setting, text, "the site's grid provider moved");
    std::fs::write(site.config(), with_setting).expect("write");
    let daemon = site.start();
    wait_until("mock-grid 0.2.0", &daemon, || {
        plugin_version(&daemon, "mock-grid").as_deref() == Some("0.2.0")
    });

    // The older file does not declare `intensity`.
    std::fs::copy(MOCK_GRID, site.plugins().join("mock-grid.wasm")).expect("older grid");
    wait_until("the older grid refused", &daemon, || {
        last_reload(&daemon)["outcome"] == "rolled-back"
    });
    let reload = last_reload(&daemon);
    let reason = reload.to_string();
    assert!(
        reason.contains("intensity") && reason.contains("does not declare"),
        "{reload}"
    );
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.2.0")
    );
    daemon.stop();
}
