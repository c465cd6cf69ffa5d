//! What to collect: provider instances bound to loaded plugins, per account and for the
//! environment. Built from the config by the app; the collector only reads it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::plugins::Plugin;
use crate::runtime::bindings::{Location, Settings};

/// A named provider instance: a plugin plus the settings the operator gave it.
#[derive(Clone)]
pub struct ProviderInstance {
    pub name: String,
    pub plugin: Arc<Plugin>,
    pub settings: Settings,
}

#[derive(Clone)]
pub struct AccountPlan {
    pub name: String,
    pub settings: Settings,
    pub discovery: ProviderInstance,
    pub resource_metrics: ProviderInstance,
}

#[derive(Clone)]
pub struct EnvironmentPlan {
    pub provider: ProviderInstance,
    /// Region, zone or country → grid zone, from the operator's config.
    pub zones: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Plan {
    pub accounts: Vec<AccountPlan>,
    pub environment: Option<EnvironmentPlan>,
    pub topology_sync: Duration,
    pub resource_metrics: Duration,
    pub environment_interval: Duration,
    /// Resources per resource-metrics call: big enough that a 10 000-resource account takes
    /// a handful of calls, small enough that one call's payload stays a few MiB.
    pub batch_size: usize,
}

/// The grid location a resource is attributed to: the configured zone for its region, zone or
/// country, else its country, else its region. Bounded by the number of grids, so it is safe
/// as a metric label.
pub fn location_key(location: &Location, zones: &BTreeMap<String, String>) -> String {
    let candidates = [&location.region, &location.zone, &location.country];
    candidates
        .iter()
        .filter_map(|c| c.as_deref())
        .find_map(|c| zones.get(c))
        .cloned()
        .or_else(|| location.country.clone())
        .or_else(|| location.region.clone())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(country: Option<&str>, region: Option<&str>) -> Location {
        Location {
            country: country.map(Into::into),
            region: region.map(Into::into),
            zone: None,
            coordinates: None,
        }
    }

    #[test]
    fn mapping_wins_then_country_then_region() {
        let zones = BTreeMap::from([("us-east-1".to_owned(), "US-MIDA-PJM".to_owned())]);
        assert_eq!(
            location_key(&location(Some("US"), Some("us-east-1")), &zones),
            "US-MIDA-PJM"
        );
        assert_eq!(
            location_key(&location(Some("DE"), Some("eu-central-1")), &zones),
            "DE"
        );
        assert_eq!(
            location_key(&location(None, Some("mars-1")), &zones),
            "mars-1"
        );
        assert_eq!(location_key(&location(None, None), &zones), "unknown");
    }
}
