//! Several contract versions in one daemon: plugins built against the frozen
//! `carbonaut:provider@0.1.0` (tests/guests/contract-v0-1) and `@0.2.0` (contract-v0-2) serve
//! discovery, resource metrics and the grid next to 0.3.0 plugins, each used by the others'
//! accounts, and all answer in /metrics. A 0.1.0 plugin has no `needs`, so it is granted
//! nothing a config offers.

use std::path::Path;

use crate::support::*;

const CONTRACT_V0_1: &str = env!("CARBONAUT_GUEST_CONTRACT_V0_1");
const CONTRACT_V0_2: &str = env!("CARBONAUT_GUEST_CONTRACT_V0_2");

fn config(plugins: &Path) -> String {
    format!(
        r#"[paths]
plugin_dir = {plugins:?}
state_dir = "state"

[intervals]
topology_sync = "2s"
resource_metrics = "1s"
environment = "1s"

[providers.cloud]
plugin = "mock-cloud"
settings = {{ projects = 1, resources_per_project = 2 }}

[providers.meter]
plugin = "mock-meter"

[providers.legacy]
plugin = "legacy-site"
settings = {{ watts = 40 }}
# Offered, never granted: a 0.1.0 plugin cannot ask for it.
allow_http = ["http://127.0.0.1:9"]
key_value = true

[providers.older]
plugin = "older-site"

[environment]
provider = "legacy"

# A 0.1.0 inventory measured by a 0.3.0 meter, the reverse, and a 0.2.0 inventory measured
# by a 0.2.0 meter.
[accounts.old]
discovery = "legacy"
resource_metrics = "meter"

[accounts.new]
discovery = "cloud"
resource_metrics = "legacy"

[accounts.middle]
discovery = "older"
resource_metrics = "older"
"#,
        plugins = plugins.display().to_string()
    )
}

#[test]
fn plugins_of_two_contract_versions_run_side_by_side() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins");
    for p in [MOCK_CLOUD, MOCK_METER, CONTRACT_V0_1, CONTRACT_V0_2] {
        std::fs::copy(p, plugins.join(Path::new(p).file_name().expect("name"))).expect("copy");
    }
    let file = dir.path().join("carbonaut.toml");
    std::fs::write(&file, config(&plugins)).expect("config");
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);

    let metrics = daemon.wait_for("/metrics", 60, |t| {
        metric_value(
            t,
            "carbonaut_resource_energy_joules_total",
            "resource=\"old-project-host-1\"",
        )
        .is_some_and(|v| v > 0.0)
            && metric_value(
                t,
                "carbonaut_resource_emissions_grams_total",
                "resource=\"old-project-host-1\"",
            )
            .is_some_and(|v| v > 0.0)
            && metric_value(
                t,
                "carbonaut_resource_emissions_grams_total",
                "resource=\"older-project-host-1\"",
            )
            .is_some_and(|v| v > 0.0)
    });
    let info = series(&metrics, "carbonaut_plugin_info");
    assert!(
        info.iter()
            .any(|l| l.contains("plugin=\"legacy-site\"") && l.contains("wit_version=\"0.1.0\"")),
        "{info:?}"
    );
    assert!(
        info.iter()
            .any(|l| l.contains("plugin=\"mock-meter\"") && l.contains("wit_version=\"0.3.0\"")),
        "{info:?}"
    );
    assert!(
        info.iter()
            .any(|l| l.contains("plugin=\"older-site\"") && l.contains("wit_version=\"0.2.0\"")),
        "{info:?}"
    );
    // The 0.3.0 cloud's resources, measured by the 0.1.0 plugin (40 W from its settings), and
    // the 0.2.0 plugin's own hosts at its 30 W.
    let metrics = daemon.wait_for("/metrics", 30, |t| {
        let power = series(t, "carbonaut_resource_power_watts");
        power
            .iter()
            .any(|l| l.contains("account=\"new\"") && l.ends_with(" 40"))
            && power
                .iter()
                .any(|l| l.contains("account=\"middle\"") && l.ends_with(" 30"))
    });
    // The grid is the 0.1.0 plugin's: 321 g/kWh.
    let intensity = series(
        &metrics,
        "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
    );
    assert!(
        !intensity.is_empty() && intensity.iter().all(|l| l.ends_with(" 321")),
        "{intensity:?}"
    );
    for plugin in ["legacy-site", "older-site", "mock-cloud", "mock-meter"] {
        assert_eq!(
            metric_value(
                &metrics,
                "carbonaut_plugin_up",
                &format!("plugin=\"{plugin}\"")
            ),
            Some(1.0),
            "{plugin}"
        );
    }

    // Granted nothing: a 0.1.0 plugin has no needs to intersect the offer with.
    let status: serde_json::Value = daemon.get("/api/v1/status").json().expect("status");
    let granted = &status["providers"]["legacy"]["granted"];
    assert_eq!(granted["http"], serde_json::json!([]), "{granted}");
    assert_eq!(granted["key_value"], false, "{granted}");

    // The API lists every version and says which ones this host runs.
    let response = daemon.get("/api/v1/plugins");
    assert_eq!(
        response.headers()["x-carbonaut-plugin-contracts"],
        "carbonaut:provider 0.1, 0.2, 0.3"
    );
    let list: serde_json::Value = response.json().expect("plugins");
    let legacy = list
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "legacy-site")
        .expect("legacy-site listed");
    assert_eq!(legacy["wit_version"], "0.1.0");
    // Its `log` import (0.1.0's) reaches the host's log.
    let log = daemon.stop();
    assert!(log.contains("listing projects"), "{log}");
}

#[test]
fn the_version_names_the_supported_contracts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .arg("--version")
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "carbonaut {} (plugin contract carbonaut:provider 0.1, 0.2, 0.3)",
            env!("CARGO_PKG_VERSION")
        )
    );
}
