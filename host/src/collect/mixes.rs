//! The energy mixes seen per location, by the time they hold for, so a sample's energy is
//! priced at the carbon intensity valid when it was read, not whatever arrived last.

use std::collections::BTreeMap;

use carbonaut_model::EnergyMix;

/// Mixes kept per location: two days of hourly values.
const KEPT_PER_LOCATION: usize = 48;

#[derive(Debug, Default)]
pub struct MixHistory {
    /// Per location, ordered by `valid_at`, at most one mix per `valid_at`.
    by_location: BTreeMap<String, Vec<EnergyMix>>,
}

impl MixHistory {
    pub fn insert(&mut self, mix: EnergyMix) {
        let list = self.by_location.entry(mix.location_id.clone()).or_default();
        match list.binary_search_by_key(&mix.valid_at, |m| m.valid_at) {
            Ok(i) => list[i] = mix,
            Err(i) => list.insert(i, mix),
        }
        if list.len() > KEPT_PER_LOCATION {
            list.remove(0);
        }
    }

    /// The mix with the latest `valid_at`.
    pub fn latest(&self, location: &str) -> Option<&EnergyMix> {
        self.by_location.get(location)?.last()
    }

    /// The intensity valid at `at_ms`: the latest mix that started at or before it, else (a
    /// sample older than every mix) the earliest one.
    pub fn intensity_at(&self, location: &str, at_ms: u64) -> Option<f64> {
        let list = self.by_location.get(location)?;
        let i = list.partition_point(|m| m.valid_at <= at_ms);
        list.get(i.saturating_sub(1)).map(|m| m.carbon_intensity)
    }

    pub fn clear(&mut self) {
        self.by_location.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::EmissionFactorType;

    fn mix(valid_at: u64, intensity: f64) -> EnergyMix {
        EnergyMix {
            zone: None,
            location_id: "DE".into(),
            carbon_intensity: intensity,
            emission_factor: EmissionFactorType::Lifecycle,
            shares: vec![],
            valid_at,
            estimated: false,
        }
    }

    #[test]
    fn a_sample_is_priced_at_the_mix_valid_when_it_was_read() {
        let mut h = MixHistory::default();
        h.insert(mix(3_600_000, 300.0));
        h.insert(mix(0, 100.0));
        h.insert(mix(7_200_000, 500.0));
        assert_eq!(h.intensity_at("DE", 0), Some(100.0));
        assert_eq!(h.intensity_at("DE", 3_599_999), Some(100.0));
        assert_eq!(h.intensity_at("DE", 3_600_000), Some(300.0));
        assert_eq!(h.intensity_at("DE", 99_999_999), Some(500.0));
        assert_eq!(h.latest("DE").map(|m| m.carbon_intensity), Some(500.0));
        assert_eq!(h.intensity_at("FR", 0), None);
    }

    #[test]
    fn older_than_every_mix_takes_the_earliest_and_history_is_bounded() {
        let mut h = MixHistory::default();
        for hour in 10..100u64 {
            h.insert(mix(hour * 3_600_000, hour as f64));
        }
        h.insert(mix(99 * 3_600_000, 7.0)); // a correction replaces, not duplicates
        assert_eq!(
            h.intensity_at("DE", 0),
            Some(52.0),
            "the earliest of the 48 kept"
        );
        assert_eq!(h.latest("DE").map(|m| m.carbon_intensity), Some(7.0));
    }
}
