//! Conversions between the generated bindings of the current contract
//! (`carbonaut:provider@0.3.0`) and the host's own types (`carbonaut_model`). Mechanical, field by field: what a plugin sent is checked
//! afterwards by `validate`, on the host's types, whatever contract version it spoke.

use crate::contract::current as wit;
use carbonaut_model as model;
use carbonaut_model::text::Secrets;

pub fn kind(k: wit::ProviderKind) -> model::ProviderKind {
    match k {
        wit::ProviderKind::Discovery => model::ProviderKind::Discovery,
        wit::ProviderKind::ResourceMetrics => model::ProviderKind::ResourceMetrics,
        wit::ProviderKind::Environment => model::ProviderKind::Environment,
        wit::ProviderKind::Estimation => model::ProviderKind::Estimation,
    }
}

pub fn metadata(m: wit::PluginMetadata) -> model::PluginMetadata {
    model::PluginMetadata {
        name: m.name,
        version: m.version,
        description: m.description,
        kinds: m.kinds.into_iter().map(kind).collect(),
        settings: m
            .settings
            .into_iter()
            .map(|s| model::SettingSpec {
                key: s.key,
                description: s.description,
                required: s.required,
                secret: s.secret,
            })
            .collect(),
        needs: model::CapabilityNeeds {
            http: m.needs.http,
            read_only_dirs: m.needs.read_only_dirs,
            key_value: m.needs.key_value,
        },
    }
}

/// A provider's error, its texts scrubbed of the provider's `secrets`, escaped and capped:
/// they end up in logs and API answers. Scrubbed first, so a cut cannot leave half a secret.
pub fn provider_error(e: wit::ProviderError, secrets: &Secrets) -> model::ProviderError {
    let clean = |m: String| {
        let kept = secrets.scrub_within(&m, MAX_ERROR_BYTES);
        carbonaut_model::text::escape(&kept, usize::MAX)
    };
    match e {
        wit::ProviderError::BadConfig(m) => model::ProviderError::BadConfig(clean(m)),
        wit::ProviderError::Unauthorized(m) => model::ProviderError::Unauthorized(clean(m)),
        wit::ProviderError::Unavailable(u) => {
            model::ProviderError::Unavailable(model::UnavailableError {
                message: clean(u.message),
                retry_after_ms: u.retry_after_ms,
            })
        }
        wit::ProviderError::Other(m) => model::ProviderError::Other(clean(m)),
    }
}

/// An error message is a sentence, not a payload.
const MAX_ERROR_BYTES: usize = 1024;

pub fn account(a: &model::Account) -> wit::Account {
    wit::Account {
        name: a.name.clone(),
        settings: a.settings.clone(),
    }
}

pub fn project_to_wit(p: &model::Project) -> wit::Project {
    wit::Project {
        id: p.id.clone(),
        name: p.name.clone(),
        labels: p.labels.clone(),
    }
}

pub fn project(p: wit::Project) -> model::Project {
    model::Project {
        id: p.id,
        name: p.name,
        labels: p.labels,
    }
}

fn location_to_wit(l: &model::Location) -> wit::Location {
    wit::Location {
        cloud: l.cloud.clone(),
        country: l.country.clone(),
        region: l.region.clone(),
        zone: l.zone.clone(),
        grid_zone: l.grid_zone.clone(),
        coordinates: l.coordinates.map(|c| wit::Coordinates {
            latitude: c.latitude,
            longitude: c.longitude,
        }),
    }
}

fn location(l: wit::Location) -> model::Location {
    model::Location {
        cloud: l.cloud,
        country: l.country,
        region: l.region,
        zone: l.zone,
        grid_zone: l.grid_zone,
        coordinates: l.coordinates.map(|c| model::Coordinates {
            latitude: c.latitude,
            longitude: c.longitude,
        }),
    }
}

fn resource_kind(k: wit::ResourceKind) -> model::ResourceKind {
    match k {
        wit::ResourceKind::Vm => model::ResourceKind::Vm,
        wit::ResourceKind::BareMetal => model::ResourceKind::BareMetal,
        wit::ResourceKind::Host => model::ResourceKind::Host,
        wit::ResourceKind::Container => model::ResourceKind::Container,
        wit::ResourceKind::Other => model::ResourceKind::Other,
    }
}

fn resource_kind_to_wit(k: model::ResourceKind) -> wit::ResourceKind {
    match k {
        model::ResourceKind::Vm => wit::ResourceKind::Vm,
        model::ResourceKind::BareMetal => wit::ResourceKind::BareMetal,
        model::ResourceKind::Host => wit::ResourceKind::Host,
        model::ResourceKind::Container => wit::ResourceKind::Container,
        model::ResourceKind::Other => wit::ResourceKind::Other,
    }
}

pub fn resource_to_wit(r: &model::ResourceInfo) -> wit::ResourceInfo {
    wit::ResourceInfo {
        id: r.id.clone(),
        name: r.name.clone(),
        kind: resource_kind_to_wit(r.kind),
        location: location_to_wit(&r.location),
        hardware: wit::Hardware {
            vcpus: r.hardware.vcpus,
            memory_bytes: r.hardware.memory_bytes,
            cpu_model: r.hardware.cpu_model.clone(),
            instance_type: r.hardware.instance_type.clone(),
            gpu_count: r.hardware.gpu_count,
            gpu_model: r.hardware.gpu_model.clone(),
        },
        labels: r.labels.clone(),
    }
}

pub fn resource(r: wit::ResourceInfo) -> model::ResourceInfo {
    model::ResourceInfo {
        id: r.id,
        name: r.name,
        kind: resource_kind(r.kind),
        location: location(r.location),
        hardware: model::Hardware {
            vcpus: r.hardware.vcpus,
            memory_bytes: r.hardware.memory_bytes,
            cpu_model: r.hardware.cpu_model,
            instance_type: r.hardware.instance_type,
            gpu_count: r.hardware.gpu_count,
            gpu_model: r.hardware.gpu_model,
        },
        labels: r.labels,
    }
}

pub fn sample(s: wit::ResourceSample) -> model::ResourceSample {
    model::ResourceSample {
        resource_id: s.resource_id,
        energy_joules: s.energy_joules,
        power_watts: s.power_watts,
        cpu_frequency_hertz: s.cpu_frequency_hertz,
        cpu_utilization_ratio: s.cpu_utilization_ratio,
        read_at: s.read_at,
        estimated: s.estimated,
        components: s
            .components
            .into_iter()
            .map(|c| model::ComponentReading {
                component: component(c.component),
                energy_joules: c.energy_joules,
                power_watts: c.power_watts,
            })
            .collect(),
    }
}

pub fn sample_to_wit(s: &model::ResourceSample) -> wit::ResourceSample {
    wit::ResourceSample {
        resource_id: s.resource_id.clone(),
        energy_joules: s.energy_joules,
        power_watts: s.power_watts,
        cpu_frequency_hertz: s.cpu_frequency_hertz,
        cpu_utilization_ratio: s.cpu_utilization_ratio,
        read_at: s.read_at,
        estimated: s.estimated,
        components: s
            .components
            .iter()
            .map(|c| wit::ComponentReading {
                component: component_to_wit(c.component),
                energy_joules: c.energy_joules,
                power_watts: c.power_watts,
            })
            .collect(),
    }
}

fn component(c: wit::Component) -> model::Component {
    match c {
        wit::Component::Cpu => model::Component::Cpu,
        wit::Component::Dram => model::Component::Dram,
        wit::Component::Gpu => model::Component::Gpu,
        wit::Component::Other => model::Component::Other,
    }
}

fn component_to_wit(c: model::Component) -> wit::Component {
    match c {
        model::Component::Cpu => wit::Component::Cpu,
        model::Component::Dram => wit::Component::Dram,
        model::Component::Gpu => wit::Component::Gpu,
        model::Component::Other => wit::Component::Other,
    }
}

/// What an estimation provider is asked about one resource.
pub fn estimation_input_to_wit(
    info: &model::ResourceInfo,
    sample: Option<&model::ResourceSample>,
) -> wit::EstimationInput {
    wit::EstimationInput {
        info: resource_to_wit(info),
        sample: sample.map(sample_to_wit),
    }
}

pub fn estimate(e: wit::ResourceEstimate) -> model::Estimate {
    model::Estimate {
        resource_id: e.resource_id,
        power: e
            .power
            .into_iter()
            .map(|p| (component(p.component), p.watts))
            .collect(),
        embodied: e.embodied.map(|m| model::EmbodiedShare {
            machine_grams: m.machine_grams,
            share: m.share,
            lifetime_hours: m.lifetime_hours,
        }),
        basis: e.basis,
    }
}

pub fn forecast(f: wit::IntensityForecast) -> model::IntensityForecast {
    model::IntensityForecast {
        location_id: f.location_id,
        zone: f.zone,
        emission_factor: emission_factor(f.emission_factor),
        generated_at: f.generated_at,
        points: f
            .points
            .into_iter()
            .map(|p| model::ForecastPoint {
                starts_at: p.starts_at,
                duration_ms: p.duration_ms,
                carbon_intensity: p.carbon_intensity,
            })
            .collect(),
    }
}

fn emission_factor(e: wit::EmissionFactorType) -> model::EmissionFactorType {
    match e {
        wit::EmissionFactorType::Lifecycle => model::EmissionFactorType::Lifecycle,
        wit::EmissionFactorType::Direct => model::EmissionFactorType::Direct,
    }
}

pub fn query_to_wit(q: &model::LocationQuery) -> wit::LocationQuery {
    wit::LocationQuery {
        id: q.id.clone(),
        location: location_to_wit(&q.location),
        grid_zone: q.grid_zone.clone(),
    }
}

fn source(s: wit::EnergySource) -> model::EnergySource {
    use model::EnergySource as M;
    use wit::EnergySource as W;
    match s {
        W::Coal => M::Coal,
        W::Gas => M::Gas,
        W::Oil => M::Oil,
        W::Nuclear => M::Nuclear,
        W::Hydro => M::Hydro,
        W::Wind => M::Wind,
        W::Solar => M::Solar,
        W::Biomass => M::Biomass,
        W::Geothermal => M::Geothermal,
        W::Battery => M::Battery,
        W::HydroStorage => M::HydroStorage,
        W::Unknown => M::Unknown,
    }
}

pub fn mix(m: wit::EnergyMix) -> model::EnergyMix {
    model::EnergyMix {
        location_id: m.location_id,
        carbon_intensity: m.carbon_intensity,
        emission_factor: emission_factor(m.emission_factor),
        shares: m
            .shares
            .into_iter()
            .map(|s| model::SourceShare {
                source: source(s.source),
                ratio: s.ratio,
            })
            .collect(),
        valid_at: m.valid_at,
        estimated: m.estimated,
        zone: m.zone,
    }
}
