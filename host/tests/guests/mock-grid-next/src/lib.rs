//! "Version 0.2.0" of mock-grid, for hot-reload tests: same plugin name, a constant carbon
//! intensity of 123 g/kWh everywhere, so a test can tell which version answers.

use carbonaut_sdk::{
    EmissionFactorType, EnergyMix, EnergySource, Environment, LocationQuery, Metadata, Plugin,
    ProviderError, Settings, SourceShare,
};

struct NextGrid;

impl Plugin for NextGrid {
    fn metadata() -> Metadata {
        Metadata::new(
            "mock-grid",
            "0.2.0",
            "The next mock grid: 123 g/kWh everywhere.",
        )
        // Declared only by this version: a test sets it, then puts back a version that does
        // not declare it, which the reload must refuse.
        .setting("intensity", "Ignored; 123 g/kWh whatever it says", false)
    }
}

impl Environment for NextGrid {
    fn collect(
        _: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        Ok(locations
            .into_iter()
            .map(|q| EnergyMix {
                zone: None,
                location_id: q.id,
                carbon_intensity: 123.0,
                emission_factor: EmissionFactorType::Direct,
                shares: vec![SourceShare {
                    source: EnergySource::Gas,
                    ratio: 1.0,
                }],
                valid_at: 0,
                estimated: true,
            })
            .collect())
    }
}

carbonaut_sdk::export!(NextGrid: environment);
