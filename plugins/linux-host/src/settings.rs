//! The plugin's settings, parsed and checked once per call. An account's own settings take
//! precedence over the provider's.

use carbonaut_sdk::{Account, Location, ProviderError, Settings, setting};

use crate::estimate::Coefficients;

pub struct Config {
    pub coefficients: Coefficients,
    /// Estimate even where RAPL is readable (to compare the two, or where RAPL is known wrong).
    pub force_estimate: bool,
    /// The resource id; the hostname when not set.
    pub resource_id: Option<String>,
    /// Where the machine is, so the environment provider can price its energy.
    pub location: Location,
}

/// `(key, description)` of every setting, for the metadata.
pub const SPECS: [(&str, &str); 7] = [
    (
        "min_watts_per_vcpu",
        "Estimate only: watts per vCPU at 0% utilisation (default 0.74, Cloud Carbon Footprint's AWS figure)",
    ),
    (
        "max_watts_per_vcpu",
        "Estimate only: watts per vCPU at 100% utilisation (default 3.5, Cloud Carbon Footprint's AWS figure)",
    ),
    (
        "pue",
        "Estimate only: power usage effectiveness multiplying the estimate (default 1.0, at least 1)",
    ),
    (
        "force_estimate",
        "`true` to estimate from utilisation even where RAPL is readable (default false)",
    ),
    (
        "resource_id",
        "Id of the machine's resource (default: its hostname)",
    ),
    (
        "country",
        "ISO 3166-1 alpha-2 country of the machine, for the carbon intensity",
    ),
    ("zone", "Grid zone of the machine, for the carbon intensity"),
];

fn number(raw: Option<&str>, key: &str, default: f64) -> Result<f64, ProviderError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| {
            ProviderError::BadConfig(format!(
                "setting `{key}` must be a number of at least 0, got `{raw}`"
            ))
        })
}

pub fn parse(settings: &Settings, account: &Account) -> Result<Config, ProviderError> {
    let get = |key: &str| setting(&account.settings, key).or_else(|| setting(settings, key));
    let defaults = Coefficients::default();
    let coefficients = Coefficients {
        min_watts_per_vcpu: number(
            get("min_watts_per_vcpu"),
            "min_watts_per_vcpu",
            defaults.min_watts_per_vcpu,
        )?,
        max_watts_per_vcpu: number(
            get("max_watts_per_vcpu"),
            "max_watts_per_vcpu",
            defaults.max_watts_per_vcpu,
        )?,
        pue: number(get("pue"), "pue", defaults.pue)?,
    };
    if coefficients.max_watts_per_vcpu < coefficients.min_watts_per_vcpu {
        return Err(ProviderError::BadConfig(format!(
            "setting `max_watts_per_vcpu` ({}) is below `min_watts_per_vcpu` ({})",
            coefficients.max_watts_per_vcpu, coefficients.min_watts_per_vcpu
        )));
    }
    if coefficients.pue < 1.0 {
        return Err(ProviderError::BadConfig(format!(
            "setting `pue` must be at least 1 (a facility cannot use less than its IT load), got {}",
            coefficients.pue
        )));
    }
    let force_estimate = match get("force_estimate").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ProviderError::BadConfig(format!(
                "setting `force_estimate` must be true or false, got `{other}`"
            )));
        }
    };
    let text = |key: &str| {
        get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(Config {
        coefficients,
        force_estimate,
        resource_id: text("resource_id"),
        location: Location {
            cloud: None,
            grid_zone: None,
            country: text("country"),
            region: None,
            zone: text("zone"),
            coordinates: None,
        },
    })
}
