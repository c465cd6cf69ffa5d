//! From series to samples: which exporter series measure what, in which unit, how several
//! series of one resource add up, and which source wins when a resource has more than one.
//!
//! Kepler's zones overlap; which ones add up is `zones`' to say. Kepler before its 0.10
//! rewrite (0.7 to 0.9) has one family per zone (`kepler_node_package_joules_total`, ...)
//! split by `mode` into dynamic and idle energy, which together are the zone's total: both are
//! summed; its `source` label says `trained_power_model` when a model estimated the figure
//! rather than a meter measured it, and the sample is then marked estimated.

use std::collections::HashMap;

use carbonaut_sdk::{Component, ComponentReading, ResourceInfo, ResourceSample};

use crate::config::{Config, Source};
use crate::gpu::{self, Gpus};
use crate::series::Series;
use crate::template::Template;
use crate::zones;

pub const SCAPH_ENERGY: &str = "scaph_host_energy_microjoules";
pub const SCAPH_POWER: &str = "scaph_host_power_microwatts";
pub const SCAPH_FREQUENCY: &str = "scaph_host_cpu_frequency";
pub const KEPLER_JOULES: &str = "kepler_node_cpu_joules_total";
pub const KEPLER_WATTS: &str = "kepler_node_cpu_watts";
pub const KEPLER_USAGE: &str = "kepler_node_cpu_usage_ratio";
pub const KEPLER_LEGACY_PACKAGE: &str = "kepler_node_package_joules_total";
pub const KEPLER_LEGACY_DRAM: &str = "kepler_node_dram_joules_total";
pub const NODE_CPU_SECONDS: &str = "node_cpu_seconds_total";

/// The raw (not rated) families the configured sources read.
pub fn raw_families(config: &Config) -> Vec<&'static str> {
    let mut names = Vec::new();
    if config.uses(Source::Scaphandre) {
        names.extend([SCAPH_ENERGY, SCAPH_POWER, SCAPH_FREQUENCY]);
    }
    if config.uses(Source::Kepler) {
        names.extend([
            KEPLER_JOULES,
            KEPLER_WATTS,
            KEPLER_USAGE,
            KEPLER_LEGACY_PACKAGE,
            KEPLER_LEGACY_DRAM,
            gpu::KEPLER_GPU_JOULES,
            gpu::KEPLER_GPU_WATTS,
        ]);
    }
    if config.uses(Source::Dcgm) {
        names.extend([gpu::DCGM_POWER, gpu::DCGM_ENERGY]);
    }
    names
}

/// Kepler 0.7's `source` when its estimator, not a meter, gave the figure (kepler
/// `pkg/model/types`, `TrainedPowerModelSource`).
const KEPLER_ESTIMATED_SOURCE: &str = "trained_power_model";

/// One series of Kepler's zoned families: its zone, value and time.
#[derive(Debug, Clone)]
struct ZoneReading {
    zone: String,
    joules: bool,
    value: f64,
    at_ms: u64,
}

/// What one meter says about one resource, in SI units.
#[derive(Debug, Default, Clone, Copy)]
struct Meter {
    joules: Option<f64>,
    watts: Option<f64>,
    hertz: Option<f64>,
    at_ms: u64,
    /// A model's figure, not a meter's.
    estimated: bool,
}

impl Meter {
    fn add_joules(&mut self, joules: f64, at_ms: u64) {
        *self.joules.get_or_insert(0.0) += joules;
        self.at_ms = self.at_ms.max(at_ms);
    }

    fn add_watts(&mut self, watts: f64, at_ms: u64) {
        *self.watts.get_or_insert(0.0) += watts;
        self.at_ms = self.at_ms.max(at_ms);
    }

    fn has_reading(&self) -> bool {
        self.joules.is_some() || self.watts.is_some()
    }
}

/// Everything read for one resource key (a rendered template).
#[derive(Debug, Default)]
struct Group {
    scaphandre: Meter,
    /// Kepler 0.10 and later, by zone: summed in `sample`, once every zone is known.
    kepler_zones: Vec<ZoneReading>,
    kepler_legacy: Meter,
    kepler_usage: Vec<f64>,
    kepler_usage_at_ms: u64,
    /// node_exporter: each CPU's idle seconds per second.
    idle: Vec<f64>,
    idle_at_ms: u64,
    /// dcgm-exporter's and Kepler's GPU series.
    gpus: Gpus,
}

/// Series grouped by the resource they belong to.
#[derive(Debug, Default)]
pub struct Readings {
    groups: HashMap<String, Group>,
}

impl Readings {
    /// Adds raw series of the families in [`raw_families`]; a series whose labels the
    /// template cannot fill, or whose value is not finite, is skipped.
    pub fn add_raw(&mut self, template: &Template, series: &[Series]) {
        for s in series {
            let Some(key) = template.render(&s.labels) else {
                continue;
            };
            if !s.value.is_finite() {
                continue;
            }
            let group = self.groups.entry(key).or_default();
            if group.gpus.add(s) {
                continue;
            }
            let (v, at) = (s.value, s.at_ms);
            match s.name() {
                SCAPH_ENERGY => group.scaphandre.add_joules(v / 1e6, at),
                SCAPH_POWER => group.scaphandre.add_watts(v / 1e6, at),
                // One host-wide frequency in MHz; several series (a relabelled duplicate)
                // keep the latest.
                SCAPH_FREQUENCY => group.scaphandre.hertz = Some(v * 1e6),
                KEPLER_JOULES | KEPLER_WATTS => {
                    if let Some(zone) = s.label("zone") {
                        group.kepler_zones.push(ZoneReading {
                            zone: zone.to_owned(),
                            joules: s.name() == KEPLER_JOULES,
                            value: v,
                            at_ms: at,
                        });
                    }
                }
                KEPLER_USAGE => {
                    group.kepler_usage.push(v);
                    group.kepler_usage_at_ms = group.kepler_usage_at_ms.max(at);
                }
                KEPLER_LEGACY_PACKAGE | KEPLER_LEGACY_DRAM => {
                    group.kepler_legacy.add_joules(v, at);
                    group.kepler_legacy.estimated |=
                        s.label("source") == Some(KEPLER_ESTIMATED_SOURCE);
                }
                _ => {}
            }
        }
    }

    /// Adds `rate(node_cpu_seconds_total{mode="idle"}[...])`: one series per CPU.
    pub fn add_idle_rates(&mut self, template: &Template, series: &[Series]) {
        for s in series {
            let Some(key) = template.render(&s.labels) else {
                continue;
            };
            if !s.value.is_finite() {
                continue;
            }
            let group = self.groups.entry(key).or_default();
            group.idle.push(s.value);
            group.idle_at_ms = group.idle_at_ms.max(s.at_ms);
        }
    }

    /// The sample of `resource` (matched by its id, else its name), if anything was read.
    pub fn sample(&self, config: &Config, resource: &ResourceInfo) -> Option<ResourceSample> {
        let group = self
            .groups
            .get(&resource.id)
            .or_else(|| self.groups.get(&resource.name))?;
        let meter = config.sources.iter().find_map(|source| match source {
            Source::Scaphandre => Some(group.scaphandre).filter(Meter::has_reading),
            // A node exports one generation of Kepler's families; prefer the current one.
            Source::Kepler => [kepler_meter(&group.kepler_zones), group.kepler_legacy]
                .into_iter()
                .find(Meter::has_reading),
            Source::NodeExporter | Source::Dcgm => None,
        });
        let (utilisation, util_at_ms) = if config.uses(Source::NodeExporter)
            && !group.idle.is_empty()
        {
            let idle = group.idle.iter().sum::<f64>() / group.idle.len() as f64;
            (Some(1.0 - idle), group.idle_at_ms)
        } else if config.uses(Source::Kepler) && !group.kepler_usage.is_empty() {
            let usage = group.kepler_usage.iter().sum::<f64>() / group.kepler_usage.len() as f64;
            (Some(usage), group.kepler_usage_at_ms)
        } else {
            (None, 0)
        };
        // Rates jitter around the scrape times: an idle CPU can show 1.002 idle seconds a second.
        let utilisation = utilisation.map(|u| u.clamp(0.0, 1.0));
        let mut sample = ResourceSample {
            components: Vec::new(),
            resource_id: resource.id.clone(),
            energy_joules: None,
            power_watts: None,
            cpu_frequency_hertz: None,
            cpu_utilization_ratio: utilisation,
            read_at: util_at_ms,
            estimated: false,
        };
        if let Some(meter) = meter {
            sample.energy_joules = meter.joules;
            sample.power_watts = meter.watts;
            sample.cpu_frequency_hertz = meter.hertz;
            sample.read_at = meter.at_ms;
            sample.estimated = meter.estimated;
        } else if let (Some(estimate), Some(u), Some(vcpus)) = (
            config.estimate,
            utilisation,
            // The inventory's count when it has one, else the CPUs node_exporter reports.
            resource
                .hardware
                .vcpus
                .map(f64::from)
                .or((!group.idle.is_empty()).then_some(group.idle.len() as f64)),
        ) {
            sample.power_watts = Some(estimate.watts(vcpus, u));
            sample.estimated = true;
        } else if utilisation.is_none() && group.gpus.reading().is_none() {
            return None;
        }
        if let Some(gpu) = group.gpus.reading() {
            with_gpu(&mut sample, gpu);
        }
        (sample.read_at > 0).then_some(sample)
    }
}

/// `sample` with its GPUs as a component of their own: the CPU meter's figure (or the model's)
/// becomes the `cpu` component and the resource's energy is the sum of both, each counter's
/// resets handled by the host apart (a total of two counters would read one's reset as a drop
/// of both).
fn with_gpu(sample: &mut ResourceSample, gpu: gpu::GpuReading) {
    let cpu = ComponentReading {
        component: Component::Cpu,
        energy_joules: sample.energy_joules.take(),
        power_watts: sample.power_watts.take(),
    };
    if cpu.energy_joules.is_some() || cpu.power_watts.is_some() {
        sample.components.push(cpu);
    }
    sample.components.push(ComponentReading {
        component: Component::Gpu,
        energy_joules: gpu.joules,
        power_watts: gpu.watts,
    });
    sample.read_at = sample.read_at.max(gpu.at_ms);
}

/// The node's Kepler meter: its counted zones added up (see `zones`).
fn kepler_meter(readings: &[ZoneReading]) -> Meter {
    let keep = zones::counted(readings.iter().map(|r| r.zone.as_str()));
    let mut meter = Meter::default();
    for r in readings.iter().filter(|r| keep(&r.zone)) {
        if r.joules {
            meter.add_joules(r.value, r.at_ms);
        } else {
            meter.add_watts(r.value, r.at_ms);
        }
    }
    meter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Estimate;
    use carbonaut_sdk::{Account, Hardware, Location, ResourceKind};

    fn series(name: &str, labels: &[(&str, &str)], value: f64) -> Series {
        let mut l: crate::template::Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        l.insert("__name__".to_owned(), name.to_owned());
        l.insert("instance".to_owned(), "m".to_owned());
        Series {
            labels: l,
            value,
            at_ms: 1000,
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut settings = vec![("url".to_owned(), "http://p:9090".to_owned())];
        settings.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let account = Account {
            name: "a".into(),
            settings: vec![],
        };
        Config::from_settings(&settings, &account).expect("ok")
    }

    fn machine(vcpus: Option<u32>) -> ResourceInfo {
        ResourceInfo {
            id: "m".into(),
            name: "m".into(),
            kind: ResourceKind::Host,
            location: Location::default(),
            hardware: Hardware {
                instance_type: None,
                gpu_count: None,
                gpu_model: None,
                vcpus,
                ..Hardware::default()
            },
            labels: vec![],
        }
    }

    #[test]
    fn numbered_package_zones_count_and_overlapping_zones_do_not() {
        let c = config(&[]);
        let mut r = Readings::default();
        r.add_raw(
            &c.template,
            &[
                series(KEPLER_JOULES, &[("zone", "package-0")], 10.0),
                series(KEPLER_JOULES, &[("zone", "package-1")], 20.0),
                series(KEPLER_JOULES, &[("zone", "core")], 5.0),
                series(KEPLER_JOULES, &[], 7.0),
            ],
        );
        let s = r.sample(&c, &machine(None)).expect("ok");
        assert_eq!(s.energy_joules, Some(30.0));
    }

    #[test]
    fn the_first_source_with_a_reading_wins() {
        let mut r = Readings::default();
        let c = config(&[]);
        r.add_raw(
            &c.template,
            &[
                series(SCAPH_ENERGY, &[], 5e6),
                series(KEPLER_LEGACY_PACKAGE, &[("mode", "idle")], 9.0),
            ],
        );
        assert_eq!(
            r.sample(&c, &machine(None)).expect("ok").energy_joules,
            Some(5.0)
        );
        let c = config(&[("sources", "kepler,scaphandre")]);
        assert_eq!(
            r.sample(&c, &machine(None)).expect("ok").energy_joules,
            Some(9.0)
        );
    }

    #[test]
    fn estimates_only_without_a_meter() {
        let c = config(&[("min_watts_per_vcpu", "1"), ("max_watts_per_vcpu", "3")]);
        assert_eq!(
            c.estimate,
            Some(Estimate {
                min_watts_per_vcpu: 1.0,
                max_watts_per_vcpu: 3.0
            })
        );
        let mut r = Readings::default();
        // Four CPUs, idle 0.75 of the time on average: utilisation 0.25.
        let idle: Vec<Series> = [0.5, 1.0, 0.75, 0.75]
            .iter()
            .map(|v| series(NODE_CPU_SECONDS, &[], *v))
            .collect();
        r.add_idle_rates(&c.template, &idle);
        let s = r.sample(&c, &machine(None)).expect("ok");
        // 4 vCPUs × (1 W + 0.25 × (3 W − 1 W)) = 6 W.
        assert_eq!((s.power_watts, s.estimated), (Some(6.0), true));
        assert_eq!(s.cpu_utilization_ratio, Some(0.25));
        let s = r.sample(&c, &machine(Some(2))).expect("ok");
        assert_eq!(s.power_watts, Some(3.0));
        r.add_raw(&c.template, &[series(SCAPH_POWER, &[], 4e6)]);
        let s = r.sample(&c, &machine(None)).expect("ok");
        assert_eq!((s.power_watts, s.estimated), (Some(4.0), false));
    }
}
