//! The host's own domain types: what a plugin's answer becomes once `plugins` has converted
//! and checked it. Every layer above `plugins` (state, collect, snapshot, api, config) works
//! with these, never with a generated binding, so a new contract version changes one
//! conversion, not the whole host. A value of these types that came from a plugin has passed
//! the checks in `plugins::validate` (finite, in range, unique ids, capped strings).
//!
//! Field names and serde shapes match the stored state of earlier releases (which stored the
//! generated types), so the state directory reads back unchanged.

use serde::{Deserialize, Serialize};

/// Key/value settings, as written in the operator's config (secrets already resolved).
pub type Settings = Vec<(String, String)>;

/// Free-form labels (for example cloud tags).
pub type Labels = Vec<(String, String)>;

/// The kinds of provider a plugin can implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    Discovery,
    ResourceMetrics,
    Environment,
    /// Power per component and manufacturing emissions from hardware and utilisation (0.3.0).
    Estimation,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Discovery,
        ProviderKind::ResourceMetrics,
        ProviderKind::Environment,
        ProviderKind::Estimation,
    ];

    /// The kebab-case name used in WIT, configs, logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Discovery => "discovery",
            ProviderKind::ResourceMetrics => "resource-metrics",
            ProviderKind::Environment => "environment",
            ProviderKind::Estimation => "estimation",
        }
    }

    /// The kind implemented by the exported interface `name` (without package and version).
    pub fn from_interface(name: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes provider kinds by their WIT names (`resource-metrics`), for the API and the CLI.
pub fn serialize_kinds<S: serde::Serializer>(
    kinds: &[ProviderKind],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(kinds.iter().map(|k| k.as_str()))
}

/// A setting a plugin accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingSpec {
    pub key: String,
    pub description: String,
    pub required: bool,
    /// A credential: never logged nor returned from an API.
    pub secret: bool,
}

/// An account as configured by the operator, as a plugin is told about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub settings: Settings,
}

/// A project inside an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    Vm,
    BareMetal,
    Host,
    Container,
    Other,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Vm => "vm",
            ResourceKind::BareMetal => "bare-metal",
            ResourceKind::Host => "host",
            ResourceKind::Container => "container",
            ResourceKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// "aws", "gcp", "azure", …: what the data-centre overhead (PUE) is keyed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub zone: Option<String>,
    /// The grid zone as the provider knows it ("US-MIDA-PJM"); the operator's mapping wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_zone: Option<String>,
    pub coordinates: Option<Coordinates>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    pub vcpus: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub cpu_model: Option<String>,
    /// "m5.xlarge", "n2-standard-4": what estimation models key on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// `Some(0)` when the resource has no GPU, none when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
}

/// A thing that consumes energy: a VM, a host, a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// Unique within its project, free of control characters.
    pub id: String,
    pub name: String,
    pub kind: ResourceKind,
    pub location: Location,
    pub hardware: Hardware,
    pub labels: Labels,
}

/// One checked reading of a resource: every number finite and in its physical range, the
/// time within the host's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    pub resource_id: String,
    /// Cumulative energy counter, joules, ≥ 0.
    pub energy_joules: Option<f64>,
    /// Watts, between 0 and the provider's plausible maximum.
    pub power_watts: Option<f64>,
    /// Hertz, > 0.
    pub cpu_frequency_hertz: Option<f64>,
    /// 0 to 1.
    pub cpu_utilization_ratio: Option<f64>,
    /// Milliseconds since the Unix epoch.
    pub read_at: u64,
    pub estimated: bool,
    /// At most one per component. When `energy_joules` and `power_watts` are both none the
    /// resource's energy is their sum; otherwise they are a breakdown of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentReading>,
}

/// The parts of a machine whose energy is told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Cpu,
    Dram,
    Gpu,
    Other,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Cpu,
        Component::Dram,
        Component::Gpu,
        Component::Other,
    ];

    /// The label value in metrics and the key in the API: `cpu`, `dram`, `gpu`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Cpu => "cpu",
            Component::Dram => "dram",
            Component::Gpu => "gpu",
            Component::Other => "other",
        }
    }

    /// The position of this component in [`Component::ALL`] (and in per-component arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One component's checked reading: energy ≥ 0 and finite, power within the plausible range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ComponentReading {
    pub component: Component,
    pub energy_joules: Option<f64>,
    pub power_watts: Option<f64>,
}

/// A checked estimate of one resource by an estimation provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub resource_id: String,
    /// Watts per component, at most one per component, each finite and ≥ 0.
    pub power: Vec<(Component, f64)>,
    pub embodied: Option<EmbodiedShare>,
    /// What the figures rest on, escaped and capped.
    pub basis: String,
}

/// A resource's share of its machine's manufacturing emissions (SCI: TE, RR/ToR, EL).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmbodiedShare {
    /// TE, grams CO2e, finite and > 0.
    pub machine_grams: f64,
    /// RR / ToR, in (0, 1].
    pub share: f64,
    /// EL in hours, when the model has one; > 0.
    pub lifetime_hours: Option<f64>,
}

/// Carbon intensity over one future interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    pub starts_at: u64,
    pub duration_ms: u64,
    pub carbon_intensity: f64,
}

/// A checked forecast of one location: points in time order, not overlapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntensityForecast {
    pub location_id: String,
    pub zone: Option<String>,
    pub emission_factor: EmissionFactorType,
    pub generated_at: u64,
    pub points: Vec<ForecastPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EnergySource {
    Coal,
    Gas,
    Oil,
    Nuclear,
    Hydro,
    Wind,
    Solar,
    Biomass,
    Geothermal,
    Battery,
    HydroStorage,
    Unknown,
}

impl EnergySource {
    pub fn as_str(self) -> &'static str {
        match self {
            EnergySource::Coal => "coal",
            EnergySource::Gas => "gas",
            EnergySource::Oil => "oil",
            EnergySource::Nuclear => "nuclear",
            EnergySource::Hydro => "hydro",
            EnergySource::Wind => "wind",
            EnergySource::Solar => "solar",
            EnergySource::Biomass => "biomass",
            EnergySource::Geothermal => "geothermal",
            EnergySource::Battery => "battery",
            EnergySource::HydroStorage => "hydro-storage",
            EnergySource::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SourceShare {
    pub source: EnergySource,
    pub ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmissionFactorType {
    Lifecycle,
    Direct,
}

/// A location the host asks an environment provider about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationQuery {
    pub id: String,
    pub location: Location,
    pub grid_zone: Option<String>,
}

/// The checked electricity of one location at one time: intensity within 0 to 5000 g/kWh,
/// shares each in 0 to 1, one per source, summing to 1 (or none at all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyMix {
    pub location_id: String,
    pub carbon_intensity: f64,
    pub emission_factor: EmissionFactorType,
    pub shares: Vec<SourceShare>,
    pub valid_at: u64,
    pub estimated: bool,
    /// The zone the provider says the value is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnavailableError {
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

/// Why a provider call failed, as the plugin said (its texts escaped and capped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProviderError {
    BadConfig(String),
    Unauthorized(String),
    Unavailable(UnavailableError),
    Other(String),
}

impl ProviderError {
    /// A sentence for logs and the API.
    pub fn describe(&self) -> String {
        match self {
            ProviderError::BadConfig(m) => format!("bad configuration: {m}"),
            ProviderError::Unauthorized(m) => format!("unauthorized: {m}"),
            ProviderError::Unavailable(u) => match u.retry_after_ms {
                Some(ms) => format!("unavailable (retry after {ms} ms): {}", u.message),
                None => format!("unavailable: {}", u.message),
            },
            ProviderError::Other(m) => m.clone(),
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for ProviderError {}

/// Capabilities a plugin asks for (granted only where the operator's config also offers them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapabilityNeeds {
    pub http: Vec<String>,
    pub read_only_dirs: Vec<String>,
    pub key_value: bool,
}

/// What a plugin says about itself (name and version checked, texts escaped and capped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginMetadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub kinds: Vec<ProviderKind>,
    pub settings: Vec<SettingSpec>,
    pub needs: CapabilityNeeds,
}

/// What a config is checked against, for one loaded plugin: the kinds it
/// implements and the settings it declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginDeclaration {
    /// From the component's exports.
    pub kinds: Vec<ProviderKind>,
    /// From its metadata.
    pub settings: Vec<SettingSpec>,
}
