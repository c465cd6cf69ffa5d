//! static-grid: yearly average carbon intensity per country from Ember's data, shipped inside
//! the plugin (CC BY-SA 4.0, see NOTICE). No network, no account: the honest default until a
//! live grid provider is configured. It answers from the query's grid zone, else its country,
//! else its cloud region; a location it cannot place is left out.

mod data;
mod regions;

use carbonaut_sdk::{
    EmissionFactorType, EnergyMix, Environment, LocationQuery, Metadata, Plugin, ProviderError,
    Settings,
};

struct StaticGrid;

impl Plugin for StaticGrid {
    fn metadata() -> Metadata {
        Metadata::new(
            "static-grid",
            env!("CARGO_PKG_VERSION"),
            "Yearly average grid carbon intensity per country (Ember, CC BY-SA 4.0); no network.",
        )
    }
}

/// The row for a country code, alpha-2 or alpha-3, any case.
fn country(code: &str) -> Option<&'static (&'static str, &'static str, &'static str, u16, f64)> {
    let code = code.trim();
    data::COUNTRIES
        .iter()
        .find(|(a2, a3, ..)| a2.eq_ignore_ascii_case(code) || a3.eq_ignore_ascii_case(code))
}

fn region_country(region: &str) -> Option<&'static str> {
    regions::CLOUD_REGIONS
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(region))
        .map(|(_, c)| *c)
}

/// Milliseconds since the epoch at 1 January of `year`, UTC: when the yearly average begins.
fn start_of_year_ms(year: u16) -> u64 {
    let days: u64 = (1970..u64::from(year))
        .map(|y| {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                366
            } else {
                365
            }
        })
        .sum();
    days * 86_400_000
}

impl Environment for StaticGrid {
    fn collect(
        _: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        Ok(locations
            .into_iter()
            .filter_map(|q| {
                let l = &q.location;
                let row = q
                    .grid_zone
                    .as_deref()
                    .and_then(country)
                    .or_else(|| l.country.as_deref().and_then(country))
                    .or_else(|| {
                        l.region
                            .as_deref()
                            .and_then(region_country)
                            .and_then(country)
                    })?;
                Some(EnergyMix {
                    zone: None,
                    location_id: q.id,
                    carbon_intensity: row.4,
                    // Ember's intensities use IPCC lifecycle emission factors.
                    emission_factor: EmissionFactorType::Lifecycle,
                    shares: Vec::new(),
                    valid_at: start_of_year_ms(row.3),
                    estimated: true,
                })
            })
            .collect())
    }
}

carbonaut_sdk::export!(StaticGrid: environment);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_start_where_the_calendar_says() {
        assert_eq!(start_of_year_ms(1970), 0);
        assert_eq!(start_of_year_ms(2024), 1_704_067_200_000);
    }

    #[test]
    fn every_region_maps_to_a_known_country() {
        for (region, code) in regions::CLOUD_REGIONS {
            assert!(country(code).is_some(), "{region} -> {code}");
        }
    }
}
