//! Crash safety: the host is killed with SIGKILL at varied points during sync and collection,
//! fifty times. Each time the state opens, the counters it serves never went backwards, and
//! the topology has every resource once.

use std::time::Duration;

use crate::reload::Site;
use crate::support::*;

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
