//! What the plugin reads from `/proc`: the hostname, the CPU model and count, the memory size,
//! the CPU time counters of `/proc/stat` and the boot id. Parsers are pure functions of the
//! file's text so they can be tested without a `/proc`.

use std::io::ErrorKind;

/// Where the operator maps the host's `/proc`.
pub const PROC: &str = "/proc";

/// Reads a file under a granted directory, naming the file and what to grant when it fails.
pub fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| describe(path, &e))
}

/// A read error in the operator's terms.
pub fn describe(path: &str, error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::NotFound => format!("{path} does not exist (or its directory is not granted)"),
        ErrorKind::PermissionDenied => format!("{path} is not readable: permission denied"),
        _ => format!("{path} could not be read: {error}"),
    }
}

/// The machine's facts from `/proc/cpuinfo`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CpuInfo {
    /// Logical CPUs (`processor` lines): what a cloud calls vCPUs.
    pub logical_cpus: u32,
    /// The first `model name` (x86) or `Model`/`Hardware` line (ARM boards).
    pub model: Option<String>,
    /// Mean of the `cpu MHz` lines, in hertz (x86 only), for machines without cpufreq.
    pub mean_hertz: Option<f64>,
}

pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let (mut mhz_sum, mut mhz_count) = (0.0, 0u32);
    let mut fallback_model = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => info.logical_cpus += 1,
            "model name" if info.model.is_none() && !value.is_empty() => {
                info.model = Some(value.to_owned());
            }
            "Model" | "Hardware" if fallback_model.is_none() && !value.is_empty() => {
                fallback_model = Some(value.to_owned());
            }
            "cpu MHz" => {
                if let Ok(mhz) = value.parse::<f64>() {
                    mhz_sum += mhz;
                    mhz_count += 1;
                }
            }
            _ => {}
        }
    }
    if info.model.is_none() {
        info.model = fallback_model;
    }
    if mhz_count > 0 {
        info.mean_hertz = Some(mhz_sum / f64::from(mhz_count) * 1e6);
    }
    info
}

/// `MemTotal` of `/proc/meminfo`, in bytes (the file says kB, meaning KiB).
pub fn parse_mem_total_bytes(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The aggregate CPU time counters of `/proc/stat`, in USER_HZ ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// `idle + iowait`: time the CPUs had nothing to run.
    pub idle: u64,
    /// `user + nice + system + idle + iowait + irq + softirq + steal`. `guest` and
    /// `guest_nice` are left out because the kernel already counts them in `user` and `nice`.
    pub total: u64,
}

impl CpuTimes {
    /// Utilisation between `self` (earlier) and `now`: 1 - delta(idle) / delta(total). `None`
    /// when the counters did not advance or went back (a reboot).
    pub fn utilisation_until(&self, now: &CpuTimes) -> Option<f64> {
        let total = now.total.checked_sub(self.total)?;
        let idle = now.idle.checked_sub(self.idle)?;
        if total == 0 || idle > total {
            return None;
        }
        Some(1.0 - idle as f64 / total as f64)
    }

    /// The average utilisation since boot: the counters start at zero when the machine boots.
    pub fn since_boot(&self) -> Option<f64> {
        CpuTimes { idle: 0, total: 0 }.utilisation_until(self)
    }
}

pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]; kernels before 2.6.11
    // had fewer columns, treated as zero.
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    if fields.len() < 4 {
        return None;
    }
    let idle = field(3).checked_add(field(4))?;
    let total = (0..8).try_fold(0u64, |sum, i| sum.checked_add(field(i)))?;
    Some(CpuTimes { idle, total })
}

/// The `cpuN` lines of `/proc/stat`: the online CPUs, where `/proc/cpuinfo` has no
/// `processor` lines.
pub fn count_stat_cpus(text: &str) -> u32 {
    let count = text
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c.is_ascii_digit())
        })
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The host's name, from `/proc/sys/kernel/hostname`.
pub fn hostname() -> Result<String, String> {
    let path = "/proc/sys/kernel/hostname";
    let name = read(path)?.trim().to_owned();
    if name.is_empty() {
        return Err(format!("{path} is empty"));
    }
    Ok(name)
}

/// Changes at every boot: counters read before a reboot cannot be compared with later ones.
pub fn boot_id() -> Option<String> {
    read("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_counts_processors_and_averages_mhz() {
        let info = parse_cpuinfo(
            "processor\t: 0\nmodel name\t: Example CPU\ncpu MHz\t\t: 1000.0\n\n\
             processor\t: 1\nmodel name\t: Example CPU\ncpu MHz\t\t: 3000.0\n",
        );
        assert_eq!(info.logical_cpus, 2);
        assert_eq!(info.model.as_deref(), Some("Example CPU"));
        assert_eq!(info.mean_hertz, Some(2.0e9));
    }

    #[test]
    fn stat_sums_eight_columns_and_idle_with_iowait() {
        let t =
            parse_stat("cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 1 2 3 4\n").expect("a cpu line");
        assert_eq!(
            t,
            CpuTimes {
                idle: 90,
                total: 360
            }
        );
        let later = CpuTimes {
            idle: 190,
            total: 760,
        };
        // 1 - 100/400
        assert_eq!(t.utilisation_until(&later), Some(0.75));
        assert_eq!(later.utilisation_until(&t), None);
    }

    #[test]
    fn meminfo_total_is_kib() {
        assert_eq!(
            parse_mem_total_bytes("MemTotal:       2048 kB\nMemFree: 1 kB\n"),
            Some(2048 * 1024)
        );
    }
}
