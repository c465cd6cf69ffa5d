//! Per-resource cumulative counters and the arithmetic that advances them: energy between two
//! samples (from the provider's counter, or integrated from power), per component too, the
//! data-centre overhead on top of it (PUE), its emissions, and the resource's share of its
//! machine's manufacturing emissions for the time it was watched.

use serde::{Deserialize, Serialize};

use carbonaut_model::{Component, ResourceSample};

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

/// One component's previous reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LastComponent {
    pub energy_joules: Option<f64>,
    pub power_watts: Option<f64>,
}

/// What contract 0.3.0 added to a resource's counters; all zero for one that has none of it
/// (and for counters stored before), which is what they were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// Facility energy beyond the IT energy: IT × (PUE − 1), summed as the PUE was at each
    /// interval. Facility energy = `energy_joules_total` + this.
    pub overhead_joules_total: f64,
    /// The resource's share of its machine's manufacturing emissions, for the time watched.
    pub embodied_grams_total: f64,
    /// Up to when the embodied share was counted.
    pub embodied_at_ms: Option<u64>,
    /// IT energy per component, indexed by [`Component::index`].
    pub component_joules_total: [f64; 4],
    pub last_components: [Option<LastComponent>; 4],
}

impl Footprint {
    pub fn is_empty(&self) -> bool {
        *self == Footprint::default()
    }
}

/// Cumulative totals of one resource. They only ever grow, across provider counter resets
/// and host restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// IT energy: what the meters (or the estimate) say the resource used.
    pub energy_joules_total: f64,
    /// Operational emissions: facility energy × the grid's intensity.
    pub emissions_grams_total: f64,
    /// Facility energy measured while no carbon intensity was known for the resource's
    /// location yet; turned into emissions as soon as one is.
    pub unattributed_joules: f64,
    pub last: Option<LastReading>,
    /// Allocated only for a resource that has any of it: a resource's counters are held twice
    /// (the collector's and the served snapshot's), most metered resources have no components,
    /// overhead or embodied share, and inline the 192 bytes would more than triple them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint: Option<Box<Footprint>>,
}

impl Counters {
    /// Advances the counters by `sample`; `intensity` is the grid's gCO2eq/kWh at the sample's
    /// time, if known; `max_power_watts` the resource's plausible maximum; `pue` the facility's
    /// energy over its IT energy (≥ 1). Returns the IT energy added, in joules. A refused
    /// sample adds nothing; one whose delta was implausible still becomes the reading the next
    /// delta starts from, so one bad value costs one interval.
    ///
    /// A sample with neither energy nor power but with components counts their sum; with
    /// either, the components are a breakdown of it.
    pub fn advance(
        &mut self,
        sample: &ResourceSample,
        intensity: Option<f64>,
        max_power_watts: f64,
        pue: f64,
    ) -> Result<f64, Refusal> {
        let last = self.last;
        if last.is_some_and(|l| sample.read_at < l.read_at_ms) {
            return Err(Refusal::Backwards);
        }
        let parts = self.component_deltas(sample);
        let delta = if sample.energy_joules.is_some() || sample.power_watts.is_some() {
            energy_delta_joules(last.as_ref(), sample)
        } else {
            parts.iter().flatten().copied().reduce(|a, b| a + b)
        }
        .unwrap_or(0.0);
        if last.is_none_or(|l| sample.read_at > l.read_at_ms) {
            self.last = Some(LastReading {
                energy_joules: sample.energy_joules,
                power_watts: sample.power_watts,
                read_at_ms: sample.read_at,
            });
            if !sample.components.is_empty() || self.footprint.is_some() {
                let mut next = [None; 4];
                for c in &sample.components {
                    next[c.component.index()] = Some(LastComponent {
                        energy_joules: c.energy_joules,
                        power_watts: c.power_watts,
                    });
                }
                self.footprint_mut().last_components = next;
            }
        }
        let seconds = last.map_or(0.0, |l| (sample.read_at - l.read_at_ms) as f64 / 1000.0);
        let total = self.energy_joules_total + delta;
        let pue = if pue.is_finite() && pue >= 1.0 {
            pue
        } else {
            1.0
        };
        let facility = delta * pue;
        if !(delta.is_finite() && delta >= 0.0)
            || delta > max_power_watts * seconds + DELTA_SLACK_JOULES
            || !total.is_finite()
            || parts
                .iter()
                .flatten()
                .any(|p| !(p.is_finite() && *p >= 0.0))
        {
            return Err(Refusal::ImplausibleDelta);
        }
        self.energy_joules_total = total;
        if facility > delta || parts.iter().any(Option::is_some) {
            let f = self.footprint_mut();
            f.overhead_joules_total += facility - delta;
            for (total, part) in f.component_joules_total.iter_mut().zip(parts) {
                *total += part.unwrap_or(0.0);
            }
        }
        match intensity {
            Some(g_per_kwh) => {
                self.emissions_grams_total +=
                    emissions_grams(facility + self.unattributed_joules, g_per_kwh);
                self.unattributed_joules = 0.0;
            }
            None => self.unattributed_joules += facility,
        }
        Ok(delta)
    }

    /// Energy per component since the last reading, by [`Component::index`].
    fn component_deltas(&self, sample: &ResourceSample) -> [Option<f64>; 4] {
        let mut out = [None; 4];
        let Some(last) = self.last else {
            return out;
        };
        for c in &sample.components {
            let i = c.component.index();
            let before = self
                .footprint
                .as_ref()
                .and_then(|f| f.last_components[i])
                .unwrap_or_default();
            out[i] = delta_joules(
                (before.energy_joules, before.power_watts, last.read_at_ms),
                (c.energy_joules, c.power_watts, sample.read_at),
            );
        }
        out
    }

    /// Counts the resource's share of its machine's manufacturing emissions from the last time
    /// it was counted to `now_ms`, at `grams_per_hour` (TE × RR/ToR / EL); a gap longer than
    /// `max_gap_ms` (the host was down, the resource was not collected) counts nothing, since
    /// the resource was not watched then. Returns the grams added.
    pub fn advance_embodied(&mut self, grams_per_hour: f64, now_ms: u64, max_gap_ms: u64) -> f64 {
        let f = self.footprint_mut();
        let added = match f.embodied_at_ms {
            Some(at) if now_ms > at && now_ms - at <= max_gap_ms => {
                grams_per_hour * (now_ms - at) as f64 / MS_PER_HOUR
            }
            _ => 0.0,
        };
        if f.embodied_at_ms.is_none_or(|at| now_ms > at) {
            f.embodied_at_ms = Some(now_ms);
        }
        if !(added.is_finite() && added > 0.0) {
            return 0.0;
        }
        f.embodied_grams_total += added;
        added
    }

    /// IT energy of `component` so far.
    pub fn component_joules(&self, component: Component) -> f64 {
        self.footprint
            .as_ref()
            .map_or(0.0, |f| f.component_joules_total[component.index()])
    }

    /// Facility energy beyond the IT energy (PUE), so far.
    pub fn overhead_joules_total(&self) -> f64 {
        self.footprint
            .as_ref()
            .map_or(0.0, |f| f.overhead_joules_total)
    }

    /// Facility energy: IT energy plus the data centre's overhead on it.
    pub fn facility_joules_total(&self) -> f64 {
        self.energy_joules_total + self.overhead_joules_total()
    }

    /// The resource's share of manufacturing emissions so far, once it has an embodied figure.
    pub fn embodied_grams_total(&self) -> Option<f64> {
        let f = self.footprint.as_ref()?;
        f.embodied_at_ms.map(|_| f.embodied_grams_total)
    }

    /// When the embodied share was last counted.
    pub fn embodied_at_ms(&self) -> Option<u64> {
        self.footprint.as_ref().and_then(|f| f.embodied_at_ms)
    }

    fn footprint_mut(&mut self) -> &mut Footprint {
        self.footprint.get_or_insert_with(Default::default)
    }
}

const MS_PER_HOUR: f64 = 3_600_000.0;

// Every resource's counters are held twice (the collector's and the served snapshot's): the
// footprint's 192 bytes stay behind a pointer, allocated only for resources that have any of
// it, so a metered resource costs 72 bytes (64 before contract 0.3.0) rather than 256.
const _: () = assert!(std::mem::size_of::<Counters>() <= 72);

/// Energy used between `last` and `sample`, in joules; `None` when it cannot be told (first
/// sample, a sample not newer than the last, neither energy nor power given, or only power
/// across a gap longer than [`MAX_POWER_GAP_MS`]).
///
/// A counter that went down was reset or wrapped. Its true maximum is unknown to the host
/// (RAPL plugins handle `max_energy_range_uj` themselves), so the new reading, the energy
/// since the reset, is the honest lower bound: never a negative delta.
pub fn energy_delta_joules(last: Option<&LastReading>, sample: &ResourceSample) -> Option<f64> {
    let last = last?;
    delta_joules(
        (last.energy_joules, last.power_watts, last.read_at_ms),
        (sample.energy_joules, sample.power_watts, sample.read_at),
    )
}

/// [`energy_delta_joules`] of one meter: `(energy, power, read_at)` before and now.
fn delta_joules(
    (last_energy, last_power, last_at): (Option<f64>, Option<f64>, u64),
    (energy, power, read_at): (Option<f64>, Option<f64>, u64),
) -> Option<f64> {
    if read_at <= last_at {
        return None;
    }
    if let (Some(previous), Some(current)) = (last_energy, energy) {
        if !previous.is_finite() || !current.is_finite() || current < 0.0 {
            return None;
        }
        let delta = current - previous;
        return Some(if delta >= 0.0 { delta } else { current });
    }
    let gap_ms = read_at - last_at;
    if gap_ms > MAX_POWER_GAP_MS {
        return None;
    }
    let seconds = gap_ms as f64 / 1000.0;
    // Trapezoid rule when both ends are known; otherwise hold the one known value.
    let watts = match (last_power, power) {
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
        assert_eq!(
            c.advance(&sample(Some(0.0), None, 0), None, MAX_W, 1.0),
            Ok(0.0)
        );
        assert_eq!(
            c.advance(&sample(Some(3.6e6), None, 1000), None, MAX_W, 1.0),
            Ok(3.6e6)
        );
        assert_eq!(c.emissions_grams_total, 0.0);
        assert_eq!(c.unattributed_joules, 3.6e6);
        c.advance(&sample(Some(7.2e6), None, 2000), Some(100.0), MAX_W, 1.0)
            .expect("counted");
        assert!(
            (c.emissions_grams_total - 200.0).abs() < 1e-9,
            "2 kWh at 100 g/kWh"
        );
        assert_eq!(c.unattributed_joules, 0.0);
        assert_eq!(c.energy_joules_total, 7.2e6);
        // A reset never makes the totals go backwards.
        c.advance(&sample(Some(10.0), None, 3000), Some(100.0), MAX_W, 1.0)
            .expect("counted");
        assert_eq!(c.energy_joules_total, 7.2e6 + 10.0);
    }

    #[test]
    fn a_delta_beyond_the_plausible_power_is_refused_and_the_next_one_counts() {
        let mut c = Counters::default();
        c.advance(&sample(Some(1.0), None, 0), None, 100.0, 1.0)
            .expect("first");
        // 1e12 J in one second from a 100 W resource: refused, and it becomes the baseline.
        assert_eq!(
            c.advance(&sample(Some(1e12), None, 1000), None, 100.0, 1.0),
            Err(Refusal::ImplausibleDelta)
        );
        assert_eq!(c.energy_joules_total, 0.0);
        assert_eq!(
            c.advance(&sample(Some(1e12 + 50.0), None, 2000), None, 100.0, 1.0),
            Ok(50.0)
        );
        // Back to 1 J: a reset, counted from zero (1 J is plausible).
        assert_eq!(
            c.advance(&sample(Some(1.0), None, 3000), None, 100.0, 1.0),
            Ok(1.0)
        );
        assert_eq!(c.energy_joules_total, 51.0);
    }

    #[test]
    fn an_older_sample_is_refused_and_changes_nothing() {
        let mut c = Counters::default();
        c.advance(&sample(None, Some(100.0), 10_000), None, 1e3, 1.0)
            .expect("first");
        let before = c.clone();
        assert_eq!(
            c.advance(&sample(None, Some(100.0), 5_000), None, 1e3, 1.0),
            Err(Refusal::Backwards)
        );
        assert_eq!(c, before);
        assert_eq!(
            c.advance(&sample(None, Some(100.0), 10_000), None, 1e3, 1.0),
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

    fn parts(sample_at: u64, readings: &[(Component, Option<f64>, Option<f64>)]) -> ResourceSample {
        let mut s = sample(None, None, sample_at);
        s.components = readings
            .iter()
            .map(
                |&(component, energy_joules, power_watts)| carbonaut_model::ComponentReading {
                    component,
                    energy_joules,
                    power_watts,
                },
            )
            .collect();
        s
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
    }

    #[test]
    fn pue_is_applied_to_energy_before_emissions_and_kept_apart() {
        let mut c = Counters::default();
        c.advance(&sample(Some(0.0), None, 0), Some(400.0), MAX_W, 1.135)
            .expect("first");
        // 3.6 MJ = 1 kWh of IT energy, 1.135 kWh at the meter of the facility, at 400 g/kWh.
        c.advance(&sample(Some(3.6e6), None, 1000), Some(400.0), MAX_W, 1.135)
            .expect("counted");
        assert_eq!(c.energy_joules_total, 3.6e6, "IT energy as metered");
        assert!(close(c.facility_joules_total(), 3.6e6 * 1.135));
        assert!(close(c.emissions_grams_total, 1.135 * 400.0), "454 g");
        // Without a known intensity the facility energy waits, PUE included.
        c.advance(&sample(Some(7.2e6), None, 2000), None, MAX_W, 1.135)
            .expect("counted");
        assert!(close(c.unattributed_joules, 3.6e6 * 1.135));
    }

    #[test]
    fn components_add_up_when_the_total_is_not_given_across_a_gpu_counter_reset() {
        use Component::{Cpu, Gpu};
        let mut c = Counters::default();
        c.advance(
            &parts(
                0,
                &[(Cpu, Some(1_000.0), None), (Gpu, Some(50_000.0), None)],
            ),
            None,
            MAX_W,
            1.0,
        )
        .expect("first");
        c.advance(
            &parts(
                10_000,
                &[(Cpu, Some(1_600.0), None), (Gpu, Some(53_000.0), None)],
            ),
            None,
            MAX_W,
            1.0,
        )
        .expect("second");
        // The GPU counter reset to 200 J: 200 J since the reset, never a negative delta.
        let added = c
            .advance(
                &parts(
                    20_000,
                    &[(Cpu, Some(2_100.0), None), (Gpu, Some(200.0), None)],
                ),
                None,
                MAX_W,
                1.0,
            )
            .expect("third");
        assert_eq!(added, 500.0 + 200.0);
        assert_eq!(c.component_joules(Cpu), 600.0 + 500.0);
        assert_eq!(c.component_joules(Gpu), 3_000.0 + 200.0);
        assert_eq!(c.energy_joules_total, 600.0 + 3_000.0 + 500.0 + 200.0);
    }

    #[test]
    fn components_are_a_breakdown_when_the_total_is_given() {
        use Component::Gpu;
        let mut c = Counters::default();
        let mut first = parts(0, &[(Gpu, None, Some(300.0))]);
        first.power_watts = Some(500.0);
        c.advance(&first, None, MAX_W, 1.0).expect("first");
        let mut second = parts(10_000, &[(Gpu, None, Some(300.0))]);
        second.power_watts = Some(500.0);
        c.advance(&second, None, MAX_W, 1.0).expect("second");
        assert_eq!(c.energy_joules_total, 5_000.0, "500 W for 10 s");
        assert_eq!(c.component_joules(Gpu), 3_000.0, "of which the GPU 300 W");
    }

    #[test]
    fn embodied_counts_only_time_watched() {
        // Cloud Carbon Footprint's worked example: a 1 234.5 kgCO2e server, 4 of its 96 vCPUs,
        // a 35 040 h life: 1 234 500 g x 4/96 = 51 437.5 g, / 35 040 h = 1.467 965 18 g per hour.
        let per_hour = 1_234_500.0 * (4.0 / 96.0) / 35_040.0;
        let mut c = Counters::default();
        let hour = 3_600_000;
        assert_eq!(
            c.advance_embodied(per_hour, 0, hour),
            0.0,
            "starts the clock"
        );
        let added = c.advance_embodied(per_hour, hour, hour);
        assert!(close(added, 1.467_965_182_648_402), "{added}");
        // Two days unwatched (the host was down): nothing for the gap, counting resumes.
        assert_eq!(c.advance_embodied(per_hour, 50 * hour, hour), 0.0);
        assert!(close(
            c.advance_embodied(per_hour, 50 * hour + hour / 2, hour),
            per_hour / 2.0
        ));
        assert!(close(
            c.embodied_grams_total().expect("counted"),
            per_hour * 1.5
        ));
        // A clock that goes back adds nothing and keeps the later time.
        assert_eq!(c.advance_embodied(per_hour, hour, hour), 0.0);
        assert_eq!(c.embodied_at_ms(), Some(50 * hour + hour / 2));
    }
}
