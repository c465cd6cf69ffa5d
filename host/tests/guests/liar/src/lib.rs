//! A plugin that says untrue or malformed things, one way per `mode` setting, for the suite
//! that checks the host distrusts what plugins return (host/tests/all/untrusted.rs). It runs
//! no attack on the sandbox (that is `hostile`): every answer is well-typed, only wrong.
//!
//! Discovery: two projects `p` and `q` of two resources `a` and `b` unless the mode says
//! otherwise. Resource metrics: 100 W for each resource now, unless the mode says otherwise.
//! Environment: 300 g/kWh for each location now, unless the mode says otherwise.
//!
//! Discovery mode `echo-settings` is an honest plugin's careless error: it logs every setting
//! and account setting it was given, and fails with them in its message, as given,
//! URL-encoded and base64-encoded (alone and inside a Basic credential).

use carbonaut_sdk::{
    Account, Discovery, EmissionFactorType, EnergyMix, EnergySource, Environment, Hardware,
    Location, LocationQuery, Metadata, Plugin, Project, ProviderError, ResourceInfo, ResourceKind,
    ResourceMetrics, ResourceSample, Settings, SourceShare, setting,
};

struct Liar;

impl Plugin for Liar {
    fn metadata() -> Metadata {
        Metadata::new("liar", "0.0.1", "Returns wrong data on purpose.")
            .setting("discovery", "How discovery lies", false)
            .setting("metrics", "How resource metrics lie", false)
            .setting("environment", "How the environment lies", false)
            .secret_setting(
                "token",
                "Echoed back by discovery mode echo-settings",
                false,
            )
            // Not flagged secret: the echo test sets it from `${...}`, which makes it one.
            .setting(
                "key",
                "An account setting echoed back by discovery mode echo-settings",
                false,
            )
    }
}

const YEAR_2200_MS: u64 = 7_258_118_400_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Logs every setting it was given and returns them in an error, in every form it knows.
fn echo(settings: &Settings, account: &Account) -> ProviderError {
    let mut said = Vec::new();
    for (key, value) in settings.iter().chain(&account.settings) {
        carbonaut_sdk::log::warn(
            &format!("read setting {key}: {value}"),
            &[
                ("key", key.as_str()),
                ("value", value.as_str()),
                ("then", " k3=x"),
            ],
        );
        said.push(format!(
            "got `{value}` for {key}, expected a number (as a query: ?{key}={}; encoded: {}; \
             as a Basic credential: {})",
            percent(value),
            base64(value.as_bytes()),
            base64(format!("user:{value}").as_bytes())
        ));
    }
    ProviderError::BadConfig(said.join("; "))
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn project(id: &str) -> Project {
    Project {
        id: id.to_owned(),
        name: id.to_owned(),
        labels: Vec::new(),
    }
}

fn resource(id: &str) -> ResourceInfo {
    ResourceInfo {
        id: id.to_owned(),
        name: id.to_owned(),
        kind: ResourceKind::Vm,
        location: Location {
            cloud: None,
            grid_zone: None,
            country: Some("DE".into()),
            region: None,
            zone: None,
            coordinates: None,
        },
        hardware: Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: Some(2),
            memory_bytes: None,
            cpu_model: None,
        },
        labels: Vec::new(),
    }
}

impl Discovery for Liar {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        Ok(match setting(&settings, "discovery").unwrap_or("ok") {
            // `p` twice: the second listing (with other resources) must not replace the first.
            "duplicate-project" => vec![project("p"), project("q"), project("p")],
            // Project `N` + resource `x\0y` against project `N\0x` + resource `y`.
            "nul-ids" => vec![project("N"), project("N\0x")],
            "log-injection" => {
                carbonaut_sdk::log::warn(
                    "innocent\n2026-01-01T00:00:00.000000Z ERROR carbonaut: FORGED RECORD\x1b[2J",
                    &[("k\nFORGED", "v\nFORGED")],
                );
                return Err(ProviderError::Other(format!(
                    "upstream said:\nERROR FORGED ERROR LINE\x1b[31m{}",
                    "z".repeat(1 << 20)
                )));
            }
            "echo-settings" => return Err(echo(&settings, &account)),
            _ => vec![project("p"), project("q")],
        })
    }

    fn list_resources(
        settings: Settings,
        _: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let mode = setting(&settings, "discovery").unwrap_or("ok");
        Ok(match (mode, project.id.as_str()) {
            ("duplicate-resource", _) => vec![resource("a"), resource("a"), resource("b")],
            ("nul-ids", "N") => vec![resource("x\0y"), resource("a")],
            ("nul-ids", _) => vec![resource("y"), resource("b")],
            ("long-labels", _) => {
                let mut r = resource("a");
                r.name = format!("name\nwith a newline{}", "n".repeat(10_000));
                r.labels = (0..200)
                    .map(|i| (format!("label-{i}"), "v".repeat(200)))
                    .collect();
                vec![r, resource("b")]
            }
            _ => vec![resource("a"), resource("b")],
        })
    }
}

fn sample(id: &str, energy: Option<f64>, power: Option<f64>, at: u64) -> ResourceSample {
    ResourceSample {
        components: Vec::new(),
        resource_id: id.to_owned(),
        energy_joules: energy,
        power_watts: power,
        cpu_frequency_hertz: Some(2.0e9),
        cpu_utilization_ratio: Some(0.5),
        read_at: at,
        estimated: false,
    }
}

impl ResourceMetrics for Liar {
    fn collect(
        settings: Settings,
        _: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let mode = setting(&settings, "metrics").unwrap_or("ok");
        let now = now_ms();
        // Calls alternate by the second, as a stateless guest's only memory.
        let odd = (now / 1000) % 2 == 1;
        let mut out = Vec::new();
        for r in &resources {
            let id = r.id.as_str();
            match mode {
                "huge-power" => out.push(sample(id, None, Some(8e307), now)),
                "alternating-counter" => {
                    out.push(sample(id, Some(if odd { 1.7e308 } else { 1.0 }), None, now))
                }
                "big-counter-jumps" => {
                    out.push(sample(id, Some(if odd { 1.0e14 } else { 1.0 }), None, now))
                }
                "year-2200" => out.push(sample(
                    id,
                    None,
                    Some(100.0),
                    if odd { YEAR_2200_MS } else { now },
                )),
                "time-zero" => out.push(sample(id, None, Some(100.0), if odd { 0 } else { now })),
                "backwards" => out.push(sample(
                    id,
                    None,
                    Some(100.0),
                    if odd { now - 60_000 } else { now },
                )),
                "several-samples" => {
                    let energy = (now / 1000) as f64;
                    out.push(sample(id, Some(energy), None, now));
                    out.push(sample(id, Some(0.0), None, now + 1));
                    out.push(sample(id, Some(energy), None, now + 2));
                }
                "bad-gauges" => {
                    let mut s = sample(id, None, Some(f64::NAN), now);
                    s.cpu_frequency_hertz = Some(-1.0);
                    s.cpu_utilization_ratio = Some(7.0);
                    out.push(s);
                    let mut s = sample("not-asked", None, Some(100.0), now);
                    s.power_watts = Some(-5.0);
                    out.push(s);
                }
                "bad-cpu-only" => {
                    let mut s = sample(id, None, Some(100.0), now);
                    s.cpu_frequency_hertz = Some(-1.0);
                    s.cpu_utilization_ratio = Some(7.0);
                    out.push(s);
                }
                _ => out.push(sample(id, None, Some(100.0), now)),
            }
        }
        Ok(out)
    }
}

fn mix(id: &str, intensity: f64, shares: Vec<SourceShare>) -> EnergyMix {
    let now = now_ms();
    EnergyMix {
        zone: None,
        location_id: id.to_owned(),
        carbon_intensity: intensity,
        emission_factor: EmissionFactorType::Lifecycle,
        shares,
        valid_at: now - now % 3_600_000,
        estimated: false,
    }
}

fn share(source: EnergySource, ratio: f64) -> SourceShare {
    SourceShare { source, ratio }
}

impl Environment for Liar {
    fn collect(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        let mode = setting(&settings, "environment").unwrap_or("ok");
        let mut out = Vec::new();
        for q in &locations {
            let id = q.id.as_str();
            match mode {
                "huge-intensity" => out.push(mix(id, 1.7e308, Vec::new())),
                "nan-intensity" => out.push(mix(id, f64::NAN, Vec::new())),
                "negative-intensity" => out.push(mix(id, -10.0, Vec::new())),
                "bad-shares" => out.push(mix(
                    id,
                    300.0,
                    vec![
                        share(EnergySource::Coal, -0.5),
                        share(EnergySource::Gas, 1.5),
                        share(EnergySource::Wind, f64::NAN),
                        share(EnergySource::Solar, 1.0),
                        share(EnergySource::Hydro, 1.0),
                    ],
                )),
                "repeated-shares" => {
                    let sources = [
                        EnergySource::Coal,
                        EnergySource::Gas,
                        EnergySource::Wind,
                        EnergySource::Solar,
                        EnergySource::Hydro,
                        EnergySource::Nuclear,
                    ];
                    let shares = (0..300_000)
                        .map(|i| share(sources[i % 6], 1.0 / 6.0))
                        .collect();
                    out.push(mix(id, 300.0, shares));
                }
                "duplicate-mix" => {
                    out.push(mix(id, 300.0, Vec::new()));
                    out.push(mix(id, 4000.0, Vec::new()));
                }
                _ => out.push(mix(
                    id,
                    300.0,
                    vec![
                        share(EnergySource::Coal, 0.4),
                        share(EnergySource::Wind, 0.6),
                    ],
                )),
            }
        }
        Ok(out)
    }
}

carbonaut_sdk::export!(Liar: discovery, resource_metrics, environment);
