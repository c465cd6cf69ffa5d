//! What the server serves: an immutable picture of the latest collection, published by the
//! collector and read by the API. A scrape or an API call never waits for a plugin; it reads
//! the snapshot current at that moment.

mod health;
mod outcome;
pub mod render;

use carbonaut_model::sync;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};

use serde::Serialize;

use crate::exposition::gzip;

use carbonaut_model::{EnergyMix, ResourceSample};
use carbonaut_plugins::PluginInfo;
use carbonaut_store::state::{ArchiveKey, Counters, ResourceId, Topology, Totals};

pub use health::ProviderHealth;
pub use outcome::{LocationOutcome, OutcomeState};
pub use render::{render_metrics, render_metrics_gzip};

/// How one account's collection went.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct AccountStatus {
    pub discovery_provider: String,
    pub resource_metrics_provider: String,
    pub last_sync_ms: Option<u64>,
    pub last_sync_error: Option<String>,
    pub last_collection_ms: Option<u64>,
    pub last_collection_error: Option<String>,
    /// Resources with no share of manufacturing emissions: the estimation provider knows
    /// nothing about them (or none is configured). None before the first collection.
    pub resources_without_embodied: Option<u64>,
    /// Resources whose operational power the estimation provider modelled, no meter reading
    /// them.
    pub modelled_resources: Option<u64>,
}

/// A loaded plugin and how its calls go.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginStatus {
    #[serde(flatten)]
    pub info: PluginInfo,
    /// Provider instances configured on it.
    pub providers: Vec<String>,
    pub up: bool,
    /// Disabled by an operator through the API: listed, not called.
    pub disabled: bool,
    pub last_error: Option<String>,
    /// The largest linear memory a call of it grew to, in bytes.
    pub peak_memory_bytes: u64,
}

/// The latest carbon intensity and mix of a location.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationStatus {
    /// The latest energy mix: carbon intensity (gCO2eq/kWh), shares by source, validity time.
    #[schema(value_type = Option<Object>)]
    pub mix: Option<EnergyMix>,
    pub resources: usize,
    /// The environment provider's last answer for it (`None` before it is first asked).
    pub outcome: Option<LocationOutcome>,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub taken_at_ms: u64,
    /// True once a topology sync has succeeded in this process.
    pub ready: bool,
    /// Resource, location and topology metrics in Prometheus text format, kept gzipped (see
    /// [`gzip::MetricsBody`]).
    pub metrics: gzip::MetricsBody,
    pub topology: Arc<Topology>,
    /// The collector's maps, shared (see the collector's `Mirror`).
    pub counters: Arc<HashMap<ResourceId, Counters>>,
    /// What removed resources used, per (account, project) and per (account, None) for
    /// departed projects: added to the live counters in project and account totals.
    pub departed: BTreeMap<ArchiveKey, Totals>,
    /// Records of the state store set aside because they could not be read.
    pub quarantined: usize,
    pub samples: Arc<HashMap<ResourceId, ResourceSample>>,
    /// Average power over the last interval when the provider gave only an energy counter.
    pub derived_power: Arc<HashMap<ResourceId, f64>>,
    /// A resource whose latest sample is older than this (ms, by its `read_at`) is served
    /// without its gauges; `None` keeps them however old (snapshots built outside a collector).
    pub stale_after_ms: Option<u64>,
    /// Location key (see [`crate::collect::location_key`]) of each resource.
    pub location_of: Arc<HashMap<ResourceId, String>>,
    pub locations: BTreeMap<String, LocationStatus>,
    pub environment_error: Option<String>,
    pub accounts: BTreeMap<String, AccountStatus>,
    /// The PUE table in force (`[footprint] pue`), for its gauge.
    pub pue: BTreeMap<String, f64>,
    /// Each location's latest intensity forecast, by location key.
    pub forecasts: BTreeMap<String, carbonaut_model::IntensityForecast>,
    pub plugins: Vec<PluginStatus>,
    /// Provider instances with their health (degraded while backing off after failures).
    pub providers: BTreeMap<String, ProviderStatus>,
    /// Which shard this instance is and how many accounts it owns.
    pub shard: crate::cluster::ShardStatus,
    /// Region (ASCII lower case) → the location key of the first resource in it that has
    /// one; built on first use (see [`Snapshot::location_of_region`]).
    pub region_index: OnceLock<HashMap<String, String>>,
}

impl Snapshot {
    /// The location key of the resources in `region` (`eu-central-1`, `EastUS`), matched
    /// whatever the ASCII case; the first resource's, in topology order, when they differ.
    /// Built once per snapshot: a request naming many regions costs one scan of the
    /// topology, not one per name.
    pub fn location_of_region(&self, region: &str) -> Option<&str> {
        let index = self.region_index.get_or_init(|| {
            let mut index = HashMap::new();
            for (_, _, r) in self.topology.resources() {
                let (Some(region), Some(key)) = (
                    r.info.location.region.as_deref(),
                    self.location_of.get(&r.id),
                ) else {
                    continue;
                };
                index
                    .entry(region.to_ascii_lowercase())
                    .or_insert_with(|| key.clone());
            }
            index
        });
        index.get(&region.to_ascii_lowercase()).map(String::as_str)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderStatus {
    pub plugin: String,
    /// What the instance may use: the operator's offer narrowed to the plugin's needs (the
    /// needs themselves are in `/api/v1/plugins`).
    pub granted: GrantedView,
    #[serde(flatten)]
    pub health: ProviderHealth,
}

/// A provider instance's capabilities and limits, as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantedView {
    /// Origins it may reach over HTTP.
    pub http: Vec<String>,
    /// The CA bundle its HTTPS requests trust instead of the public roots.
    pub tls_ca: Option<String>,
    /// Guest path → host directory, read-only.
    pub read_only_dirs: BTreeMap<String, String>,
    pub key_value: bool,
    pub memory_bytes: usize,
    pub call_deadline_ms: u128,
    pub max_concurrent_calls: usize,
    pub max_result_items: usize,
    pub max_power_watts: u64,
}

impl GrantedView {
    pub fn new(grants: &carbonaut_runtime::Grants, limits: carbonaut_runtime::Limits) -> Self {
        GrantedView {
            http: grants.http.iter().map(ToString::to_string).collect(),
            tls_ca: grants
                .tls_roots
                .as_ref()
                .map(|r| r.path().display().to_string()),
            read_only_dirs: grants
                .read_only_dirs
                .iter()
                .map(|(host, guest)| (guest.clone(), host.display().to_string()))
                .collect(),
            key_value: grants.key_value.is_some(),
            memory_bytes: limits.memory_bytes,
            call_deadline_ms: limits.call_deadline.as_millis(),
            max_concurrent_calls: limits.max_concurrent_calls,
            max_result_items: limits.max_result_items,
            max_power_watts: limits.max_power_watts,
        }
    }
}

/// Where the collector publishes and the server reads the current snapshot.
#[derive(Default)]
pub struct SnapshotCell {
    current: RwLock<Arc<Snapshot>>,
}

impl SnapshotCell {
    pub fn get(&self) -> Arc<Snapshot> {
        sync::read(&self.current).clone()
    }

    /// Makes `snapshot` the current one. The previous one is dropped after the lock is
    /// released: freeing a large inventory's maps takes long enough that readers (every
    /// scrape) must not wait behind it.
    pub fn set(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        // The previous snapshot is dropped after the lock is released: freeing a large one
        // takes time no reader should wait for.
        let previous = std::mem::replace(&mut *sync::write(&self.current), snapshot);
        drop(previous);
    }
}
