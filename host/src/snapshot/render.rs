//! Renders a snapshot's resource, location and topology metrics once per collection.

use std::collections::BTreeMap;

use super::Snapshot;
use crate::exposition::gzip::GzipPrefix;
use crate::exposition::{Exposition, push_label_set};
use carbonaut_model::{Component, EnergySource, ResourceKind};
use carbonaut_store::state::{AccountNode, Counters, ProjectNode, ResourceRecord, Totals};

/// Bytes per resource in the rendered text, measured on the mock topology; sizing the buffer
/// up front avoids regrowing a multi-megabyte string.
const BYTES_PER_RESOURCE: usize = 1100;

/// Resources per render thread: below twice this many, `/metrics` is rendered on one
/// thread. A judgement, not measured: a part should be worth a thread's spawn and its own
/// compressor.
const RESOURCES_PER_THREAD: usize = 5_000;

/// The snapshot's metrics as text.
pub fn render_metrics(s: &Snapshot) -> String {
    let mut e = Exposition::with_capacity(4096 + s.topology.resource_count() * BYTES_PER_RESOURCE);
    let resources: Vec<Row> = s.topology.resources().collect();
    resource_families(s, &resources, true, &mut e);
    totals_and_the_rest(s, &resources, &mut e);
    e.finish()
}

/// The snapshot's metrics gzipped as they are rendered, never whole as text: at 10 000
/// resources the text is about 10 MiB and the compressed form 1 MiB (BENCHMARKS.md,
/// "Footprint"). Large inventories are rendered and compressed a part of the resources per
/// core: each part's share of a family is a segment of its own ([`Exposition::end_section`]),
/// and the segments are put in family order afterwards.
pub fn render_metrics_gzip(s: &Snapshot) -> std::io::Result<GzipPrefix> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let parts = (s.topology.resource_count() / RESOURCES_PER_THREAD).clamp(1, threads.min(8));
    render_metrics_gzip_in(s, parts)
}

/// [`render_metrics_gzip`] with the resources split in `parts`, each on a thread of its own.
fn render_metrics_gzip_in(s: &Snapshot, parts: usize) -> std::io::Result<GzipPrefix> {
    let resources: Vec<Row> = s.topology.resources().collect();
    let per_part = resources.len().div_ceil(parts.max(1)).max(1);
    let slices: Vec<&[Row]> = if resources.is_empty() {
        vec![&[]]
    } else {
        resources.chunks(per_part).collect()
    };
    let render_part = |slice: &[Row], first: bool| {
        let mut e = Exposition::gzip(slice.len() * 100 / RESOURCE_FAMILIES);
        resource_families(s, slice, first, &mut e);
        e.finish_sections()
    };
    let (parts, rest) = std::thread::scope(|scope| {
        let others: Vec<_> = slices[1..]
            .iter()
            .map(|slice| scope.spawn(|| render_part(slice, false)))
            .collect();
        let mut parts = vec![render_part(slices[0], true)];
        let mut e = Exposition::gzip(64 << 10);
        totals_and_the_rest(s, &resources, &mut e);
        let rest = e.finish_sections();
        for other in others {
            parts.push(
                other
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a render thread panicked"))),
            );
        }
        (parts, rest)
    });
    let mut parts = parts
        .into_iter()
        .map(|part| part.map(Vec::into_iter))
        .collect::<std::io::Result<Vec<_>>>()?;
    // Family by family, each part's segment of it in the parts' order.
    let mut segments = Vec::with_capacity(parts.len() * RESOURCE_FAMILIES + 1);
    for _ in 0..RESOURCE_FAMILIES {
        for part in &mut parts {
            segments.extend(part.next());
        }
    }
    segments.extend(rest?);
    Ok(GzipPrefix::join(segments))
}

/// A resource with its account and project, as the topology lists them.
type Row<'a> = (&'a AccountNode, &'a ProjectNode, &'a ResourceRecord);

/// Sections [`resource_families`] ends: the info family and the seven of [`Live`].
const RESOURCE_FAMILIES: usize = 11;

/// The per-resource families for `resources`, each ended as a section; `headers`: the part
/// that comes first prints each family's HELP and TYPE.
fn resource_families(s: &Snapshot, resources: &[Row], headers: bool, e: &mut Exposition) {
    if headers {
        e.family(
            "carbonaut_resource_info",
            "gauge",
            "Static facts of a discovered resource (always 1).",
        );
    }
    let mut vcpus = itoa::Buffer::new();
    for (a, p, r) in resources {
        let i = &r.info;
        let vcpus = i.hardware.vcpus.map_or("", |v| vcpus.format(v));
        let location = s.location_of.get(&r.id).map_or("", String::as_str);
        let l = [
            ("account", a.name.as_str()),
            ("project", p.project.id.as_str()),
            ("resource", i.id.as_str()),
            ("id", r.id.as_str()),
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
    e.end_section();

    // Each resource's figures, looked up once for the six families below, with the label set
    // every one of them repeats, escaped once (all of them in one string).
    let mut label_sets = String::with_capacity(resources.len() * 64);
    let live: Vec<Live> = resources
        .iter()
        .map(|(a, p, r)| {
            let sample = s.samples.get(&r.id);
            let counters = s.counters.get(&r.id);
            // A reading refused or missing for too long: the gauges would repeat a value that
            // no longer holds, so they go (the counters stay: they are totals).
            let age_ms = sample.map(|x| s.taken_at_ms.saturating_sub(x.read_at));
            let stale = age_ms
                .zip(s.stale_after_ms)
                .is_some_and(|(age, limit)| age > limit);
            let sample = sample.filter(|_| !stale);
            let start = label_sets.len();
            push_label_set(
                &mut label_sets,
                &[
                    ("account", a.name.as_str()),
                    ("project", p.project.id.as_str()),
                    ("resource", r.info.id.as_str()),
                ],
            );
            Live {
                labels: start..label_sets.len(),
                energy: counters.map(|c| c.energy_joules_total),
                emissions: counters.map(|c| c.emissions_grams_total),
                // Only where there is an overhead or an embodied share: most resources of a
                // metered site have neither, and a series per resource costs every scrape.
                facility: counters
                    .filter(|c| c.overhead_joules_total() > 0.0)
                    .map(Counters::facility_joules_total),
                embodied: counters.and_then(Counters::embodied_grams_total),
                components: counters
                    .and_then(|c| c.footprint.as_ref())
                    .map(|f| f.component_joules_total),
                power: sample.and_then(|x| {
                    x.power_watts
                        .or_else(|| s.derived_power.get(&r.id).copied())
                }),
                frequency: sample.and_then(|x| x.cpu_frequency_hertz),
                utilization: sample.and_then(|x| x.cpu_utilization_ratio),
                estimated: sample.map(|x| if x.estimated { 1.0 } else { 0.0 }),
                age: age_ms.map(|ms| ms as f64 / 1000.0),
            }
        })
        .collect();
    let families: [Family; RESOURCE_FAMILIES - 2] = [
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
            "carbonaut_resource_facility_energy_joules_total",
            "counter",
            "Energy of the resource at the data centre's meter: IT energy times the PUE of its \
             location ([footprint] pue), summed as it was at each interval. Only for resources \
             with an overhead.",
            |l| l.facility,
        ),
        (
            "carbonaut_resource_embodied_emissions_grams_total",
            "counter",
            "The resource's share of its machine's manufacturing emissions (gCO2eq), after the \
             SCI: TE x (time watched / EL) x (its share of the machine), from the estimation \
             provider's data. Only for resources the model knows.",
            |l| l.embodied,
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
        (
            "carbonaut_resource_sample_age_seconds",
            "gauge",
            "Seconds between the latest accepted sample's read_at and this collection; grows \
             while readings are refused or missing, and past [intervals] stale_after intervals \
             the resource's power, CPU and estimated gauges are dropped.",
            |l| l.age,
        ),
    ];
    for (name, kind, help, value) in families {
        if headers {
            e.family(name, kind, help);
        }
        for l in &live {
            if let Some(v) = value(l) {
                e.sample_with(name, &label_sets[l.labels.clone()], v);
            }
        }
        e.end_section();
    }
    let name = "carbonaut_resource_component_energy_joules_total";
    if headers {
        e.family(
            name,
            "counter",
            "IT energy of one component of the resource (cpu, dram, gpu, other), where the meter \
             or the model tells components apart. Part of carbonaut_resource_energy_joules_total.",
        );
    }
    let mut with_component = String::new();
    for l in &live {
        for component in Component::ALL {
            let Some(v) = l.components.map(|c| c[component.index()]) else {
                continue;
            };
            if v > 0.0 {
                // The resource's label set with `component` added before its closing brace.
                let set = &label_sets[l.labels.clone()];
                with_component.clear();
                with_component.push_str(&set[..set.len() - 1]);
                with_component.push_str(",component=\"");
                with_component.push_str(component.as_str());
                with_component.push_str("\"}");
                e.sample_with(name, &with_component, v);
            }
        }
    }
    e.end_section();
}

/// Project, account, location, plugin and provider families, after the resources'.
fn totals_and_the_rest(s: &Snapshot, resources: &[Row], e: &mut Exposition) {
    // Sums per project and per account: live resources plus what removed ones used, so a
    // total never goes down when the inventory shrinks (see `state::departed`).
    let mut projects: BTreeMap<(&str, &str), Totals> = BTreeMap::new();
    let mut accounts: BTreeMap<&str, (Totals, usize)> = s
        .topology
        .accounts
        .keys()
        .map(|a| (a.as_str(), (Totals::default(), 0)))
        .collect();
    for (a, p, r) in resources {
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
    let totals: [TotalFamily; 2] = [
        (
            "facility_energy_joules_total",
            "Facility energy (IT energy times PUE) of every resource the {} has had.",
            Totals::facility_joules,
        ),
        (
            "embodied_emissions_grams_total",
            "Manufacturing emissions (gCO2eq) of every resource the {} has had, for the time \
             each was watched; apart from the operational emissions.",
            Totals::embodied_grams,
        ),
    ];
    for (suffix, help, value) in totals {
        let name = format!("carbonaut_project_{suffix}");
        e.family(&name, "counter", &help.replace("{}", "project"));
        for ((a, p), totals) in &projects {
            e.sample(&name, &[("account", a), ("project", p)], value(totals));
        }
        let name = format!("carbonaut_account_{suffix}");
        e.family(&name, "counter", &help.replace("{}", "account"));
        for (a, (totals, _)) in &accounts {
            e.sample(&name, &[("account", a)], value(totals));
        }
    }
    e.family(
        "carbonaut_resources_without_embodied",
        "gauge",
        "Resources of the account with no manufacturing-emission figure: the estimation \
         provider knows nothing about them, or none is configured ([footprint] estimation).",
    );
    for (a, status) in &s.accounts {
        if let Some(n) = status.resources_without_embodied {
            e.sample(
                "carbonaut_resources_without_embodied",
                &[("account", a)],
                n as f64,
            );
        }
    }
    e.family(
        "carbonaut_resources_modelled",
        "gauge",
        "Resources of the account whose power the estimation provider modelled, no meter \
         reading them (their samples are marked estimated).",
    );
    for (a, status) in &s.accounts {
        if let Some(n) = status.modelled_resources {
            e.sample("carbonaut_resources_modelled", &[("account", a)], n as f64);
        }
    }
    e.family(
        "carbonaut_footprint_pue",
        "gauge",
        "Data-centre overhead (facility energy over IT energy) applied to resources by cloud, \
         cloud/region or default ([footprint] pue; CCF's defaults for aws, gcp and azure).",
    );
    for (key, pue) in &s.pue {
        e.sample("carbonaut_footprint_pue", &[("key", key)], *pue);
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
    let name = "carbonaut_location_carbon_intensity_forecast_grams_per_kilowatt_hour";
    e.family(
        name,
        "gauge",
        "The environment provider's forecast of a location's grid intensity (gCO2eq/kWh) 1, 6 \
         and 24 hours after this collection.",
    );
    for (location, forecast) in &s.forecasts {
        for (horizon, hours) in [("1h", 1), ("6h", 6), ("24h", 24)] {
            let at = s.taken_at_ms + hours * 3_600_000;
            if let Some(p) = forecast
                .points
                .iter()
                .find(|p| p.starts_at <= at && at < p.starts_at + p.duration_ms)
            {
                e.sample(
                    name,
                    &[("location", location), ("horizon", horizon)],
                    p.carbon_intensity,
                );
            }
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
        "carbonaut_location_environment_outcome",
        "gauge",
        "1 for each location's last outcome with the environment provider: priced, left_out, refused (the provider refused it; asked again alone after a backoff) or failed.",
    );
    for (location, status) in &s.locations {
        if let Some(o) = &status.outcome {
            e.sample(
                "carbonaut_location_environment_outcome",
                &[
                    ("location", location),
                    ("provider", &o.provider),
                    ("outcome", o.outcome.as_str()),
                ],
                1.0,
            );
        }
    }
    e.family(
        "carbonaut_location_environment_refusals",
        "gauge",
        "Refusals in a row of a location by the environment provider (0 once it answers).",
    );
    for (location, status) in &s.locations {
        if let Some(o) = &status.outcome {
            e.sample(
                "carbonaut_location_environment_refusals",
                &[("location", location), ("provider", &o.provider)],
                f64::from(o.consecutive_refusals),
            );
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

/// A project and account total family: name suffix, help (`{}` is `project` or `account`),
/// and its value from the totals.
type TotalFamily = (&'static str, &'static str, fn(&Totals) -> f64);

/// A per-resource family: name, type, help, and its value from a resource's figures.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Live) -> Option<f64>,
);

/// One resource's figures, as the per-resource families print them.
struct Live {
    /// Where its label set is in the part's string of label sets.
    labels: std::ops::Range<usize>,
    energy: Option<f64>,
    emissions: Option<f64>,
    facility: Option<f64>,
    embodied: Option<f64>,
    components: Option<[f64; 4]>,
    power: Option<f64>,
    frequency: Option<f64>,
    utilization: Option<f64>,
    estimated: Option<f64>,
    age: Option<f64>,
}

pub fn kind_label(kind: ResourceKind) -> &'static str {
    kind.as_str()
}

pub fn source_label(source: EnergySource) -> &'static str {
    source.as_str()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use carbonaut_model::{Hardware, Location, Project, ResourceInfo, ResourceSample};
    use carbonaut_store::state::{Counters, ResourceId, Topology};

    /// Two accounts of two projects of `per_project` resources, every other one with
    /// counters and a sample, and one label value that needs escaping.
    fn snapshot(per_project: usize) -> Snapshot {
        let mut s = Snapshot::default();
        let mut topology = Topology::default();
        for a in ["acme", "globex"] {
            let mut projects = BTreeMap::new();
            for p in ["web", "batch"] {
                let mut resources = BTreeMap::new();
                for i in 0..per_project {
                    let name = format!("vm-{i}");
                    let id = ResourceId::new(a, p, &name);
                    let info = ResourceInfo {
                        id: name.clone(),
                        name: format!("{name} \"quoted\""),
                        kind: ResourceKind::Vm,
                        location: Location {
                            cloud: None,
                            grid_zone: None,
                            country: Some("FR".into()),
                            ..Location::default()
                        },
                        hardware: Hardware {
                            instance_type: None,
                            gpu_count: None,
                            gpu_model: None,
                            vcpus: Some(2),
                            ..Hardware::default()
                        },
                        labels: Default::default(),
                    };
                    if i % 2 == 0 {
                        let counters = Counters {
                            energy_joules_total: i as f64 * 1.5,
                            emissions_grams_total: i as f64 * 0.25,
                            ..Counters::default()
                        };
                        Arc::make_mut(&mut s.counters).insert(id.clone(), counters);
                        let sample = ResourceSample {
                            components: Vec::new(),
                            resource_id: name.clone(),
                            energy_joules: Some(i as f64),
                            power_watts: Some(10.0 + i as f64),
                            cpu_frequency_hertz: None,
                            cpu_utilization_ratio: Some(0.5),
                            read_at: 1,
                            estimated: i % 4 == 0,
                        };
                        Arc::make_mut(&mut s.samples).insert(id.clone(), sample);
                    }
                    let record = ResourceRecord {
                        id,
                        info: info.into(),
                        first_seen_ms: 1,
                        last_seen_ms: 2,
                        provider: "cloud".into(),
                    };
                    resources.insert(name, record);
                }
                let project = ProjectNode {
                    project: Project {
                        id: p.into(),
                        name: p.into(),
                        labels: Default::default(),
                    },
                    first_seen_ms: 1,
                    last_seen_ms: 2,
                    provider: "cloud".into(),
                    resources,
                };
                projects.insert(p.to_owned(), project);
            }
            let account = AccountNode {
                name: a.into(),
                first_seen_ms: 1,
                last_seen_ms: 2,
                provider: "cloud".into(),
                projects,
            };
            topology.accounts.insert(a.to_owned(), account);
        }
        s.topology = Arc::new(topology);
        s
    }

    fn inflate(prefix: &GzipPrefix) -> String {
        String::from_utf8(prefix.inflate().expect("one valid gzip member")).expect("UTF-8")
    }

    #[test]
    fn rendering_in_parts_on_threads_gives_the_text_of_one_rendering() {
        let s = snapshot(25);
        let text = render_metrics(&s);
        assert_eq!(text.matches("carbonaut_resource_info{").count(), 100);
        assert_eq!(
            text.matches("# TYPE carbonaut_resource_power_watts gauge")
                .count(),
            1
        );
        // 1 part, parts that divide the 100 resources evenly and unevenly, more parts than
        // accounts or projects, and more parts than resources.
        for parts in [1, 2, 3, 7, 150] {
            let prefix = render_metrics_gzip_in(&s, parts).expect("rendered");
            assert_eq!(prefix.len, text.len() as u64, "{parts} parts");
            assert_eq!(inflate(&prefix), text, "{parts} parts");
        }
        let empty = Snapshot::default();
        let prefix = render_metrics_gzip_in(&empty, 2).expect("rendered");
        assert_eq!(inflate(&prefix), render_metrics(&empty));
        assert!(render_metrics(&empty).contains("# HELP carbonaut_resource_info"));
    }

    #[test]
    fn a_resource_whose_reading_is_too_old_loses_its_gauges_and_shows_its_age() {
        let mut s = snapshot(1);
        let fresh = ResourceId::new("acme", "web", "vm-0");
        let stale = ResourceId::new("acme", "batch", "vm-0");
        s.taken_at_ms = 100_000;
        s.stale_after_ms = Some(30_000);
        for (id, read_at) in [(&fresh, 80_000), (&stale, 69_999)] {
            if let Some(sample) = Arc::make_mut(&mut s.samples).get_mut(id) {
                sample.read_at = read_at;
            }
        }
        let text = render_metrics(&s);
        // The value of `family`'s series for acme's resource in `project`.
        let series = |family: &str, project: &str| {
            series_in(&text, family, project)
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
        };
        assert_eq!(
            series("carbonaut_resource_power_watts", "web").as_deref(),
            Some("10")
        );
        assert_eq!(series("carbonaut_resource_power_watts", "batch"), None);
        assert_eq!(
            series("carbonaut_resource_cpu_utilization_ratio", "batch"),
            None
        );
        assert_eq!(series("carbonaut_resource_estimated", "batch"), None);
        assert_eq!(
            series("carbonaut_resource_sample_age_seconds", "web").as_deref(),
            Some("20")
        );
        assert_eq!(
            series("carbonaut_resource_sample_age_seconds", "batch").as_deref(),
            Some("30.001")
        );
        // The totals stay: they are what was used, however old the last reading.
        assert!(series("carbonaut_resource_energy_joules_total", "batch").is_some());
        // Without a limit (no collector), nothing is dropped.
        s.stale_after_ms = None;
        assert!(
            series_in(
                &render_metrics(&s),
                "carbonaut_resource_power_watts",
                "batch"
            )
            .is_some()
        );
    }

    fn series_in(text: &str, family: &str, project: &str) -> Option<String> {
        let prefix = format!("{family}{{account=\"acme\",project=\"{project}\"");
        text.lines()
            .find(|l| l.starts_with(&prefix))
            .map(ToOwned::to_owned)
    }
}
