//! Crash safety: the host is killed with SIGKILL at varied points during sync and collection,
//! fifty times. Each time the state opens, the counters it serves never went backwards, and
//! the topology has every resource once. And once inside a collection's save, between its
//! history and its counters (held there by a `fault-injection` pause): the history then still
//! sums to the counters, no interval counted twice.

use std::time::Duration;

use crate::reload::{ONE_ACCOUNT, Site};
use crate::reports::{close, dates, fast, freeze_meter, report, sum, wait_authed};
use crate::support::*;

/// What the save's pause logs (`carbonaut_store::state::gate`'s `fault::save_pause`).
const PAUSED: &str = "pauses between its history and its counters";

#[test]
fn fifty_sigkills_lose_nothing_committed() {
    let site = Site::new(
        "[accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
         [accounts.globex]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
    );
    // Collect and sync as often as allowed, so kills land inside both.
    let text = std::fs::read_to_string(site.config()).expect("read");
    let fast = text
        .replace("topology_sync = \"2s\"", "topology_sync = \"150ms\"")
        .replace("resource_metrics = \"1s\"", "resource_metrics = \"100ms\"");
    std::fs::write(site.config(), fast).expect("write");
    let label = "resource=\"acme-p1-vm2-g0\"";
    let mut floor = 0.0_f64;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..50 {
        let daemon = site.start();
        // What the restarted host serves comes from the state alone (before any new sample
        // completes, it is exactly the stored counters).
        let text = daemon.get("/metrics").text().expect("metrics");
        if let Some(energy) = metric_value(&text, "carbonaut_resource_energy_joules_total", label) {
            assert!(
                energy >= floor,
                "round {round}: energy went backwards from {floor} to {energy}"
            );
            floor = energy;
        }
        let resources = series(&text, "carbonaut_resource_info").len();
        assert!(
            resources == 0 || resources == 12,
            "round {round}: {resources} resources, expected 12"
        );
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 700));
        let seen = daemon.get("/metrics").text().expect("metrics");
        if let Some(energy) = metric_value(&seen, "carbonaut_resource_energy_joules_total", label) {
            // Served values were stored and flushed before they were published.
            floor = floor.max(energy);
        }
        drop(daemon); // SIGKILL
    }
    assert!(floor > 0.0, "counters never advanced in fifty rounds");
}

#[test]
fn a_kill_inside_a_save_counts_no_interval_twice() {
    let site = Site::new(ONE_ACCOUNT);
    fast(&site);
    let config = site.config();
    let args = ["--config", config.to_str().expect("utf-8")];
    // Every save of this run pauses 4 s between the history's part and the counters' part.
    let daemon = Daemon::start_with_env(&args, &[("CARBONAUT_FAULT_SAVE_PAUSE", "4s")]);
    let energy = |d: &Daemon| {
        let metrics = d.get("/metrics").text().expect("metrics");
        sum(&metrics, "carbonaut_account_energy_joules_total")
    };
    // Energy is served once a save after the first reading finished (the first only sets the
    // counters' starting point); the save after it holds an interval of energy.
    daemon.wait_for("/metrics", 60, |t| {
        sum(t, "carbonaut_account_energy_joules_total") > 0.0
    });
    let stored = energy(&daemon);
    let seen = daemon.log().matches(PAUSED).count();
    // A save paused.
    daemon.wait_for_log(30, |log| log.matches(PAUSED).count() > seen);
    // sled's background flusher (every 500 ms) has written whatever the save applied before
    // the pause; the kill lands 2.5 s before the pause ends.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        daemon.log().matches(PAUSED).count() == seen + 1,
        "the kill must land inside the pause"
    );
    drop(daemon); // SIGKILL

    // Restarted without the pause: it resumes from the stored counters and saves again.
    let daemon = site.start();
    daemon.wait_for("/metrics", 30, |t| {
        sum(t, "carbonaut_account_energy_joules_total") > stored
    });
    daemon.stop();

    // With the meter frozen, the counters served are the stored ones, as is the history.
    freeze_meter(&site);
    let daemon = site.start();
    wait_authed(&daemon, "/api/v1/status", |t| {
        t.contains("frozen-for-the-test")
    });
    let metrics = daemon.get("/metrics").text().expect("metrics");
    let joules = sum(&metrics, "carbonaut_account_energy_joules_total");
    let grams = sum(&metrics, "carbonaut_account_emissions_grams_total");
    assert!(joules > stored && grams > 0.0, "{metrics}");
    let (from, to) = dates();
    for group_by in ["account", "resource"] {
        let r = report(
            &daemon,
            &format!("from={from}&to={to}&group_by={group_by}&step=hour"),
        );
        let kwh = r["totals"]["energy_kwh"].as_f64().expect("energy");
        let kg = r["totals"]["emissions_kgco2e"].as_f64().expect("emissions");
        assert!(
            close(kwh * 3.6e6, joules),
            "by {group_by}: the history holds {} J, the counters {joules} J",
            kwh * 3.6e6
        );
        assert!(
            close(kg * 1000.0, grams),
            "by {group_by}: the history holds {} g, the counters {grams} g",
            kg * 1000.0
        );
    }
    daemon.stop();
}
