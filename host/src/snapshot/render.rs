//! Renders a snapshot's resource, location and topology metrics once per collection.

use std::collections::BTreeMap;

use super::Snapshot;
use super::exposition::Exposition;
use crate::runtime::bindings::{EnergySource, ResourceKind};
use crate::state::ResourceId;

/// Bytes per resource in the rendered text, measured on the mock topology; sizing the buffer
/// up front avoids regrowing a multi-megabyte string.
const BYTES_PER_RESOURCE: usize = 1100;

pub fn render_metrics(s: &Snapshot) -> String {
    let mut e = Exposition::with_capacity(4096 + s.topology.resource_count() * BYTES_PER_RESOURCE);
    let resources: Vec<_> = s.topology.resources().collect();

    e.family(
        "carbonaut_resource_info",
        "gauge",
        "Static facts of a discovered resource (always 1).",
    );
    for (a, p, r) in &resources {
        let i = &r.info;
        let vcpus = i.hardware.vcpus.map(|v| v.to_string()).unwrap_or_default();
        let location = s.location_of.get(&r.id).cloned().unwrap_or_default();
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
            ("location", location.as_str()),
            ("vcpus", vcpus.as_str()),
            ("cpu_model", i.hardware.cpu_model.as_deref().unwrap_or("")),
            ("provider", r.provider.as_str()),
        ];
        e.sample("carbonaut_resource_info", &l, 1.0);
    }

    let gauge = |e: &mut Exposition,
                 name: &str,
                 help: &str,
                 kind: &str,
                 value: &dyn Fn(&ResourceId) -> Option<f64>| {
        e.family(name, kind, help);
        for (a, p, r) in &resources {
            if let Some(v) = value(&r.id) {
                let l = [
                    ("account", a.name.as_str()),
                    ("project", p.project.id.as_str()),
                    ("resource", r.info.id.as_str()),
                ];
                e.sample(name, &l, v);
            }
        }
    };
    gauge(
        &mut e,
        "carbonaut_resource_energy_joules_total",
        "Energy used by the resource since it was first seen.",
        "counter",
        &|id| s.counters.get(id).map(|c| c.energy_joules_total),
    );
    gauge(
        &mut e,
        "carbonaut_resource_emissions_grams_total",
        "Emissions (gCO2eq) of the resource's energy since it was first seen.",
        "counter",
        &|id| s.counters.get(id).map(|c| c.emissions_grams_total),
    );
    gauge(
        &mut e,
        "carbonaut_resource_power_watts",
        "Power draw: the provider's reading, else the average over the last interval.",
        "gauge",
        &|id| {
            s.samples
                .get(id)
                .and_then(|x| x.power_watts)
                .or_else(|| s.derived_power.get(id).copied())
        },
    );
    gauge(
        &mut e,
        "carbonaut_resource_cpu_frequency_hertz",
        "CPU frequency at the last sample.",
        "gauge",
        &|id| s.samples.get(id).and_then(|x| x.cpu_frequency_hertz),
    );
    gauge(
        &mut e,
        "carbonaut_resource_cpu_utilization_ratio",
        "CPU utilisation (0 to 1) at the last sample.",
        "gauge",
        &|id| s.samples.get(id).and_then(|x| x.cpu_utilization_ratio),
    );
    gauge(
        &mut e,
        "carbonaut_resource_estimated",
        "1 when the last sample came from a model (no meter readable), 0 when measured.",
        "gauge",
        &|id| {
            s.samples
                .get(id)
                .map(|x| if x.estimated { 1.0 } else { 0.0 })
        },
    );

    // Sums per project and per account.
    let mut projects: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
    let mut accounts: BTreeMap<&str, (f64, f64, usize)> = s
        .topology
        .accounts
        .keys()
        .map(|a| (a.as_str(), (0.0, 0.0, 0)))
        .collect();
    for (a, p, r) in &resources {
        let c = s.counters.get(&r.id).copied().unwrap_or_default();
        let pe = projects
            .entry((a.name.as_str(), p.project.id.as_str()))
            .or_default();
        pe.0 += c.energy_joules_total;
        pe.1 += c.emissions_grams_total;
        let ae = accounts.entry(a.name.as_str()).or_default();
        ae.0 += c.energy_joules_total;
        ae.1 += c.emissions_grams_total;
        ae.2 += 1;
    }
    e.family(
        "carbonaut_project_energy_joules_total",
        "counter",
        "Energy of the project's current resources since first seen.",
    );
    for ((a, p), (joules, _)) in &projects {
        e.sample(
            "carbonaut_project_energy_joules_total",
            &[("account", a), ("project", p)],
            *joules,
        );
    }
    e.family(
        "carbonaut_project_emissions_grams_total",
        "counter",
        "Emissions of the project's current resources since first seen.",
    );
    for ((a, p), (_, grams)) in &projects {
        e.sample(
            "carbonaut_project_emissions_grams_total",
            &[("account", a), ("project", p)],
            *grams,
        );
    }
    e.family(
        "carbonaut_account_energy_joules_total",
        "counter",
        "Energy of the account's current resources since first seen.",
    );
    for (a, (joules, _, _)) in &accounts {
        e.sample(
            "carbonaut_account_energy_joules_total",
            &[("account", a)],
            *joules,
        );
    }
    e.family(
        "carbonaut_account_emissions_grams_total",
        "counter",
        "Emissions of the account's current resources since first seen.",
    );
    for (a, (_, grams, _)) in &accounts {
        e.sample(
            "carbonaut_account_emissions_grams_total",
            &[("account", a)],
            *grams,
        );
    }
    e.family(
        "carbonaut_topology_resources",
        "gauge",
        "Resources currently discovered per account.",
    );
    for (a, (_, _, n)) in &accounts {
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
    e.finish()
}

pub fn kind_label(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Vm => "vm",
        ResourceKind::BareMetal => "bare-metal",
        ResourceKind::Host => "host",
        ResourceKind::Container => "container",
        ResourceKind::Other => "other",
    }
}

pub fn source_label(source: EnergySource) -> &'static str {
    match source {
        EnergySource::Coal => "coal",
        EnergySource::Gas => "gas",
        EnergySource::Oil => "oil",
        EnergySource::Nuclear => "nuclear",
        EnergySource::Hydro => "hydro",
        EnergySource::Wind => "wind",
        EnergySource::Solar => "solar",
        EnergySource::Biomass => "biomass",
        EnergySource::Geothermal => "geothermal",
        EnergySource::Battery => "battery",
        EnergySource::HydroStorage => "hydro-storage",
        EnergySource::Unknown => "unknown",
    }
}
