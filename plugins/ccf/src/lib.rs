//! ccf: power per component and the embodied-emission share of AWS, GCP and Azure instances,
//! from Cloud Carbon Footprint's coefficient tables shipped inside the plugin (Apache-2.0, see
//! `data/NOTICE`). AWS types use Teads' measured load curves; GCP and Azure types CCF's watts
//! per vCPU by microarchitecture. No network, no settings needed.

mod model;
mod tables;

use carbonaut_sdk::{
    Component, ComponentPower, EmbodiedShare, Estimation, EstimationInput, Metadata, Plugin,
    ProviderError, ResourceEstimate, Settings, setting,
};

use model::DEFAULT_UTILIZATION;
use tables::{CcfType, Cloud, CloudTables, Coefficients, Tables, TeadsType, type_key};

struct Ccf;

impl Plugin for Ccf {
    fn metadata() -> Metadata {
        Metadata::new(
            "ccf",
            env!("CARGO_PKG_VERSION"),
            "Power per component and embodied emissions of AWS, GCP and Azure instances from \
             Cloud Carbon Footprint's tables (Apache-2.0); no network.",
        )
        .setting(
            "utilization_default",
            "CPU utilisation (0 to 1) assumed for a resource without a measured one (default \
             0.5, Cloud Carbon Footprint's average)",
            false,
        )
    }
}

fn utilization_default(settings: &Settings) -> Result<f64, ProviderError> {
    match setting(settings, "utilization_default") {
        None => Ok(DEFAULT_UTILIZATION),
        Some(raw) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|u| (0.0..=1.0).contains(u))
            .ok_or_else(|| {
                ProviderError::BadConfig(format!(
                    "setting `utilization_default` must be a number from 0 to 1 (0.5 is 50 %), \
                     got `{raw}`"
                ))
            }),
    }
}

/// The utilisation to model at, and whether it was assumed rather than measured.
fn utilization(input: &EstimationInput, default: f64) -> (f64, bool) {
    match input
        .sample
        .as_ref()
        .and_then(|s| s.cpu_utilization_ratio)
        .filter(|u| u.is_finite())
    {
        Some(u) => (u.clamp(0.0, 1.0), false),
        None => (default, true),
    }
}

fn percent(utilization: f64, assumed: bool) -> String {
    let suffix = if assumed { " assumed" } else { "" };
    format!("{:.0} % CPU{suffix}", utilization * 100.0)
}

fn power(component: Component, watts: f64) -> ComponentPower {
    ComponentPower { component, watts }
}

/// The embodied share of a type found in the instance table: only from the embodied table,
/// never guessed.
fn embodied(
    tables: &CloudTables,
    key: &str,
    vcpus: f64,
    platform_vcpus: f64,
) -> (Option<EmbodiedShare>, String) {
    let Some(kg) = tables.embodied_kg.get(key) else {
        return (
            None,
            "no embodied figure (type not in the table)".to_owned(),
        );
    };
    // Three Azure rows list more instance vCPUs than platform vCPUs (M416ms v2, M416s v2,
    // NC64as T4 v3): no share can be told for them.
    let Some(share) = model::vcpu_share(vcpus, platform_vcpus) else {
        return (
            None,
            format!("no embodied figure (the table's {vcpus} of {platform_vcpus} vCPUs)"),
        );
    };
    (
        Some(EmbodiedShare {
            machine_grams: kg * 1000.0,
            share,
            lifetime_hours: None,
        }),
        format!("embodied CCF, {vcpus}/{platform_vcpus} vCPUs"),
    )
}

/// What the model says about one resource: power per component, the embodied share, and the
/// basis.
type Figures = (Vec<ComponentPower>, Option<EmbodiedShare>, String);

/// One resource's estimate, or none when the model knows nothing of it: no cloud, a cloud the
/// tables do not cover, or an unknown instance type without a vCPU count.
fn estimate_one(
    tables: &Tables,
    input: &EstimationInput,
    default: f64,
) -> Option<ResourceEstimate> {
    let info = &input.info;
    let cloud = info.location.cloud.as_deref().and_then(Cloud::parse)?;
    let (u, assumed) = utilization(input, default);
    let at = percent(u, assumed);
    let table = tables.cloud(cloud);
    let name = info.hardware.instance_type.as_deref().map(str::trim);
    let key = name.map(|n| type_key(cloud, n)).unwrap_or_default();
    let shown = name.unwrap_or("(no instance type)");
    let (power, embodied, basis) = if let Some(t) = table.teads.get(&key) {
        teads(table, &key, t, u, &format!("aws {shown}, Teads, {at}"))
    } else if let Some(t) = table.types.get(&key) {
        coefficients(table, &key, t, u, &format!("{} {shown}", cloud.name()), &at)
    } else {
        // Not in the tables: the cloud's average watts per vCPU, when the vCPUs are known. No
        // memory, GPU or embodied figure: those would be guesses shown as data.
        let vcpus = info.hardware.vcpus.filter(|v| *v > 0)?;
        let cpu = model::cpu_watts(f64::from(vcpus), table.average_coefficients(), u);
        (
            vec![power(Component::Cpu, cpu)],
            None,
            format!(
                "{} {shown} not in CCF's tables: average coefficients for {vcpus} vCPUs, {at}; \
                 no embodied figure",
                cloud.name()
            ),
        )
    };
    Some(ResourceEstimate {
        resource_id: info.id.clone(),
        power,
        embodied,
        basis: within(basis, MAX_BASIS_BYTES),
    })
}

/// The host cuts a longer basis and counts it as a fault of the plugin (`MAX_TEXT_BYTES`).
const MAX_BASIS_BYTES: usize = 256;

/// `text` cut to at most `max` bytes, at a character boundary: only an instance type name of
/// hundreds of bytes, from discovery, makes a basis that long.
fn within(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// An AWS type from Teads' load curves; the rest of the machine as `other`.
fn teads(table: &CloudTables, key: &str, t: &TeadsType, u: f64, basis: &str) -> Figures {
    let mut watts = vec![
        power(Component::Cpu, model::interpolate(&t.pkg, u)),
        power(Component::Dram, model::interpolate(&t.ram, u)),
    ];
    let mut gpu_note = String::new();
    if t.gpus > 0 && t.gpu.iter().any(|w| *w > 0.0) {
        watts.push(power(Component::Gpu, model::interpolate(&t.gpu, u)));
        let plural = if t.gpus == 1 { "" } else { "s" };
        gpu_note = format!(" ({} {} GPU{plural} at the same load)", t.gpus, t.gpu_name);
    }
    if t.delta > 0.0 {
        watts.push(power(Component::Other, t.delta));
    }
    let (embodied, embodied_note) =
        embodied(table, key, f64::from(t.vcpus), f64::from(t.platform_vcpus));
    (
        watts,
        embodied,
        format!("{basis}{gpu_note}; {embodied_note}"),
    )
}

/// A GCP or Azure type from CCF's coefficients of its microarchitectures.
fn coefficients(
    table: &CloudTables,
    key: &str,
    t: &CcfType,
    u: f64,
    shown: &str,
    at: &str,
) -> Figures {
    let found: Vec<(&str, Coefficients)> = t
        .microarchitectures
        .iter()
        .filter_map(|m| table.coefficients_of(m).map(|c| (m.as_str(), c)))
        .collect();
    let (coefficients, source) = if found.is_empty() {
        (
            table.average_coefficients(),
            format!(
                "CCF average coefficients ({} not in the table)",
                t.microarchitectures.join(", ")
            ),
        )
    } else {
        let names: Vec<&str> = found.iter().map(|(m, _)| *m).collect();
        let label = if names.len() == 1 { "" } else { "mean of " };
        (
            tables::mean(found.iter().map(|(_, c)| *c)),
            format!("CCF coefficients ({label}{})", names.join(", ")),
        )
    };
    let mut watts = vec![power(
        Component::Cpu,
        model::cpu_watts(t.vcpus, coefficients, u),
    )];
    let memory = model::memory_watts(t, coefficients.gb_per_chip);
    if memory > 0.0 {
        watts.push(power(Component::Dram, memory));
    }
    let gpu_note = match t.gpus {
        0 => String::new(),
        1 => ", 1 GPU not estimated".to_owned(),
        n => format!(", {n} GPUs not estimated"),
    };
    let (embodied, embodied_note) = embodied(table, key, t.vcpus, t.platform_vcpus);
    (
        watts,
        embodied,
        format!("{shown}, {source}, {at}{gpu_note}; {embodied_note}"),
    )
}

impl Estimation for Ccf {
    fn estimate(
        settings: Settings,
        inputs: Vec<EstimationInput>,
    ) -> Result<Vec<ResourceEstimate>, ProviderError> {
        let default = utilization_default(&settings)?;
        let tables = tables::tables()
            .map_err(|e| ProviderError::Other(format!("the embedded CCF tables: {e}")))?;
        Ok(inputs
            .iter()
            .filter_map(|input| estimate_one(tables, input, default))
            .collect())
    }
}

carbonaut_sdk::export!(Ccf: estimation);

#[cfg(test)]
mod tests;
