//! The end result of a resource-metrics answer, as the daemon computes it: the energy the
//! host's counters add for the sample (`Counters::advance`, the collector's own arithmetic,
//! plausibility check included) and its emissions at a grid intensity.

use std::time::Duration;

use carbonaut_model::ResourceSample;
use carbonaut_store::state::{Counters, LastReading};

/// Where the intensity came from, for the printed line.
pub enum Intensity {
    /// The plugin's own environment answer for the sample location.
    Plugin(f64),
    /// `--intensity`.
    Given(f64),
}

impl Intensity {
    fn grams_per_kwh(&self) -> f64 {
        match self {
            Intensity::Plugin(g) | Intensity::Given(g) => *g,
        }
    }

    fn source(&self) -> &'static str {
        match self {
            Intensity::Plugin(_) => "from this plugin's environment answer",
            Intensity::Given(_) => "--intensity",
        }
    }
}

/// One line saying what the host makes of `first` (and `second`, a later reading of the same
/// resource, for a plugin that gives only an energy counter): energy over the interval and
/// its emissions. A power reading is held over one `interval`, as the host integrates two
/// equal readings that far apart.
pub fn describe(
    first: &ResourceSample,
    second: Option<&ResourceSample>,
    interval: Duration,
    max_power_watts: f64,
    intensity: Option<&Intensity>,
) -> String {
    let (baseline, reading) = match (first.power_watts, second) {
        (Some(watts), _) => {
            let interval_ms = interval.as_millis() as u64;
            let baseline = LastReading {
                energy_joules: None,
                power_watts: Some(watts),
                read_at_ms: first.read_at.saturating_sub(interval_ms),
            };
            (baseline, first)
        }
        (None, Some(second)) => {
            let baseline = LastReading {
                energy_joules: first.energy_joules,
                power_watts: None,
                read_at_ms: first.read_at,
            };
            (baseline, second)
        }
        (None, None) => {
            return "no power reading, and no second energy reading to take a difference of"
                .to_owned();
        }
    };
    let seconds = reading.read_at.saturating_sub(baseline.read_at_ms) as f64 / 1000.0;
    let mut counters = Counters {
        last: Some(baseline),
        ..Counters::default()
    };
    let grams = intensity.map(Intensity::grams_per_kwh);
    // IT energy as the plugin read it: the data centre's overhead (PUE) is the config's, not
    // the plugin's, so a check of the plugin prices the reading at PUE 1.
    match counters.advance(reading, grams, max_power_watts, 1.0) {
        Err(refusal) => format!(
            "`{}`: the host refuses this reading ({refusal:?}) and counts nothing",
            reading.resource_id
        ),
        Ok(joules) => {
            let energy = format!("`{}`: {joules:.1} J in {seconds:.1} s", reading.resource_id);
            match intensity {
                Some(i) => format!(
                    "{energy} -> {:.4} gCO2e at {} g/kWh ({}); {:.2} gCO2e per hour at this rate",
                    counters.emissions_grams_total,
                    i.grams_per_kwh(),
                    i.source(),
                    counters.emissions_grams_total * 3600.0 / seconds.max(f64::MIN_POSITIVE),
                ),
                None => format!(
                    "{energy}; its emissions need a grid intensity: pass --intensity G (g/kWh)"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(energy: Option<f64>, power: Option<f64>, at: u64) -> ResourceSample {
        ResourceSample {
            components: Vec::new(),
            resource_id: "vm".into(),
            energy_joules: energy,
            power_watts: power,
            cpu_frequency_hertz: None,
            cpu_utilization_ratio: None,
            read_at: at,
            estimated: false,
        }
    }

    #[test]
    fn power_is_held_over_one_interval_and_priced() {
        let line = describe(
            &sample(None, Some(50.0), 100_000),
            None,
            Duration::from_secs(10),
            100_000.0,
            Some(&Intensity::Given(360.0)),
        );
        // 500 J = 1/7200 kWh, at 360 g/kWh 0.05 g; 18 g an hour.
        assert_eq!(
            line,
            "`vm`: 500.0 J in 10.0 s -> 0.0500 gCO2e at 360 g/kWh (--intensity); 18.00 gCO2e \
             per hour at this rate"
        );
    }

    #[test]
    fn an_energy_counter_needs_two_readings_and_the_plausibility_check_applies() {
        let first = sample(Some(1_000.0), None, 100_000);
        assert!(describe(&first, None, Duration::from_secs(10), 1e5, None).starts_with("no power"));
        let second = sample(Some(1_720.0), None, 101_000);
        assert_eq!(
            describe(
                &first,
                Some(&second),
                Duration::from_secs(10),
                1e5,
                Some(&Intensity::Plugin(100.0)),
            ),
            "`vm`: 720.0 J in 1.0 s -> 0.0200 gCO2e at 100 g/kWh (from this plugin's \
             environment answer); 72.00 gCO2e per hour at this rate"
        );
        // 720 J in a second is 720 W: above a 500 W maximum, refused as the daemon would.
        assert!(
            describe(&first, Some(&second), Duration::from_secs(10), 500.0, None)
                .contains("the host refuses this reading (ImplausibleDelta)")
        );
    }
}
