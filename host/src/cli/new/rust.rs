//! The Rust skeleton: a `cdylib` crate on carbonaut-sdk, and a README.

use super::{File, Kind, SdkSource, Skeleton, readme_tail};

const HEADER: &str = r#"//! @NAME@: a Carbonaut provider plugin (@KINDS@).
//!
//! Build with `cargo build --release --target wasm32-wasip2`, check with
//! `carbonaut plugin check target/wasm32-wasip2/release/@CRATE@.wasm`.
//!
//! A failure is a `ProviderError`: `BadConfig` for settings the operator must fix (not
//! retried), `Unauthorized` for refused credentials, `Unavailable` (with `retry_after_ms` when
//! you know it) for a temporary failure the host retries later. No `unwrap`: a panic traps
//! the call and says less than an error.

@USES@

struct @TYPE@;

impl Plugin for @TYPE@ {
    fn metadata() -> Metadata {
        Metadata::new(
            "@NAME@",
            env!("CARGO_PKG_VERSION"),
            "Describe in one sentence what this plugin reads.",
        )
        .setting(
            "example",
            "An example setting; `fail` makes every call fail as bad-config",
            false,
        )
        // Ask only for what you use; the operator grants at most this:
        // .needs_http("https://api.example.com").needs_read_only_dir("/sys/class/powercap")
    }
}

fn check_settings(settings: &Settings) -> Result<(), ProviderError> {
    if setting(settings, "example") == Some("fail") {
        return Err(ProviderError::BadConfig(
            "setting `example` is `fail`".into(),
        ));
    }
    Ok(())
}
"#;

const NOW: &str = r#"
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
"#;

const DISCOVERY: &str = r#"
impl Discovery for @TYPE@ {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        check_settings(&settings)?;
        carbonaut_sdk::log::debug("listing projects", &[("account", &account.name)]);
        // Ids must be stable across calls: the host keys its state on them.
        Ok(vec![Project {
            id: "default".into(),
            name: "default".into(),
            labels: vec![],
        }])
    }

    fn list_resources(
        settings: Settings,
        _account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        check_settings(&settings)?;
        Ok(vec![ResourceInfo {
            id: format!("{}/machine-1", project.id),
            name: "machine-1".into(),
            kind: ResourceKind::Host,
            location: Location {
                country: Some("DE".into()),
                ..Location::default()
            },
            hardware: Hardware {
                vcpus: Some(4),
                memory_bytes: Some(16 << 30),
                ..Hardware::default()
            },
            labels: vec![("team".into(), "example".into())],
        }])
    }
}
"#;

const RESOURCE_METRICS: &str = r#"
impl ResourceMetrics for @TYPE@ {
    fn collect(
        settings: Settings,
        _account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        check_settings(&settings)?;
        // One call gets the whole batch: read them together, return one sample per resource
        // you have a reading for. Energy is a cumulative counter in joules, power in watts.
        let read_at = now_ms();
        Ok(resources
            .into_iter()
            .map(|r| ResourceSample {
                resource_id: r.id,
                energy_joules: None,
                power_watts: Some(50.0),
                cpu_frequency_hertz: None,
                cpu_utilization_ratio: Some(0.25),
                read_at,
                estimated: true,
                // Energy per component (cpu, dram, gpu, other), when your source tells them apart.
                components: vec![],
            })
            .collect())
    }
}
"#;

const ENVIRONMENT: &str = r#"
/// Ember's 2024 yearly averages in gCO2eq/kWh (CC BY-SA 4.0), as an example table.
const INTENSITY: &[(&str, f64)] = &[("DE", 342.06), ("FR", 44.18)];

impl Environment for @TYPE@ {
    fn collect(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        check_settings(&settings)?;
        Ok(locations
            .into_iter()
            .filter_map(|q| {
                let code = q.grid_zone.clone().or(q.location.country.clone())?;
                // Leave out locations you know nothing about.
                let (_, grams) = INTENSITY.iter().find(|(c, _)| *c == code)?;
                Some(EnergyMix {
                    location_id: q.id, // echo the query's id
                    carbon_intensity: *grams,
                    emission_factor: EmissionFactorType::Lifecycle,
                    shares: vec![],
                    valid_at: now_ms(),
                    estimated: true,
                    // The zone your source answered for, if it says: the host refuses another.
                    zone: None,
                })
            })
            .collect())
    }
}
"#;

const ESTIMATION: &str = r#"
// A sample model, to show the shape of an answer: CPU power between an idle and a full-load
// figure per vCPU (near Cloud Carbon Footprint's cloud averages), DRAM power per GiB, and a
// share by vCPUs of a typical two-socket server's manufacturing emissions. A real model goes
// here: coefficients per instance type or CPU model (see plugins/ccf in the Carbonaut
// repository), measured load curves, your own racks' figures.
const IDLE_WATTS_PER_VCPU: f64 = 0.75;
const FULL_WATTS_PER_VCPU: f64 = 3.5;
const DRAM_WATTS_PER_GIB: f64 = 0.375;
/// The utilisation modelled when the host has no reading of the resource.
const ASSUMED_UTILIZATION: f64 = 0.5;
/// The machine a resource is a share of: its manufacturing emissions (TE) and its vCPUs.
const MACHINE_GRAMS: f64 = 1_200_000.0;
const MACHINE_VCPUS: f64 = 64.0;

impl Estimation for @TYPE@ {
    fn estimate(
        settings: Settings,
        inputs: Vec<EstimationInput>,
    ) -> Result<Vec<ResourceEstimate>, ProviderError> {
        check_settings(&settings)?;
        Ok(inputs.into_iter().filter_map(estimate_one).collect())
    }
}

/// One resource's estimate; none for a resource the model knows nothing about (the host then
/// shows it without one rather than guessing).
fn estimate_one(input: EstimationInput) -> Option<ResourceEstimate> {
    let vcpus = input.info.hardware.vcpus.filter(|&v| v > 0)?;
    let measured = input
        .sample
        .as_ref()
        .and_then(|s| s.cpu_utilization_ratio)
        .filter(|u| u.is_finite());
    let utilization = measured.unwrap_or(ASSUMED_UTILIZATION).clamp(0.0, 1.0);
    let cpu = f64::from(vcpus)
        * (IDLE_WATTS_PER_VCPU + (FULL_WATTS_PER_VCPU - IDLE_WATTS_PER_VCPU) * utilization);
    let mut power = vec![ComponentPower {
        component: Component::Cpu,
        watts: cpu,
    }];
    if let Some(bytes) = input.info.hardware.memory_bytes {
        power.push(ComponentPower {
            component: Component::Dram,
            watts: bytes as f64 / f64::from(1u32 << 30) * DRAM_WATTS_PER_GIB,
        });
    }
    let assumed = if measured.is_none() { " assumed" } else { "" };
    Some(ResourceEstimate {
        // Echo the input's id.
        resource_id: input.info.id,
        power,
        embodied: Some(EmbodiedShare {
            machine_grams: MACHINE_GRAMS,
            // Above 0 and at most 1.
            share: (f64::from(vcpus) / MACHINE_VCPUS).min(1.0),
            // None: the host's `[footprint] lifetime_hours` (four years by default).
            lifetime_hours: None,
        }),
        basis: format!(
            "sample model: {vcpus} vCPUs at {:.0} % CPU{assumed}",
            utilization * 100.0
        ),
    })
}
"#;

/// `my-grid` → `MyGrid`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The `use` line for the SDK items the chosen kinds need, wrapped as rustfmt would.
fn uses(s: &Skeleton) -> String {
    let mut names = vec!["Metadata", "Plugin", "ProviderError", "Settings", "setting"];
    if s.has(Kind::Discovery) {
        names.extend([
            "Account",
            "Discovery",
            "Hardware",
            "Location",
            "Project",
            "ResourceInfo",
            "ResourceKind",
        ]);
    }
    if s.has(Kind::ResourceMetrics) {
        names.extend([
            "Account",
            "ResourceInfo",
            "ResourceMetrics",
            "ResourceSample",
        ]);
    }
    if s.has(Kind::Environment) {
        names.extend([
            "EmissionFactorType",
            "EnergyMix",
            "Environment",
            "LocationQuery",
        ]);
    }
    if s.has(Kind::Estimation) {
        names.extend([
            "Component",
            "ComponentPower",
            "EmbodiedShare",
            "Estimation",
            "EstimationInput",
            "ResourceEstimate",
        ]);
    }
    names.sort_unstable();
    names.dedup();
    let one_line = format!("use carbonaut_sdk::{{{}}};", names.join(", "));
    if one_line.len() <= 100 {
        return one_line;
    }
    let mut out = String::from("use carbonaut_sdk::{\n");
    let mut line = String::from("   ");
    for name in names {
        if line.len() + name.len() + 2 > 100 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(name);
        line.push(',');
    }
    out.push_str(&line);
    out.push_str("\n};");
    out
}

/// Where the README says the SDK comes from, and how to use another copy.
fn sdk_note(sdk: &SdkSource) -> String {
    let other = "`carbonaut plugin new ... --sdk-path DIR` writes a skeleton on another copy \
                 (the repository's `sdk/`, or an unpacked `cargo package -p carbonaut-sdk`); \
                 or edit the `carbonaut-sdk` line of `Cargo.toml`.";
    match sdk {
        SdkSource::Bundled => format!(
            "`carbonaut-sdk/` is the SDK of the `carbonaut` that wrote this skeleton \
             (carbonaut-sdk is not on crates.io), so the crate builds with no other download \
             than its crates.io dependencies. {other}"
        ),
        SdkSource::Path(path) => format!(
            "The SDK comes from `{}` (`--sdk-path`). {other}",
            path.display()
        ),
    }
}

pub fn files(s: &Skeleton) -> Vec<File> {
    let ty = type_name(&s.name);
    let krate = s.name.replace('-', "_");
    let fill = |text: &str| {
        text.replace("@NAME@", &s.name)
            .replace("@KINDS@", &s.kinds_text())
            .replace("@TYPE@", &ty)
            .replace("@CRATE@", &krate)
    };
    let mut lib = fill(HEADER).replace("@USES@", &uses(s));
    if s.has(Kind::ResourceMetrics) || s.has(Kind::Environment) {
        lib.push_str(NOW);
    }
    for kind in &s.kinds {
        lib.push_str(&fill(match kind {
            Kind::Discovery => DISCOVERY,
            Kind::ResourceMetrics => RESOURCE_METRICS,
            Kind::Environment => ENVIRONMENT,
            Kind::Estimation => ESTIMATION,
        }));
    }
    let exported: Vec<&str> = s
        .kinds
        .iter()
        .map(|k| match k {
            Kind::Discovery => "discovery",
            Kind::ResourceMetrics => "resource_metrics",
            Kind::Environment => "environment",
            Kind::Estimation => "estimation",
        })
        .collect();
    lib.push_str(&format!(
        "\ncarbonaut_sdk::export!({ty}: {});\n",
        exported.join(", ")
    ));
    let cargo = format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\n\
         [lib]\n\
         crate-type = [\"cdylib\"]\n\n\
         [dependencies]\n\
         carbonaut-sdk = {sdk}\n\n\
         [profile.release]\n\
         # Small components compile faster in the host and load faster from its cache.\n\
         opt-level = \"s\"\n\
         strip = true\n\n\
         # A workspace of its own, so the crate builds wherever it is generated.\n\
         [workspace]\n",
        name = s.name,
        sdk = s.sdk.dependency(),
    );
    let readme = format!(
        "# {name}\n\n\
         A Carbonaut provider plugin ({kinds}) written in Rust with `carbonaut-sdk`.\n\n\
         - `src/lib.rs`: the plugin: `Plugin::metadata`, one trait per kind, and \
         `carbonaut_sdk::export!`, which names the kinds the component exports.\n\n\
         ## Build it\n\n\
         ```sh\n\
         rustup target add wasm32-wasip2\n\
         cargo build --release --target wasm32-wasip2\n\
         cp target/wasm32-wasip2/release/{krate}.wasm {name}.wasm\n\
         ```\n\n\
         {sdk}\n\n\
         The SDK's docs: `cargo doc -p carbonaut-sdk --open`.\n\n\
         {tail}",
        name = s.name,
        kinds = s.kinds_text(),
        sdk = sdk_note(&s.sdk),
        tail = readme_tail(s),
    );
    vec![
        ("Cargo.toml".into(), cargo),
        ("src/lib.rs".into(), lib),
        ("README.md".into(), readme),
        (".gitignore".into(), "target/\n*.wasm\n".into()),
    ]
}
