//! The demo as a user runs it: the real binary, the quickstart config (mock inventory and
//! meter, static-grid's real-world intensities), /metrics checked by promtool, the topology
//! API read, and a restart that loses nothing.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::support::*;

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");

/// Ember's yearly intensity of a country, from the file static-grid ships.
fn ember_intensity(alpha3: &str) -> f64 {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/static-grid/ember-average-carbon-intensity.json"
    ))
    .expect("data file");
    let data: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    data[alpha3]["emissions_intensity_gco2_per_kwh"]
        .as_f64()
        .expect("an intensity")
}

#[test]
fn quickstart_serves_metrics_that_promtool_accepts_and_the_topology() {
    let promtool = require_tool("promtool");
    let state = tempfile::tempdir().expect("temp dir");
    let daemon = Daemon::start(&[
        "--config",
        QUICKSTART,
        "--state-dir",
        state.path().to_str().expect("utf-8"),
    ]);
    // Emissions need two samples (5 s apart in the quickstart) and a known intensity.
    let text = daemon.wait_for("/metrics", 60, |t| {
        metric_value(t, "carbonaut_resource_emissions_grams_total", "resource=")
            .is_some_and(|v| v > 0.0)
    });

    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = check.wait_with_output().expect("promtool result");
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {complaints}"
    );

    // 3 x 10 resources for acme and 2 x 5 for globex.
    assert_eq!(
        metric_value(&text, "carbonaut_topology_resources", "account=\"acme\""),
        Some(30.0)
    );
    assert_eq!(
        metric_value(&text, "carbonaut_topology_resources", "account=\"globex\""),
        Some(10.0)
    );
    assert_eq!(
        series(&text, "carbonaut_resource_energy_joules_total").len(),
        40
    );
    // mock-meter says its readings are measured: every resource is marked 0, not estimated.
    let estimated = series(&text, "carbonaut_resource_estimated");
    assert_eq!(estimated.len(), 40);
    assert!(
        estimated.iter().all(|line| line.ends_with(" 0")),
        "{estimated:?}"
    );
    for family in [
        "carbonaut_resource_power_watts",
        "carbonaut_resource_cpu_frequency_hertz",
        "carbonaut_resource_cpu_utilization_ratio",
        "carbonaut_resource_info",
        "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
        "carbonaut_plugin_calls_total",
        "carbonaut_plugin_call_duration_seconds_bucket",
        "carbonaut_plugin_up",
    ] {
        assert!(!series(&text, family).is_empty(), "no {family} series");
    }
    assert!(text.contains("carbonaut_plugin_calls_total{plugin=\"mock-meter\",operation=\"collect-samples\",outcome=\"ok\"}"));
    // The quickstart's grid is static-grid: Ember's yearly averages, which have no mix by source.
    assert!(
        series(&text, "carbonaut_location_energy_mix_ratio").is_empty(),
        "static-grid reports no energy mix"
    );
    // The quickstart maps Germany's region to the zone "DE" and us-east-1 to "US"; the other
    // regions are found by their country. Each intensity is Ember's, read from the data file.
    for (location, alpha3) in [
        ("DE", "DEU"),
        ("US", "USA"),
        ("FR", "FRA"),
        ("SE", "SWE"),
        ("IN", "IND"),
        ("BR", "BRA"),
    ] {
        assert_eq!(
            metric_value(
                &text,
                "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
                &format!("location=\"{location}\"")
            ),
            Some(ember_intensity(alpha3)),
            "{location}"
        );
    }
    assert!(text.contains("carbonaut_plugin_calls_total{plugin=\"static-grid\",operation=\"collect-environment\",outcome=\"ok\"}"));

    let topology: serde_json::Value = daemon
        .get("/api/v1/topology")
        .json()
        .expect("topology JSON");
    let accounts = topology["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["name"], "acme");
    assert_eq!(
        accounts[0]["projects"].as_array().expect("projects").len(),
        3
    );
    let first = &accounts[0]["projects"][0]["resources"][0];
    assert_eq!(first["kind"], "vm");
    let id = first["id"].as_str().expect("id");
    let detail: serde_json::Value = daemon
        .get(&format!("/api/v1/resources/{id}"))
        .json()
        .expect("resource JSON");
    assert_eq!(detail["account"], "acme");
    assert!(detail["emissions_grams_total"].as_f64().expect("emissions") > 0.0);
    assert_eq!(daemon.get("/readyz").status(), 200);
    let log = daemon.stop();
    assert!(log.contains("stopped; state flushed"), "{log}");
}

#[test]
fn a_restart_continues_counters_and_keeps_the_topology() {
    let state = tempfile::tempdir().expect("temp dir");
    let args = [
        "--config",
        QUICKSTART,
        "--state-dir",
        state.path().to_str().expect("utf-8"),
    ];
    let first = Daemon::start(&args);
    let before = first.wait_for("/metrics", 60, |t| {
        metric_value(t, "carbonaut_resource_emissions_grams_total", "resource=")
            .is_some_and(|v| v > 0.0)
    });
    let topology_before: serde_json::Value = first.get("/api/v1/topology").json().expect("JSON");
    first.stop();

    let second = Daemon::start(&args);
    // Served from the state before any new plugin call completes.
    let after = second.get("/metrics").text().expect("metrics");
    let label = "resource=\"acme-p0-vm0-g0\"";
    let energy_before = metric_value(&before, "carbonaut_resource_energy_joules_total", label)
        .expect("energy before");
    let energy_after = metric_value(&after, "carbonaut_resource_energy_joules_total", label)
        .expect("energy after");
    assert!(
        energy_after >= energy_before,
        "energy went backwards: {energy_before} -> {energy_after}"
    );
    let emissions_before =
        metric_value(&before, "carbonaut_resource_emissions_grams_total", label).expect("before");
    // After a new sample the counters go on from where they were, not from zero.
    let later = second.wait_for("/metrics", 60, |t| {
        metric_value(t, "carbonaut_resource_emissions_grams_total", label)
            .is_some_and(|v| v > emissions_before)
    });
    assert_eq!(
        series(&later, "carbonaut_resource_energy_joules_total").len(),
        40,
        "no duplicate resources"
    );
    let topology_after: serde_json::Value = second.get("/api/v1/topology").json().expect("JSON");
    let ids = |t: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = t["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["projects"].as_array().into_iter().flatten())
            .flat_map(|p| p["resources"].as_array().into_iter().flatten())
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&topology_before), ids(&topology_after));
    assert_eq!(ids(&topology_after).len(), 40);
    assert_eq!(
        topology_before["accounts"][0]["first_seen_ms"],
        topology_after["accounts"][0]["first_seen_ms"],
        "first-seen times survive the restart"
    );
    second.stop();
}
