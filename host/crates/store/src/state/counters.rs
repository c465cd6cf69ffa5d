//! Per-resource cumulative counters and the arithmetic that advances them: energy between two
//! samples (from the provider's counter, or integrated from power), and its emissions.

use serde::{Deserialize, Serialize};

use carbonaut_model::ResourceSample;

const JOULES_PER_KWH: f64 = 3.6e6;
/// Power is integrated between two samples only when they are this close: over a longer gap
/// (the host was down, the provider failed) two instants say nothing about what was drawn in
/// between. Energy counters have no such limit: their difference is measured, not guessed.
pub const MAX_POWER_GAP_MS: u64 = 10 * 60 * 1000;
/// Rounding room on the plausibility check of counter deltas (counters and their timestamps
/// are read at slightly different instants).
const DELTA_SLACK_JOULES: f64 = 1.0;

/// Why a sample did not advance a resource's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Older than the last sample taken for the resource.
    Backwards,
    /// More energy than the resource's plausible maximum power could use in the time elapsed
    /// (or a total that would stop being finite).
    ImplausibleDelta,
}

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
    /// time, if known; `max_power_watts` the resource's plausible maximum. Returns the energy
    /// added, in joules. A refused sample adds nothing; one whose delta was implausible still
    /// becomes the reading the next delta starts from, so one bad value costs one interval.
    pub fn advance(
        &mut self,
        sample: &ResourceSample,
        intensity: Option<f64>,
        max_power_watts: f64,
    ) -> Result<f64, Refusal> {
        let last = self.last;
        if last.is_some_and(|l| sample.read_at < l.read_at_ms) {
            return Err(Refusal::Backwards);
        }
        let delta = energy_delta_joules(last.as_ref(), sample).unwrap_or(0.0);
        if last.is_none_or(|l| sample.read_at > l.read_at_ms) {
            self.last = Some(LastReading {
                energy_joules: sample.energy_joules,
                power_watts: sample.power_watts,
                read_at_ms: sample.read_at,
            });
        }
        let seconds = last.map_or(0.0, |l| (sample.read_at - l.read_at_ms) as f64 / 1000.0);
        let total = self.energy_joules_total + delta;
        if !(delta.is_finite() && delta >= 0.0)
            || delta > max_power_watts * seconds + DELTA_SLACK_JOULES
            || !total.is_finite()
        {
            return Err(Refusal::ImplausibleDelta);
        }
        self.energy_joules_total = total;
        match intensity {
            Some(g_per_kwh) => {
                self.emissions_grams_total +=
                    emissions_grams(delta + self.unattributed_joules, g_per_kwh);
                self.unattributed_joules = 0.0;
            }
            None => self.unattributed_joules += delta,
        }
        Ok(delta)
    }
}

/// Energy used between `last` and `sample`, in joules; `None` when it cannot be told (first
/// sample, a sample not newer than the last, neither energy nor power given, or only power
/// across a gap longer than [`MAX_POWER_GAP_MS`]).
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
    let gap_ms = sample.read_at - last.read_at_ms;
    if gap_ms > MAX_POWER_GAP_MS {
        return None;
    }
    let seconds = gap_ms as f64 / 1000.0;
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
            components: Vec::new(),
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

    const MAX_W: f64 = 1e7;

    #[test]
    fn counters_hold_energy_until_an_intensity_is_known() {
        let mut c = Counters::default();
        assert_eq!(c.advance(&sample(Some(0.0), None, 0), None, MAX_W), Ok(0.0));
        assert_eq!(
            c.advance(&sample(Some(3.6e6), None, 1000), None, MAX_W),
            Ok(3.6e6)
        );
        assert_eq!(c.emissions_grams_total, 0.0);
        assert_eq!(c.unattributed_joules, 3.6e6);
        c.advance(&sample(Some(7.2e6), None, 2000), Some(100.0), MAX_W)
            .expect("counted");
        assert!(
            (c.emissions_grams_total - 200.0).abs() < 1e-9,
            "2 kWh at 100 g/kWh"
        );
        assert_eq!(c.unattributed_joules, 0.0);
        assert_eq!(c.energy_joules_total, 7.2e6);
        // A reset never makes the totals go backwards.
        c.advance(&sample(Some(10.0), None, 3000), Some(100.0), MAX_W)
            .expect("counted");
        assert_eq!(c.energy_joules_total, 7.2e6 + 10.0);
    }

    #[test]
    fn a_delta_beyond_the_plausible_power_is_refused_and_the_next_one_counts() {
        let mut c = Counters::default();
        c.advance(&sample(Some(1.0), None, 0), None, 100.0)
            .expect("first");
        // 1e12 J in one second from a 100 W resource: refused, and it becomes the baseline.
        assert_eq!(
            c.advance(&sample(Some(1e12), None, 1000), None, 100.0),
            Err(Refusal::ImplausibleDelta)
        );
        assert_eq!(c.energy_joules_total, 0.0);
        assert_eq!(
            c.advance(&sample(Some(1e12 + 50.0), None, 2000), None, 100.0),
            Ok(50.0)
        );
        // Back to 1 J: a reset, counted from zero (1 J is plausible).
        assert_eq!(
            c.advance(&sample(Some(1.0), None, 3000), None, 100.0),
            Ok(1.0)
        );
        assert_eq!(c.energy_joules_total, 51.0);
    }

    #[test]
    fn an_older_sample_is_refused_and_changes_nothing() {
        let mut c = Counters::default();
        c.advance(&sample(None, Some(100.0), 10_000), None, 1e3)
            .expect("first");
        let before = c;
        assert_eq!(
            c.advance(&sample(None, Some(100.0), 5_000), None, 1e3),
            Err(Refusal::Backwards)
        );
        assert_eq!(c, before);
        assert_eq!(
            c.advance(&sample(None, Some(100.0), 10_000), None, 1e3),
            Ok(0.0)
        );
    }

    #[test]
    fn power_is_not_integrated_across_a_long_gap() {
        let d = energy_delta_joules(
            Some(&last(None, Some(100.0), 0)),
            &sample(None, Some(100.0), MAX_POWER_GAP_MS + 1),
        );
        assert_eq!(d, None);
        let d = energy_delta_joules(
            Some(&last(Some(0.0), None, 0)),
            &sample(Some(5e6), None, 3 * 24 * 3_600_000),
        );
        assert_eq!(
            d,
            Some(5e6),
            "a counter's difference is measured, whatever the gap"
        );
    }
}
