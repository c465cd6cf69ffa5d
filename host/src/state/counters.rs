//! Per-resource cumulative counters and the arithmetic that advances them: energy between two
//! samples (from the provider's counter, or integrated from power), and its emissions.

use serde::{Deserialize, Serialize};

use crate::runtime::bindings::ResourceSample;

const JOULES_PER_KWH: f64 = 3.6e6;

/// What the host remembers of the previous sample, to compute the next delta.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastReading {
    pub energy_joules: Option<f64>,
    pub power_watts: Option<f64>,
    pub read_at_ms: u64,
}

/// Cumulative totals of one resource. They only ever grow, across provider counter resets
/// and host restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub energy_joules_total: f64,
    pub emissions_grams_total: f64,
    /// Energy measured while no carbon intensity was known for the resource's location yet;
    /// turned into emissions as soon as one is.
    pub unattributed_joules: f64,
    pub last: Option<LastReading>,
}

impl Counters {
    /// Advances the counters by `sample`; `intensity` is the grid's gCO2eq/kWh at the sample's
    /// time, if known. Returns the energy added, in joules.
    pub fn advance(&mut self, sample: &ResourceSample, intensity: Option<f64>) -> f64 {
        let delta = energy_delta_joules(self.last.as_ref(), sample).unwrap_or(0.0);
        let is_newer = self.last.is_none_or(|l| sample.read_at > l.read_at_ms);
        if is_newer {
            self.last = Some(LastReading {
                energy_joules: sample.energy_joules,
                power_watts: sample.power_watts,
                read_at_ms: sample.read_at,
            });
        }
        self.energy_joules_total += delta;
        match intensity {
            Some(g_per_kwh) => {
                self.emissions_grams_total +=
                    emissions_grams(delta + self.unattributed_joules, g_per_kwh);
                self.unattributed_joules = 0.0;
            }
            None => self.unattributed_joules += delta,
        }
        delta
    }
}

/// Energy used between `last` and `sample`, in joules; `None` when it cannot be told (first
/// sample, a sample not newer than the last, or neither energy nor power given).
///
/// A counter that went down was reset or wrapped. Its true maximum is unknown to the host
/// (RAPL plugins handle `max_energy_range_uj` themselves), so the new reading, the energy
/// since the reset, is the honest lower bound: never a negative delta.
pub fn energy_delta_joules(last: Option<&LastReading>, sample: &ResourceSample) -> Option<f64> {
    let last = last?;
    if sample.read_at <= last.read_at_ms {
        return None;
    }
    if let (Some(previous), Some(current)) = (last.energy_joules, sample.energy_joules) {
        if !previous.is_finite() || !current.is_finite() || current < 0.0 {
            return None;
        }
        let delta = current - previous;
        return Some(if delta >= 0.0 { delta } else { current });
    }
    let seconds = (sample.read_at - last.read_at_ms) as f64 / 1000.0;
    // Trapezoid rule when both ends are known; otherwise hold the one known value.
    let watts = match (last.power_watts, sample.power_watts) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => return None,
    };
    (watts.is_finite() && watts >= 0.0).then_some(watts * seconds)
}

/// Grams of CO2-equivalent for `joules` at `g_per_kwh`.
pub fn emissions_grams(joules: f64, g_per_kwh: f64) -> f64 {
    joules / JOULES_PER_KWH * g_per_kwh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(energy: Option<f64>, power: Option<f64>, at_ms: u64) -> ResourceSample {
        ResourceSample {
            resource_id: "r".into(),
            energy_joules: energy,
            power_watts: power,
            cpu_frequency_hertz: None,
            cpu_utilization_ratio: None,
            read_at: at_ms,
            estimated: false,
        }
    }

    fn last(energy: Option<f64>, power: Option<f64>, at_ms: u64) -> LastReading {
        LastReading {
            energy_joules: energy,
            power_watts: power,
            read_at_ms: at_ms,
        }
    }

    #[test]
    fn counter_delta_is_the_difference() {
        let d = energy_delta_joules(
            Some(&last(Some(1000.0), None, 0)),
            &sample(Some(1600.0), None, 10_000),
        );
        assert_eq!(d, Some(600.0));
    }

    #[test]
    fn a_counter_that_went_down_counts_from_its_reset() {
        // 5000 J before, the counter wrapped and now reads 300 J: 300 J since the wrap.
        let d = energy_delta_joules(
            Some(&last(Some(5000.0), None, 0)),
            &sample(Some(300.0), None, 1000),
        );
        assert_eq!(d, Some(300.0));
    }

    #[test]
    fn power_is_integrated_with_the_trapezoid_rule() {
        // 100 W then 200 W over 30 s: mean 150 W x 30 s = 4500 J.
        let d = energy_delta_joules(
            Some(&last(None, Some(100.0), 0)),
            &sample(None, Some(200.0), 30_000),
        );
        assert_eq!(d, Some(4500.0));
        // Only the new power known: 80 W x 2.5 s = 200 J.
        let d = energy_delta_joules(
            Some(&last(None, None, 1000)),
            &sample(None, Some(80.0), 3500),
        );
        assert_eq!(d, Some(200.0));
    }

    #[test]
    fn first_stale_and_empty_samples_give_no_delta() {
        assert_eq!(energy_delta_joules(None, &sample(Some(1.0), None, 5)), None);
        assert_eq!(
            energy_delta_joules(Some(&last(Some(1.0), None, 5)), &sample(Some(9.0), None, 5)),
            None
        );
        assert_eq!(
            energy_delta_joules(Some(&last(None, None, 1)), &sample(None, None, 5)),
            None
        );
        assert_eq!(
            energy_delta_joules(Some(&last(None, Some(f64::NAN), 1)), &sample(None, None, 5)),
            None
        );
    }

    #[test]
    fn emissions_are_kwh_times_intensity() {
        // 7.2 MJ = 2 kWh; at 350 g/kWh that is 700 g.
        assert!((emissions_grams(7.2e6, 350.0) - 700.0).abs() < 1e-9);
    }

    #[test]
    fn counters_hold_energy_until_an_intensity_is_known() {
        let mut c = Counters::default();
        assert_eq!(c.advance(&sample(Some(0.0), None, 0), None), 0.0);
        assert_eq!(c.advance(&sample(Some(3.6e6), None, 1000), None), 3.6e6);
        assert_eq!(c.emissions_grams_total, 0.0);
        assert_eq!(c.unattributed_joules, 3.6e6);
        c.advance(&sample(Some(7.2e6), None, 2000), Some(100.0));
        assert!(
            (c.emissions_grams_total - 200.0).abs() < 1e-9,
            "2 kWh at 100 g/kWh"
        );
        assert_eq!(c.unattributed_joules, 0.0);
        assert_eq!(c.energy_joules_total, 7.2e6);
        // A reset never makes the totals go backwards.
        c.advance(&sample(Some(10.0), None, 3000), Some(100.0));
        assert_eq!(c.energy_joules_total, 7.2e6 + 10.0);
    }
}
