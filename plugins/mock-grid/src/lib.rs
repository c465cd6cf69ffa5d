//! A pretend grid operator: an energy mix and carbon intensity for any location, deterministic
//! per country and hour of the day, so demos and tests have emissions to compute without an
//! account anywhere.

use carbonaut_sdk::{
    EmissionFactorType, EnergyMix, EnergySource, Environment, ForecastPoint, IntensityForecast,
    LocationQuery, Metadata, Plugin, ProviderError, Settings, SourceShare,
};

struct MockGrid;

/// (country, fossil share, low-carbon source): rough shapes of real grids, not real data.
const GRIDS: [(&str, f64, EnergySource); 6] = [
    ("DE", 0.45, EnergySource::Wind),
    ("FR", 0.10, EnergySource::Nuclear),
    ("SE", 0.03, EnergySource::Hydro),
    ("US", 0.60, EnergySource::Nuclear),
    ("IN", 0.75, EnergySource::Solar),
    ("BR", 0.15, EnergySource::Hydro),
];

/// gCO2eq/kWh of the fossil part (a gas/coal blend, lifecycle) and of the low-carbon part.
const FOSSIL_INTENSITY: f64 = 700.0;
const CLEAN_INTENSITY: f64 = 25.0;

impl Plugin for MockGrid {
    fn metadata() -> Metadata {
        Metadata::new(
            "mock-grid",
            env!("CARGO_PKG_VERSION"),
            "A deterministic pretend energy mix and carbon intensity for any location.",
        )
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

const HOUR_MS: u64 = 3_600_000;
/// Hours of forecast each answer covers, from the current hour on.
const FORECAST_HOURS: u64 = 48;

/// Solar noon lowers the fossil share a little, like a real grid's daily curve: the factor on
/// the fossil share at UTC `hour` (0 to 23).
fn daylight(hour: u64) -> f64 {
    1.0 - 0.2 * (-(((hour as f64) - 12.0) / 4.0).powi(2)).exp()
}

/// The query's grid: fossil share and low-carbon source.
fn grid(q: &LocationQuery) -> (f64, EnergySource) {
    let country = q
        .grid_zone
        .as_deref()
        .or(q.location.country.as_deref())
        .unwrap_or("unknown");
    GRIDS
        .iter()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(country))
        .map(|(_, f, s)| (*f, *s))
        .unwrap_or((0.5, EnergySource::Unknown))
}

/// gCO2eq/kWh of a grid with `fossil` share at UTC `hour`.
fn intensity(fossil: f64, hour: u64) -> f64 {
    let fossil = fossil * daylight(hour);
    fossil * FOSSIL_INTENSITY + (1.0 - fossil) * CLEAN_INTENSITY
}

impl Environment for MockGrid {
    /// The same daily curve as `collect`, hour by hour for the next 48 hours, generated at the
    /// start of the current hour: a forecast that is exactly what will be measured.
    fn forecast(
        _settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<IntensityForecast>, ProviderError> {
        let now = now_ms();
        let start = now - now % HOUR_MS;
        Ok(locations
            .into_iter()
            .map(|q| {
                let (fossil, _) = grid(&q);
                IntensityForecast {
                    location_id: q.id,
                    zone: None,
                    emission_factor: EmissionFactorType::Lifecycle,
                    generated_at: start,
                    points: (0..FORECAST_HOURS)
                        .map(|h| {
                            let at = start + h * HOUR_MS;
                            ForecastPoint {
                                starts_at: at,
                                duration_ms: HOUR_MS,
                                carbon_intensity: intensity(fossil, (at / HOUR_MS) % 24),
                            }
                        })
                        .collect(),
                }
            })
            .collect())
    }

    fn collect(
        _settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        let now = now_ms();
        let hour = (now / HOUR_MS) % 24;
        Ok(locations
            .into_iter()
            .map(|q| {
                let (fossil, clean) = grid(&q);
                let carbon_intensity = intensity(fossil, hour);
                let fossil = fossil * daylight(hour);
                EnergyMix {
                    zone: None,
                    location_id: q.id,
                    carbon_intensity,
                    emission_factor: EmissionFactorType::Lifecycle,
                    shares: vec![
                        SourceShare {
                            source: EnergySource::Gas,
                            ratio: fossil * 0.6,
                        },
                        SourceShare {
                            source: EnergySource::Coal,
                            ratio: fossil * 0.4,
                        },
                        SourceShare {
                            source: clean,
                            ratio: 1.0 - fossil,
                        },
                    ],
                    valid_at: now - now % 3_600_000,
                    estimated: true,
                }
            })
            .collect())
    }
}

carbonaut_sdk::export!(MockGrid: environment);
