//! A pretend energy meter: plausible, deterministic readings for any resource. Each resource
//! draws a constant power derived from its id and size, so its energy counter is that power
//! times the seconds since 2020-01-01; utilisation and frequency follow a slow wave.
//! Settings let tests exercise the host's edge cases: power-only readings and counter wraps.

use carbonaut_sdk::{
    Account, Metadata, Plugin, ProviderError, ResourceInfo, ResourceMetrics, ResourceSample,
    Settings, setting,
};

struct MockMeter;

/// 2020-01-01T00:00:00Z: the counters' zero.
const COUNTER_EPOCH_MS: u64 = 1_577_836_800_000;

impl Plugin for MockMeter {
    fn metadata() -> Metadata {
        Metadata::new(
            "mock-meter",
            env!("CARGO_PKG_VERSION"),
            "Deterministic energy, power and CPU readings for any resource.",
        )
        .setting(
            "mode",
            "`counter` (default), `power` (no energy counter), `both`, or `utilization` (CPU \
             figures only, as a cloud's monitoring API gives them: the power then comes from an \
             estimation provider)",
            false,
        )
        .setting(
            "wrap_joules",
            "Wrap the energy counter at this many joules (default: never)",
            false,
        )
    }
}

/// FNV-1a: a stable hash, so a resource draws the same power in every instance and release.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ResourceMetrics for MockMeter {
    fn collect(
        settings: Settings,
        _account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let mode = setting(&settings, "mode").unwrap_or("counter");
        let (energy, power) = match mode {
            "counter" => (true, false),
            "power" => (false, true),
            "both" => (true, true),
            "utilization" => (false, false),
            other => {
                return Err(ProviderError::BadConfig(format!(
                    "setting `mode` must be counter, power, both or utilization, got `{other}`"
                )));
            }
        };
        let wrap = match setting(&settings, "wrap_joules") {
            None => None,
            Some(v) => Some(v.parse::<f64>().ok().filter(|w| *w > 0.0).ok_or_else(|| {
                ProviderError::BadConfig(format!(
                    "setting `wrap_joules` must be a positive number, got `{v}`"
                ))
            })?),
        };
        let now = now_ms();
        let secs = now.saturating_sub(COUNTER_EPOCH_MS) as f64 / 1000.0;
        Ok(resources
            .iter()
            .map(|r| {
                let h = stable_hash(&r.id);
                let vcpus = f64::from(r.hardware.vcpus.unwrap_or(2));
                // 10 to 25 W idle-ish baseline plus 3 to 6 W per vCPU.
                let watts = 10.0 + (h % 16) as f64 + vcpus * (3.0 + ((h >> 8) % 4) as f64);
                let phase = ((h >> 16) % 600) as f64;
                let wave = ((secs + phase) / 600.0 * std::f64::consts::TAU).sin();
                let joules = watts * secs;
                ResourceSample {
                    components: Vec::new(),
                    resource_id: r.id.clone(),
                    energy_joules: energy.then(|| wrap.map_or(joules, |w| joules % w)),
                    power_watts: power.then_some(watts),
                    cpu_frequency_hertz: Some(2.4e9 + 0.6e9 * wave),
                    cpu_utilization_ratio: Some(0.45 + 0.35 * wave),
                    read_at: now,
                    estimated: false,
                }
            })
            .collect())
    }
}

carbonaut_sdk::export!(MockMeter: resource_metrics);
