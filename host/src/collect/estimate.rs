//! The estimation step of a sample collection (contract 0.3.0's `estimation` kind): the
//! estimation provider is asked about an account's resources, each with its latest reading,
//! in batches. Its power per component stands in for a reading only where no meter said
//! anything (marked estimated); its embodied share is turned into grams per hour, counted by
//! the caller for the time the resource is watched.

use std::collections::HashMap;
use std::time::Instant;

use super::Failure;
use super::collector::Collector;
use super::plan::ProviderInstance;
use crate::config::FootprintConfig;
use crate::telemetry::Telemetry;
use carbonaut_model::clock::now_ms;
use carbonaut_model::{ComponentReading, Estimate, ResourceInfo, ResourceSample};
use carbonaut_store::state::ResourceId;

/// What the estimation provider added to one account's readings.
#[derive(Debug, Default)]
pub(super) struct Estimated {
    /// Grams per hour of each resource's share of its machine's manufacturing emissions.
    pub embodied: HashMap<ResourceId, f64>,
    /// Resources whose operational power came from the model, no meter having read them.
    pub modelled: usize,
}

/// Asks `estimation` about `resources`, replacing in `samples` the readings that have no
/// energy, power or component of their own (or adding one for a resource without a reading)
/// by the model's power, and returning the embodied rates.
pub(super) async fn estimate_account(
    estimation: &ProviderInstance,
    resources: &[(&ResourceId, &ResourceInfo)],
    samples: &mut HashMap<ResourceId, ResourceSample>,
    footprint: &FootprintConfig,
    batch_size: usize,
    telemetry: &Telemetry,
) -> Result<Estimated, Failure> {
    let plugin = estimation.plugin()?;
    let mut out = Estimated::default();
    for batch in resources.chunks(batch_size.max(1)) {
        let inputs: Vec<(&ResourceInfo, Option<&ResourceSample>)> = batch
            .iter()
            .map(|(id, info)| (*info, samples.get(*id)))
            .collect();
        let started = Instant::now();
        let result = estimation
            .guarded(async |p| {
                p.estimate(&estimation.grants, &estimation.settings, &inputs)
                    .await
            })
            .await;
        Collector::observe(telemetry, plugin.name(), "estimate", started, &result);
        let (estimates, rejected) = result?.into_parts();
        telemetry.record_rejections(&estimation.name, plugin.name(), &rejected);
        // Provider ids are unique within a batch (one project's, or checked by the caller).
        let ids: HashMap<&str, &ResourceId> = batch
            .iter()
            .map(|(id, info)| (info.id.as_str(), *id))
            .collect();
        let now = now_ms();
        for estimate in estimates {
            let Some(id) = ids.get(estimate.resource_id.as_str()) else {
                continue;
            };
            if let Some(rate) = embodied_grams_per_hour(&estimate, footprint.lifetime_hours) {
                out.embodied.insert((*id).clone(), rate);
            }
            if estimate.power.is_empty() {
                continue;
            }
            let sample = samples.get(*id);
            if sample.is_some_and(is_metered) {
                continue;
            }
            out.modelled += 1;
            let modelled = modelled_sample(&estimate, sample, now);
            samples.insert((*id).clone(), modelled);
        }
    }
    Ok(out)
}

/// Whether a meter said anything about the resource's energy.
fn is_metered(sample: &ResourceSample) -> bool {
    sample.energy_joules.is_some() || sample.power_watts.is_some() || !sample.components.is_empty()
}

/// SCI's M per hour: TE × (RR / ToR) / EL, with the model's EL or the configured default.
pub(super) fn embodied_grams_per_hour(estimate: &Estimate, default_life_hours: f64) -> Option<f64> {
    let share = estimate.embodied?;
    let life = share.lifetime_hours.unwrap_or(default_life_hours);
    let rate = share.machine_grams * share.share / life;
    (rate.is_finite() && rate >= 0.0).then_some(rate)
}

/// The reading the model stands in for: its power, per component and in all, at the time of
/// the resource's own (utilisation-only) reading if it had one, marked estimated.
fn modelled_sample(
    estimate: &Estimate,
    sample: Option<&ResourceSample>,
    now: u64,
) -> ResourceSample {
    let watts: f64 = estimate.power.iter().map(|(_, w)| w).sum();
    ResourceSample {
        resource_id: estimate.resource_id.clone(),
        energy_joules: None,
        power_watts: Some(watts),
        cpu_frequency_hertz: sample.and_then(|s| s.cpu_frequency_hertz),
        cpu_utilization_ratio: sample.and_then(|s| s.cpu_utilization_ratio),
        read_at: sample.map_or(now, |s| s.read_at),
        estimated: true,
        components: estimate
            .power
            .iter()
            .map(|&(component, w)| ComponentReading {
                component,
                energy_joules: None,
                power_watts: Some(w),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::{Component, EmbodiedShare};

    fn estimate(power: &[(Component, f64)], embodied: Option<EmbodiedShare>) -> Estimate {
        Estimate {
            resource_id: "vm".into(),
            power: power.to_vec(),
            embodied,
            basis: "test".into(),
        }
    }

    #[test]
    fn embodied_rate_is_te_times_share_over_life() {
        // Cloud Carbon Footprint's worked example: 1 234.5 kg, 4 of 96 vCPUs, 35 040 h.
        let e = estimate(
            &[],
            Some(EmbodiedShare {
                machine_grams: 1_234_500.0,
                share: 4.0 / 96.0,
                lifetime_hours: None,
            }),
        );
        let rate = embodied_grams_per_hour(&e, 35_040.0).expect("a rate");
        assert!((rate - 1.467_965_182_648_402).abs() < 1e-12, "{rate}");
        // The model's own life wins over the default: six years.
        let mut six = e.clone();
        six.embodied = six.embodied.map(|m| EmbodiedShare {
            lifetime_hours: Some(52_560.0),
            ..m
        });
        let rate = embodied_grams_per_hour(&six, 35_040.0).expect("a rate");
        assert!((rate - 51_437.5 / 52_560.0).abs() < 1e-12);
        assert_eq!(
            embodied_grams_per_hour(&estimate(&[], None), 35_040.0),
            None
        );
    }

    #[test]
    fn the_model_stands_in_only_for_unmetered_resources() {
        let e = estimate(&[(Component::Cpu, 20.0), (Component::Dram, 3.5)], None);
        let utilisation = ResourceSample {
            resource_id: "vm".into(),
            energy_joules: None,
            power_watts: None,
            cpu_frequency_hertz: None,
            cpu_utilization_ratio: Some(0.3),
            read_at: 42,
            estimated: false,
            components: vec![],
        };
        assert!(!is_metered(&utilisation));
        let modelled = modelled_sample(&e, Some(&utilisation), 99);
        assert_eq!(modelled.power_watts, Some(23.5));
        assert_eq!(
            modelled.read_at, 42,
            "at the time of the utilisation it used"
        );
        assert_eq!(modelled.cpu_utilization_ratio, Some(0.3));
        assert!(modelled.estimated);
        assert_eq!(modelled.components.len(), 2);
        let mut metered = utilisation;
        metered.energy_joules = Some(5.0);
        assert!(is_metered(&metered));
    }
}
