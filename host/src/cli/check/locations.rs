//! `plugin check` for an environment plugin: the zones asked as the daemon asks them
//! (`carbonaut::collect::isolate_refusals`), and one line per zone saying what became of it.

use std::time::Instant;

use carbonaut::collect::isolate_refusals;
use carbonaut_model::{LocationQuery, Settings};
use carbonaut_plugins::Plugin;
use carbonaut_runtime::Grants;

use super::{bounded, ms};

/// Asks `locations` and prints each one's outcome; returns 1 when any call failed or any
/// zone was refused (else 0), the items the host's checks rejected, and the intensity of the
/// first priced zone.
pub async fn check(
    plugin: &Plugin,
    grants: &Grants,
    settings: &Settings,
    locations: Vec<LocationQuery>,
) -> (usize, u64, Option<f64>) {
    let ids: Vec<String> = locations.iter().map(|q| q.id.clone()).collect();
    let started = Instant::now();
    let asked = isolate_refusals(vec![locations], |batch: Vec<LocationQuery>| async move {
        plugin.collect_energy_mix(grants, settings, &batch).await
    })
    .await;
    let took = started.elapsed();
    let priced = asked.mixes.len();
    println!(
        "environment.collect ({} location{}: {}): {} in {}, {} call(s); {priced} priced, {} refused",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        ids.join(", "),
        if asked.failed.is_some() {
            "FAILED"
        } else {
            "ok"
        },
        ms(took),
        asked.calls,
        asked.refused.len(),
    );
    for id in &ids {
        println!("  {}", outcome(id, &asked));
    }
    for (reason, (count, example)) in &asked.rejected.by_reason {
        println!(
            "  REJECTED by the host's checks: {count} x {} (e.g. {example}); see docs/plugin-authors.md, \"What the host accepts\"",
            reason.as_str()
        );
    }
    let failed = usize::from(asked.failed.is_some() || !asked.refused.is_empty());
    let rejected: u64 = asked
        .rejected
        .by_reason
        .values()
        .map(|(count, _)| *count)
        .sum();
    // The first priced zone prices the sample's emissions line.
    let priced = ids
        .iter()
        .find_map(|id| asked.mixes.iter().find(|m| &m.location_id == id))
        .map(|m| m.carbon_intensity);
    (failed, rejected, priced)
}

/// One zone's line: `DE: priced 302 gCO2eq/kWh (lifecycle, estimated) {...}`.
fn outcome(id: &str, asked: &carbonaut::collect::Isolated) -> String {
    if let Some(mix) = asked.mixes.iter().find(|m| m.location_id == id) {
        let json = serde_json::to_string(mix).unwrap_or_else(|e| format!("({e})"));
        return format!(
            "{id}: priced, {} gCO2eq/kWh{}: {}",
            mix.carbon_intensity,
            if mix.estimated { " (estimated)" } else { "" },
            bounded(&json)
        );
    }
    if let Some((_, message)) = asked.refused.iter().find(|(r, _)| r == id) {
        return format!(
            "{id}: REFUSED (the daemon asks it again alone after a backoff; the other zones stay priced): {message}"
        );
    }
    if let Some((error, unasked)) = &asked.failed
        && unasked.iter().any(|u| u == id)
    {
        return format!("{id}: FAILED: {error}");
    }
    format!(
        "{id}: left out (the plugin answered without it: a zone it does not know, or no figure)"
    )
}
