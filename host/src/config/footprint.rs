//! `[footprint]`: what the host adds to operational energy beyond the meters — the estimation
//! provider that prices unmetered resources and their manufacturing (embodied) emissions, the
//! machines' expected life, and the data-centre overhead (PUE) by cloud and region.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::validate::Checker;
use carbonaut_model::Location;

/// `[footprint]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFootprint {
    pub estimation: Option<Spanned<String>>,
    pub lifetime_hours: Option<Spanned<f64>>,
    #[serde(default)]
    pub pue: BTreeMap<Spanned<String>, Spanned<f64>>,
}

/// SCI's default expected life of a server: four years (EL = 35 040 h).
pub const DEFAULT_LIFETIME_HOURS: f64 = 35_040.0;

/// The facility overhead of the large clouds, as Cloud Carbon Footprint uses them
/// (../shared/reference/data/ccf-coefficients/README.md); every other location is 1.0.
pub const DEFAULT_PUE: [(&str, f64); 3] = [("aws", 1.135), ("gcp", 1.1), ("azure", 1.185)];

/// A PUE outside this range is a typo: no data centre uses less energy than its IT, and the
/// worst measured ones stay well below 3.
const PUE_RANGE: std::ops::RangeInclusive<f64> = 1.0..=3.0;

/// The checked `[footprint]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FootprintConfig {
    /// The provider instance that estimates power and embodied shares, if any.
    pub estimation: Option<String>,
    /// EL, for an estimate that names no lifetime of its own.
    pub lifetime_hours: f64,
    /// `cloud/region`, `cloud` or `default` → PUE; the defaults above merged with the file's.
    pub pue: BTreeMap<String, f64>,
}

impl Default for FootprintConfig {
    fn default() -> Self {
        FootprintConfig {
            estimation: None,
            lifetime_hours: DEFAULT_LIFETIME_HOURS,
            pue: DEFAULT_PUE
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        }
    }
}

impl FootprintConfig {
    /// The PUE of a resource at `location`: its `cloud/region` entry, else its cloud's, else
    /// `default`, else 1.0 (IT energy counted as it is).
    pub fn pue_for(&self, location: &Location) -> f64 {
        let cloud = location.cloud.as_deref();
        let region = cloud
            .zip(location.region.as_deref())
            .map(|(c, r)| format!("{c}/{r}"));
        region
            .as_deref()
            .and_then(|k| self.pue.get(k))
            .or_else(|| cloud.and_then(|c| self.pue.get(c)))
            .or_else(|| self.pue.get("default"))
            .copied()
            .unwrap_or(1.0)
    }
}

impl Checker<'_> {
    pub(super) fn footprint(&mut self, raw: Option<RawFootprint>) -> FootprintConfig {
        let mut config = FootprintConfig::default();
        let Some(raw) = raw else {
            return config;
        };
        config.estimation = raw.estimation.map(Spanned::into_inner);
        if let Some(hours) = raw.lifetime_hours {
            let h = *hours.get_ref();
            if h.is_finite() && h >= 1.0 {
                config.lifetime_hours = h;
            } else {
                self.report.push(
                    self.at(hours.span()),
                    format!("[footprint] lifetime_hours is {h}"),
                    format!("give the machines' expected life in hours (default {DEFAULT_LIFETIME_HOURS}, four years)"),
                );
            }
        }
        for (key, value) in raw.pue {
            let v = *value.get_ref();
            let k = key.get_ref().trim().to_ascii_lowercase();
            if k.is_empty() {
                self.report.push(
                    self.at(key.span()),
                    "[footprint] pue has an empty key",
                    "key PUE by cloud (`aws`), by cloud and region (`aws/eu-north-1`) or `default`",
                );
            } else if !(v.is_finite() && PUE_RANGE.contains(&v)) {
                self.report.push(
                    self.at(value.span()),
                    format!("[footprint] pue `{k}` is {v}"),
                    "a PUE is facility energy over IT energy: between 1.0 and 3.0, like 1.135",
                );
            } else {
                config.pue.insert(k, v);
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cloud: Option<&str>, region: Option<&str>) -> Location {
        Location {
            cloud: cloud.map(Into::into),
            grid_zone: None,
            region: region.map(Into::into),
            ..Location::default()
        }
    }

    #[test]
    fn pue_by_region_then_cloud_then_default() {
        let mut config = FootprintConfig::default();
        assert_eq!(config.pue_for(&at(Some("aws"), Some("eu-north-1"))), 1.135);
        assert_eq!(config.pue_for(&at(Some("gcp"), None)), 1.1);
        assert_eq!(config.pue_for(&at(Some("azure"), None)), 1.185);
        assert_eq!(config.pue_for(&at(Some("hetzner"), None)), 1.0);
        assert_eq!(config.pue_for(&at(None, Some("eu-north-1"))), 1.0);
        config.pue.insert("aws/eu-north-1".into(), 1.07);
        config.pue.insert("default".into(), 1.4);
        assert_eq!(config.pue_for(&at(Some("aws"), Some("eu-north-1"))), 1.07);
        assert_eq!(config.pue_for(&at(Some("aws"), Some("us-east-1"))), 1.135);
        assert_eq!(config.pue_for(&at(None, None)), 1.4);
    }
}
