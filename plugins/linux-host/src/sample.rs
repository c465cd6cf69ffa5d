//! One reading of the machine: measured from RAPL where it is readable, else estimated from
//! utilisation; with the CPUs' frequency and utilisation either way.

use carbonaut_sdk::{ProviderError, ResourceSample, log};

use crate::memory::Memory;
use crate::procfs::{self, CpuTimes};
use crate::rapl::{self, Accumulator};
use crate::settings::Config;
use crate::{cpufreq, now_ms};

const RAPL_KEY: &str = "rapl";
const CPU_KEY: &str = "cpu";

/// The previous `/proc/stat` totals, to turn them into a utilisation.
struct CpuState {
    boot_id: Option<String>,
    times: CpuTimes,
}

impl CpuState {
    fn encode(&self) -> String {
        format!(
            "boot {}\nidle {}\ntotal {}\n",
            self.boot_id.as_deref().unwrap_or("-"),
            self.times.idle,
            self.times.total
        )
    }

    fn decode(text: &str) -> Option<CpuState> {
        let mut lines = text.lines();
        let mut value = |key: &str| lines.next()?.strip_prefix(key)?.strip_prefix(' ');
        let boot = value("boot")?;
        let idle = value("idle")?.parse().ok()?;
        let total = value("total")?.parse().ok()?;
        Some(CpuState {
            boot_id: (boot != "-").then(|| boot.to_owned()),
            times: CpuTimes { idle, total },
        })
    }
}

pub fn take(config: &Config, resource_id: &str) -> Result<ResourceSample, ProviderError> {
    let mut memory = Memory { granted: true };
    let cpuinfo = procfs::parse_cpuinfo(&procfs::read("/proc/cpuinfo").map_err(grant_proc)?);
    let stat = procfs::read("/proc/stat").map_err(grant_proc)?;
    let boot_id = procfs::boot_id();
    let read_at = now_ms();

    // Utilisation since the previous call; none on the first call or after a reboot.
    let times = procfs::parse_stat(&stat);
    let previous = memory
        .get(CPU_KEY)?
        .as_deref()
        .and_then(CpuState::decode)
        .filter(|p| p.boot_id == boot_id);
    let utilisation = match (&previous, &times) {
        (Some(p), Some(now)) => p.times.utilisation_until(now),
        _ => None,
    };
    if let Some(times) = times {
        let state = CpuState {
            boot_id: boot_id.clone(),
            times,
        };
        memory.set(CPU_KEY, &state.encode())?;
    }

    let meter = if config.force_estimate {
        Err("the setting force_estimate is true".to_owned())
    } else {
        rapl::read_packages()
    };
    let mut sample = ResourceSample {
        components: Vec::new(),
        resource_id: resource_id.to_owned(),
        energy_joules: None,
        power_watts: None,
        cpu_frequency_hertz: cpufreq::mean_hertz(cpuinfo.mean_hertz),
        cpu_utilization_ratio: utilisation,
        read_at,
        estimated: false,
    };
    match meter {
        Ok(readings) => {
            let previous = memory
                .get(RAPL_KEY)?
                .as_deref()
                .and_then(Accumulator::decode);
            let total_uj = if memory.granted {
                let state = Accumulator::advance(previous.as_ref(), boot_id.as_deref(), &readings);
                memory.set(RAPL_KEY, &state.encode())?;
                state.total_uj
            } else {
                no_store_warning(
                    "reporting the raw sum of the RAPL package counters, which drops at every wrap (the host then counts only from the wrap)",
                );
                readings.iter().map(|r| r.energy_uj).sum()
            };
            sample.energy_joules = Some(total_uj as f64 / 1e6);
            let zones: Vec<&str> = readings.iter().map(|r| r.zone.as_str()).collect();
            memory.say_once(
                "measured",
                false,
                "measuring energy with RAPL",
                &[("packages", &zones.join(","))],
            )?;
        }
        Err(why) => {
            sample.estimated = true;
            let vcpus = match cpuinfo.logical_cpus {
                0 => procfs::count_stat_cpus(&stat),
                n => n,
            };
            // Without a previous reading the average since boot is the best utilisation known.
            let basis = utilisation.or_else(|| times.and_then(|t| t.since_boot()));
            sample.power_watts = basis.map(|u| config.coefficients.watts(vcpus, u));
            if !memory.granted {
                no_store_warning("estimating power from the average utilisation since boot");
            }
            memory.say_once(
                &format!("estimated: {why}"),
                true,
                "no readable RAPL meter: estimating power from CPU utilisation (samples say estimated)",
                &[("reason", &why)],
            )?;
        }
    }
    Ok(sample)
}

fn no_store_warning(consequence: &str) {
    log::warn(
        "the key-value store is not granted, so nothing is kept between calls; grant it with \
         `key_value = true` in the provider's config",
        &[("consequence", consequence)],
    );
}

/// `/proc` is the one directory the plugin cannot work without.
pub fn grant_proc(why: String) -> ProviderError {
    ProviderError::BadConfig(format!(
        "{why}; the provider needs the host's /proc: `read_only_dirs = {{ \"/proc\" = \"/proc\" }}`"
    ))
}
