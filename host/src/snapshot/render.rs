//! Renders a snapshot's resource, location and topology metrics once per collection.

use std::collections::BTreeMap;

use super::Snapshot;
use super::exposition::{Exposition, label_set};
use super::gzip::GzipPrefix;
use crate::model::{EnergySource, ResourceKind};
use crate::state::Totals;

/// Bytes per resource in the rendered text, measured on the mock topology; sizing the buffer
/// up front avoids regrowing a multi-megabyte string.
const BYTES_PER_RESOURCE: usize = 1100;

/// The snapshot's metrics as text.
pub fn render_metrics(s: &Snapshot) -> String {
    let mut e = Exposition::with_capacity(4096 + s.topology.resource_count() * BYTES_PER_RESOURCE);
    render_into(s, &mut e);
    e.finish()
}

/// The snapshot's metrics gzipped as they are rendered, never whole as text: at 10 000
/// resources the text is about 10 MiB and the compressed form 1 MiB (BENCHMARKS.md,
/// "Footprint").
pub fn render_metrics_gzip(s: &Snapshot) -> std::io::Result<GzipPrefix> {
    let mut e = Exposition::gzip(s.topology.resource_count() * 100);
    render_into(s, &mut e);
    e.finish_gzip()
}

fn render_into(s: &Snapshot, e: &mut Exposition) {
    let resources: Vec<_> = s.topology.resources().collect();

    e.family(
        "carbonaut_resource_info",
        "gauge",
        "Static facts of a discovered resource (always 1).",
    );
    let mut vcpus = itoa::Buffer::new();
    for (a, p, r) in &resources {
        let i = &r.info;
        let vcpus = i.hardware.vcpus.map_or("", |v| vcpus.format(v));
        let location = s.location_of.get(&r.id).map_or("", String::as_str);
        let l = [
            ("account", a.name.as_str()),
            ("project", p.project.id.as_str()),
            ("resource", i.id.as_str()),
            ("id", r.id.0.as_str()),
            ("name", i.name.as_str()),
            ("kind", kind_label(i.kind)),
            ("country", i.location.country.as_deref().unwrap_or("")),
            ("region", i.location.region.as_deref().unwrap_or("")),
            ("zone", i.location.zone.as_deref().unwrap_or("")),
            ("location", location),
            ("vcpus", vcpus),
            ("cpu_model", i.hardware.cpu_model.as_deref().unwrap_or("")),
            ("provider", r.provider.as_str()),
        ];
        e.sample("carbonaut_resource_info", &l, 1.0);
    }

    // Each resource's figures, looked up once for the six families below, with the label set
    // every one of them repeats, escaped once.
    let live: Vec<Live> = resources
        .iter()
        .map(|(a, p, r)| {
            let sample = s.samples.get(&r.id);
            let counters = s.counters.get(&r.id);
            Live {
                labels: label_set(&[
                    ("account", a.name.as_str()),
                    ("project", p.project.id.as_str()),
                    ("resource", r.info.id.as_str()),
                ]),
                energy: counters.map(|c| c.energy_joules_total),
                emissions: counters.map(|c| c.emissions_grams_total),
                power: sample
                    .and_then(|x| x.power_watts)
                    .or_else(|| s.derived_power.get(&r.id).copied()),
                frequency: sample.and_then(|x| x.cpu_frequency_hertz),
                utilization: sample.and_then(|x| x.cpu_utilization_ratio),
                estimated: sample.map(|x| if x.estimated { 1.0 } else { 0.0 }),
            }
        })
        .collect();
    let families: [Family; 6] = [
        (
            "carbonaut_resource_energy_joules_total",
            "counter",
            "Energy used by the resource since it was first seen.",
            |l| l.energy,
        ),
        (
            "carbonaut_resource_emissions_grams_total",
            "counter",
            "Emissions (gCO2eq) of the resource's energy since it was first seen.",
            |l| l.emissions,
        ),
        (
            "carbonaut_resource_power_watts",
            "gauge",
            "Power draw: the provider's reading, else the average over the last interval.",
            |l| l.power,
        ),
        (
            "carbonaut_resource_cpu_frequency_hertz",
            "gauge",
            "CPU frequency at the last sample.",
            |l| l.frequency,
        ),
        (
            "carbonaut_resource_cpu_utilization_ratio",
            "gauge",
            "CPU utilisation (0 to 1) at the last sample.",
            |l| l.utilization,
        ),
        (
            "carbonaut_resource_estimated",
            "gauge",
            "1 when the last sample came from a model (no meter readable), 0 when measured.",
            |l| l.estimated,
        ),
    ];
    for (name, kind, help, value) in families {
        e.family(name, kind, help);
        for l in &live {
            if let Some(v) = value(l) {
                e.sample_with(name, &l.labels, v);
            }
        }
    }

    // Sums per project and per account: live resources plus what removed ones used, so a
    // total never goes down when the inventory shrinks (see `state::departed`).
    let mut projects: BTreeMap<(&str, &str), Totals> = BTreeMap::new();
    let mut accounts: BTreeMap<&str, (Totals, usize)> = s
        .topology
        .accounts
        .keys()
        .map(|a| (a.as_str(), (Totals::default(), 0)))
        .collect();
    for (a, p, r) in &resources {
        let c = s.counters.get(&r.id).map(Totals::of).unwrap_or_default();
        projects
            .entry((a.name.as_str(), p.project.id.as_str()))
            .or_default()
            .add(c);
        let ae = accounts.entry(a.name.as_str()).or_default();
        ae.0.add(c);
        ae.1 += 1;
    }
    for ((a, p), totals) in &s.departed {
        if let Some(p) = p {
            projects
                .entry((a.as_str(), p.as_str()))
                .or_default()
                .add(*totals);
        }
        accounts.entry(a.as_str()).or_default().0.add(*totals);
    }
    e.family(
        "carbonaut_project_energy_joules_total",
        "counter",
        "Energy of every resource the project has had, since first seen (removed ones included).",
    );
    for ((a, p), totals) in &projects {
        e.sample(
            "carbonaut_project_energy_joules_total",
            &[("account", a), ("project", p)],
            totals.energy_joules(),
        );
    }
    e.family(
        "carbonaut_project_emissions_grams_total",
        "counter",
        "Emissions of every resource the project has had, since first seen (removed ones included).",
    );
    for ((a, p), totals) in &projects {
        e.sample(
            "carbonaut_project_emissions_grams_total",
            &[("account", a), ("project", p)],
            totals.emissions_grams(),
        );
    }
    e.family(
        "carbonaut_account_energy_joules_total",
        "counter",
        "Energy of every resource the account has had, since first seen (removed ones and projects included).",
    );
    for (a, (totals, _)) in &accounts {
        e.sample(
            "carbonaut_account_energy_joules_total",
            &[("account", a)],
            totals.energy_joules(),
        );
    }
    e.family(
        "carbonaut_account_emissions_grams_total",
        "counter",
        "Emissions of every resource the account has had, since first seen (removed ones and projects included).",
    );
    for (a, (totals, _)) in &accounts {
        e.sample(
            "carbonaut_account_emissions_grams_total",
            &[("account", a)],
            totals.emissions_grams(),
        );
    }
    e.family(
        "carbonaut_topology_resources",
        "gauge",
        "Resources currently discovered per account.",
    );
    for (a, (_, n)) in &accounts {
        e.sample("carbonaut_topology_resources", &[("account", a)], *n as f64);
    }

    e.family(
        "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
        "gauge",
        "Grid carbon intensity (gCO2eq/kWh) of a location.",
    );
    for (location, status) in &s.locations {
        if let Some(mix) = &status.mix {
            e.sample(
                "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
                &[("location", location)],
                mix.carbon_intensity,
            );
        }
    }
    e.family(
        "carbonaut_location_energy_mix_ratio",
        "gauge",
        "Share (0 to 1) of each source in a location's electricity.",
    );
    for (location, status) in &s.locations {
        if let Some(mix) = &status.mix {
            for share in &mix.shares {
                e.sample(
                    "carbonaut_location_energy_mix_ratio",
                    &[
                        ("location", location),
                        ("source", source_label(share.source)),
                    ],
                    share.ratio,
                );
            }
        }
    }

    e.family(
        "carbonaut_state_quarantined_records",
        "gauge",
        "State records set aside because they could not be read (see the log; kept in the quarantine tree).",
    );
    e.sample(
        "carbonaut_state_quarantined_records",
        &[],
        s.quarantined as f64,
    );

    e.family(
        "carbonaut_plugin_up",
        "gauge",
        "1 when the plugin is loaded and its last call succeeded.",
    );
    for p in &s.plugins {
        e.sample(
            "carbonaut_plugin_up",
            &[("plugin", &p.info.name), ("version", &p.info.version)],
            if p.up { 1.0 } else { 0.0 },
        );
    }
    e.family(
        "carbonaut_plugin_memory_peak_bytes",
        "gauge",
        "Largest linear memory a call of the plugin grew to.",
    );
    for p in &s.plugins {
        e.sample(
            "carbonaut_plugin_memory_peak_bytes",
            &[("plugin", &p.info.name), ("version", &p.info.version)],
            p.peak_memory_bytes as f64,
        );
    }
    e.family(
        "carbonaut_provider_degraded",
        "gauge",
        "1 while the provider backs off after failed calls (see /api/v1/status).",
    );
    for (name, p) in &s.providers {
        let degraded = if p.health.degraded { 1.0 } else { 0.0 };
        e.sample(
            "carbonaut_provider_degraded",
            &[("provider", name), ("plugin", &p.plugin)],
            degraded,
        );
    }
}

/// A per-resource family: name, type, help, and its value from a resource's figures.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Live) -> Option<f64>,
);

/// One resource's figures, as the per-resource families print them.
struct Live {
    labels: String,
    energy: Option<f64>,
    emissions: Option<f64>,
    power: Option<f64>,
    frequency: Option<f64>,
    utilization: Option<f64>,
    estimated: Option<f64>,
}

pub fn kind_label(kind: ResourceKind) -> &'static str {
    kind.as_str()
}

pub fn source_label(source: EnergySource) -> &'static str {
    source.as_str()
}
