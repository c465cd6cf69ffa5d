//! What to collect: provider instances bound to loaded plugins, per account and for the
//! environment. Built from the config by the app; the collector only reads it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Failure;
use super::health::Health;
use crate::config::{Config, ProviderConfig};
use carbonaut_model::{Location, Settings};
use carbonaut_plugins::{CallError, Offered, Plugin, PluginInfo};
use carbonaut_runtime::{Grants, Limits};

/// A named provider instance: a plugin plus the settings the operator gave it. The plugin is
/// `None` while its file is missing, refused or disabled: the provider is down, with a reason.
#[derive(Clone)]
pub struct ProviderInstance {
    pub name: String,
    pub plugin_name: String,
    pub plugin: Result<Arc<Plugin>, String>,
    pub settings: Settings,
    /// What this instance may use: the operator's offer narrowed to the plugin's needs.
    pub grants: Grants,
    /// Shared by every account that uses this instance.
    pub health: Arc<Health>,
}

impl ProviderInstance {
    /// Runs `call` on the plugin unless the provider is down or backing off, within its
    /// concurrency cap, and counts the outcome in its health.
    pub async fn guarded<T>(
        &self,
        call: impl AsyncFnOnce(&Arc<Plugin>) -> Result<T, CallError>,
    ) -> Result<T, Failure> {
        let plugin = self.plugin()?;
        self.health.check(&self.name, &self.plugin_name)?;
        let _permit = self.health.permit().await;
        let result = call(plugin).await.map_err(Failure::from);
        self.health.record(&result);
        result
    }

    /// The limits its calls run under.
    pub fn limits(&self) -> Limits {
        self.grants.limits.unwrap_or_default()
    }

    pub fn plugin(&self) -> Result<&Arc<Plugin>, Failure> {
        self.plugin.as_ref().map_err(|reason| Failure::PluginDown {
            plugin: self.plugin_name.clone(),
            reason: format!("{reason} (provider `{}`)", self.name),
        })
    }

    /// Same plugin build and settings: nothing to rebuild on a reload.
    pub fn same_as(&self, other: &ProviderInstance) -> bool {
        let sha = |p: &ProviderInstance| p.plugin.as_ref().ok().map(|p| p.info().sha256.clone());
        self.plugin_name == other.plugin_name
            && self.settings == other.settings
            && self.grants == other.grants
            && sha(self) == sha(other)
    }
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
    /// Asked for intensity forecasts instead of `provider` (`[environment] forecast`).
    pub forecast: Option<ProviderInstance>,
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
    /// How long removed resources' counters are kept for their return.
    pub retention: Duration,
    /// How old a resource's latest reading may be before its gauges are dropped.
    pub stale_after: Duration,
    /// This instance's shard: `accounts` holds only the accounts it owns.
    pub shard: crate::cluster::Cluster,
    /// Configured accounts other shards own: not collected, their stored state left in place
    /// (`cluster::handoff` prunes it after the retention).
    pub unowned: std::collections::BTreeSet<String>,
    /// Resources per resource-metrics call: big enough that a 10 000-resource account takes
    /// a handful of calls, small enough that one call's payload stays a few MiB.
    pub batch_size: usize,
    /// What the history rollups keep (`[reports]`).
    pub reports: crate::config::ReportsConfig,
    /// Bounds on writes to the state directory (`[state]`).
    pub state: crate::config::StateConfig,
    /// The estimation provider (`[footprint] estimation`), if any.
    pub estimation: Option<ProviderInstance>,
    /// Machine life and PUE (`[footprint]`).
    pub footprint: crate::config::FootprintConfig,
}

/// Resources per resource-metrics call (see [`Plan::batch_size`]).
const BATCH_SIZE: usize = 1000;

/// The zone mapping of a plan without an environment provider.
static NO_ZONES: BTreeMap<String, String> = BTreeMap::new();

/// A config that names a provider it does not define (the config's own check refuses that
/// first; this is the plan's guard).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("provider `{0}` is not defined")]
    UndefinedProvider(String),
}

impl Plan {
    /// Every provider instance the plan uses, once per use (accounts first, then environment,
    /// then estimation).
    pub fn providers(&self) -> impl Iterator<Item = &ProviderInstance> {
        self.accounts
            .iter()
            .flat_map(|a| [&a.discovery, &a.resource_metrics])
            .chain(self.environment.as_ref().map(|e| &e.provider))
            .chain(self.estimation.as_ref())
    }

    /// The operator's location → grid zone mapping (empty without an environment provider).
    pub fn zones(&self) -> &BTreeMap<String, String> {
        self.environment.as_ref().map_or(&NO_ZONES, |e| &e.zones)
    }

    /// What `/api/v1/status` and the shard gauges say about this instance's shard.
    pub fn shard_status(&self) -> crate::cluster::ShardStatus {
        crate::cluster::ShardStatus {
            ordinal: self.shard.shard.ordinal,
            total: self.shard.shard.total,
            owned_accounts: self.accounts.len(),
            configured_accounts: self.accounts.len() + self.unowned.len(),
            unowned_retention_seconds: self.shard.unowned_retention.as_secs(),
        }
    }

    /// Binds the accounts this shard owns and the providers of the config to loaded plugins; a provider whose plugin is
    /// not in `plugins` is planned as down, with the reason.
    pub fn from_config(
        config: &Config,
        plugins: &BTreeMap<String, Arc<Plugin>>,
    ) -> Result<Plan, PlanError> {
        let mut instances = BTreeMap::new();
        for (name, provider) in &config.providers {
            let plugin = plugins.get(&provider.plugin).cloned().ok_or_else(|| {
                format!(
                    "plugin `{}` is not loaded: its file is missing, was refused or is disabled",
                    provider.plugin
                )
            });
            let info = plugin.as_ref().ok().map(|p| p.info());
            let (grants, unused) = provider_grants(config, name, provider, info);
            for offer in unused {
                tracing::warn!(
                    provider = name.as_str(),
                    plugin = provider.plugin.as_str(),
                    "{offer} is configured, but the plugin does not ask for it in its metadata; not granted"
                );
            }
            let limits = grants.limits.unwrap_or(config.limits);
            let instance = ProviderInstance {
                name: name.to_owned(),
                plugin_name: provider.plugin.clone(),
                plugin,
                settings: provider.settings.to_wit(),
                grants,
                health: Arc::new(Health::new(limits.max_concurrent_calls)),
            };
            instances.insert(name.clone(), instance);
        }
        let instance = |name: &str| -> Result<ProviderInstance, PlanError> {
            instances
                .get(name)
                .cloned()
                .ok_or_else(|| PlanError::UndefinedProvider(name.to_owned()))
        };
        let shard = config.cluster.shard;
        let (owned, unowned): (Vec<_>, Vec<_>) = config
            .accounts
            .iter()
            .partition(|(name, _)| shard.owns(name));
        let accounts = owned
            .into_iter()
            .map(|(name, a)| {
                Ok(AccountPlan {
                    name: name.clone(),
                    settings: a.settings.to_wit(),
                    discovery: instance(&a.discovery)?,
                    resource_metrics: instance(&a.resource_metrics)?,
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        let environment = match &config.environment {
            None => None,
            Some(e) => Some(EnvironmentPlan {
                provider: instance(&e.provider)?,
                forecast: e.forecast.as_deref().map(instance).transpose()?,
                zones: e.zones.clone(),
            }),
        };
        Ok(Plan {
            accounts,
            environment,
            topology_sync: config.intervals.topology_sync,
            resource_metrics: config.intervals.resource_metrics,
            environment_interval: config.intervals.environment,
            retention: config.intervals.retention,
            stale_after: config.intervals.resource_metrics * config.intervals.stale_after,
            shard: config.cluster,
            unowned: unowned.into_iter().map(|(n, _)| n.clone()).collect(),
            batch_size: BATCH_SIZE,
            reports: config.reports.clone(),
            state: config.state,
            estimation: config
                .footprint
                .estimation
                .as_deref()
                .map(instance)
                .transpose()?,
            footprint: config.footprint.clone(),
        })
    }
}

/// What provider `name` of `config` gets: the operator's offer in `provider` narrowed to the
/// plugin's `needs` (nothing while its plugin is not loaded), its CA bundle, its limits over
/// the global ones, resolved here so that a reload of `[limits]` reaches every provider
/// without a restart, and the secrets to scrub from what it says (those from `${...}` and
/// the values of the settings the plugin calls secret). The second value lists what was
/// offered but not asked for, so not granted.
pub fn provider_grants(
    config: &Config,
    name: &str,
    provider: &ProviderConfig,
    plugin: Option<&PluginInfo>,
) -> (Grants, Vec<String>) {
    let needs = plugin.map(|p| &p.needs);
    let flagged: Vec<&str> = plugin
        .iter()
        .flat_map(|p| &p.settings)
        .filter(|s| s.secret)
        .map(|s| s.key.as_str())
        .collect();
    let offered = offered(provider);
    let (grants, unused) = needs.map_or((Grants::NONE, Vec::new()), |n| n.grant(&offered, name));
    let grants = Grants {
        tls_roots: provider.tls_ca.clone(),
        limits: Some(provider.limits.unwrap_or(config.limits)),
        secrets: config.secrets_seen_by(name, &flagged),
        ..grants
    };
    (grants, unused)
}

/// What the operator configured for `provider`, before the plugin's needs narrow it.
pub fn offered(provider: &ProviderConfig) -> Offered {
    Offered {
        read_only_dirs: provider.read_only_dirs.clone(),
        http: provider.allow_http.clone(),
        key_value: provider.key_value,
    }
}

/// The grid zone the operator's mapping gives for a location's region, zone or country.
/// The grid zone to ask about for `location`: the operator's mapping, else the one its
/// provider named (contract 0.3.0's `location.grid-zone`, e.g. AWS us-east-1 → US-MIDA-PJM).
pub fn grid_zone(location: &Location, zones: &BTreeMap<String, String>) -> Option<String> {
    mapped_zone(location, zones)
        .cloned()
        .or_else(|| location.grid_zone.clone())
}

pub fn mapped_zone<'a>(
    location: &Location,
    zones: &'a BTreeMap<String, String>,
) -> Option<&'a String> {
    [&location.region, &location.zone, &location.country]
        .iter()
        .filter_map(|c| c.as_deref())
        .find_map(|c| zones.get(c))
}

/// The grid location a resource is attributed to: the configured zone for its region, zone or
/// country, else the grid zone its provider named, else its country, else its region. Bounded
/// by the number of grids, so it is safe as a metric label.
pub fn location_key(location: &Location, zones: &BTreeMap<String, String>) -> String {
    grid_zone(location, zones)
        .or_else(|| location.country.clone())
        .or_else(|| location.region.clone())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(country: Option<&str>, region: Option<&str>) -> Location {
        Location {
            cloud: None,
            grid_zone: None,
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

    #[test]
    fn the_providers_grid_zone_comes_after_the_mapping_and_before_the_country() {
        let zones = BTreeMap::from([("us-east-1".to_owned(), "US-MIDA-PJM".to_owned())]);
        let mut oregon = location(Some("US"), Some("us-west-2"));
        oregon.grid_zone = Some("US-NW-BPAT".into());
        assert_eq!(location_key(&oregon, &zones), "US-NW-BPAT");
        assert_eq!(grid_zone(&oregon, &zones).as_deref(), Some("US-NW-BPAT"));
        let mut virginia = location(Some("US"), Some("us-east-1"));
        virginia.grid_zone = Some("US-SOMEWHERE-ELSE".into());
        assert_eq!(
            location_key(&virginia, &zones),
            "US-MIDA-PJM",
            "the operator's wins"
        );
    }
}
