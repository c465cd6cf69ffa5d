//! The two v3 response bodies (`carbon-intensity/latest`, `power-breakdown/latest`) read into
//! one zone's mix. Fields are read one by one so that a body of the wrong shape is reported
//! by the field that was wrong, not by a byte offset.

use carbonaut_sdk::{
    EmissionFactorType, EnergyMix, EnergySource, ProviderError, SourceShare, log, time,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Electricity Maps' source names in `powerConsumptionBreakdown`, and ours.
const SOURCES: [(&str, EnergySource); 12] = [
    ("nuclear", EnergySource::Nuclear),
    ("geothermal", EnergySource::Geothermal),
    ("biomass", EnergySource::Biomass),
    ("coal", EnergySource::Coal),
    ("wind", EnergySource::Wind),
    ("solar", EnergySource::Solar),
    ("hydro", EnergySource::Hydro),
    ("gas", EnergySource::Gas),
    ("oil", EnergySource::Oil),
    ("unknown", EnergySource::Unknown),
    ("hydro discharge", EnergySource::HydroStorage),
    ("battery discharge", EnergySource::Battery),
];

/// One zone's figures, as cached. Sources are kept by their Electricity Maps name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneMix {
    pub carbon_intensity: f64,
    pub direct: bool,
    pub shares: Vec<(String, f64)>,
    pub valid_at_ms: u64,
    pub estimated: bool,
}

impl ZoneMix {
    pub fn to_wit(&self, location_id: String) -> EnergyMix {
        EnergyMix {
            zone: None,
            location_id,
            carbon_intensity: self.carbon_intensity,
            emission_factor: if self.direct {
                EmissionFactorType::Direct
            } else {
                EmissionFactorType::Lifecycle
            },
            shares: self
                .shares
                .iter()
                .map(|(name, ratio)| SourceShare {
                    source: source(name),
                    ratio: *ratio,
                })
                .collect(),
            valid_at: self.valid_at_ms,
            estimated: self.estimated,
        }
    }
}

fn source(name: &str) -> EnergySource {
    SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(EnergySource::Unknown, |(_, s)| *s)
}

/// A body of the wrong shape, naming the endpoint and the field.
fn malformed(endpoint: &str, field: &str, why: &str) -> ProviderError {
    ProviderError::Other(format!(
        "Electricity Maps {endpoint} answered a body of an unexpected shape: `{field}` {why}"
    ))
}

pub fn json(endpoint: &str, body: &[u8]) -> Result<Value, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::Other(format!(
            "Electricity Maps {endpoint} answered something that is not JSON: {e}"
        ))
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(malformed(endpoint, "(body)", "is not a JSON object"))
    }
}

/// The figures of `carbon-intensity/latest`: `None` when the zone has no intensity (the API
/// answers `null` for zones it lists but cannot compute).
pub struct Intensity {
    pub carbon_intensity: Option<f64>,
    pub direct: bool,
    pub valid_at_ms: u64,
    pub estimated: bool,
}

const INTENSITY: &str = "carbon-intensity/latest";
const BREAKDOWN: &str = "power-breakdown/latest";

pub fn intensity(body: &Value) -> Result<Intensity, ProviderError> {
    let carbon_intensity = match body.get("carbonIntensity") {
        None => return Err(malformed(INTENSITY, "carbonIntensity", "is missing")),
        Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|g| g.is_finite() && *g >= 0.0)
                .ok_or_else(|| {
                    malformed(
                        INTENSITY,
                        "carbonIntensity",
                        &format!("is {v}, not a number of gCO2eq/kWh"),
                    )
                })?,
        ),
    };
    // Absent in older answers; lifecycle is the API's default.
    let direct = match body.get("emissionFactorType") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "lifecycle" => false,
        Some(Value::String(s)) if s == "direct" => true,
        Some(v) => {
            return Err(malformed(
                INTENSITY,
                "emissionFactorType",
                &format!("is {v}, not \"lifecycle\" or \"direct\""),
            ));
        }
    };
    Ok(Intensity {
        carbon_intensity,
        direct,
        valid_at_ms: datetime(INTENSITY, body)?,
        estimated: is_estimated(INTENSITY, body)?,
    })
}

fn datetime(endpoint: &str, body: &Value) -> Result<u64, ProviderError> {
    let text = body
        .get("datetime")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(endpoint, "datetime", "is missing or not a string"))?;
    time::parse_rfc3339_ms(text).map_err(|e| malformed(endpoint, "datetime", &e.to_string()))
}

fn is_estimated(endpoint: &str, body: &Value) -> Result<bool, ProviderError> {
    match body.get("isEstimated") {
        // Answers from before estimation was flagged are measured values.
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(malformed(
            endpoint,
            "isEstimated",
            &format!("is {v}, not true or false"),
        )),
    }
}

/// Consumption shares by source and whether the breakdown is estimated. A zone without a
/// consumption total (`null` or 0) has no shares, which is not an error.
pub fn shares(body: &Value, zone: &str) -> Result<(Vec<(String, f64)>, bool), ProviderError> {
    let estimated = is_estimated(BREAKDOWN, body)?;
    let total = match body.get("powerConsumptionTotal") {
        None => {
            return Err(malformed(BREAKDOWN, "powerConsumptionTotal", "is missing"));
        }
        Some(Value::Null) => return Ok((Vec::new(), estimated)),
        Some(v) => v.as_f64().filter(|t| t.is_finite()).ok_or_else(|| {
            malformed(
                BREAKDOWN,
                "powerConsumptionTotal",
                &format!("is {v}, not a number of MW"),
            )
        })?,
    };
    if total <= 0.0 {
        return Ok((Vec::new(), estimated));
    }
    let breakdown = body
        .get("powerConsumptionBreakdown")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            malformed(
                BREAKDOWN,
                "powerConsumptionBreakdown",
                "is missing or not an object",
            )
        })?;
    let mut shares: Vec<(String, f64)> = Vec::new();
    for (name, value) in breakdown {
        let megawatts = match value {
            // A source the zone does not report.
            Value::Null => continue,
            v => v.as_f64().filter(|mw| mw.is_finite()).ok_or_else(|| {
                malformed(
                    BREAKDOWN,
                    &format!("powerConsumptionBreakdown.{name}"),
                    &format!("is {v}, not a number of MW"),
                )
            })?,
        };
        let ours = match SOURCES.iter().find(|(n, _)| n == name) {
            Some((n, _)) => *n,
            None => {
                // A source added to the API after this plugin: counted, as unknown.
                log::warn(
                    "an energy source this plugin does not know is counted as unknown",
                    &[("zone", zone), ("source", name)],
                );
                "unknown"
            }
        };
        // Charging a battery is consumption, not a source: a negative flow adds nothing.
        let ratio = megawatts.max(0.0) / total;
        match shares.iter_mut().find(|(n, _)| n == ours) {
            Some((_, r)) => *r += ratio,
            None => shares.push((ours.to_owned(), ratio)),
        }
    }
    Ok((shares, estimated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_name_maps_to_a_distinct_energy_source() {
        for (i, (name, s)) in SOURCES.iter().enumerate() {
            assert_eq!(source(name), *s);
            assert!(
                SOURCES[i + 1..].iter().all(|(_, other)| other != s),
                "{name}"
            );
        }
    }
}
