//! The CPUs' current frequency: the mean of cpufreq's `scaling_cur_freq` over every CPU that has
//! one, else the mean of `/proc/cpuinfo`'s `cpu MHz` (virtual machines often have no cpufreq).

/// Where the operator maps the host's `/sys/devices/system/cpu`.
pub const CPU_DIR: &str = "/sys/devices/system/cpu";

/// Mean frequency in hertz, or `None` when neither source says anything.
pub fn mean_hertz(cpuinfo_hertz: Option<f64>) -> Option<f64> {
    scaling_cur_hertz().or(cpuinfo_hertz)
}

fn scaling_cur_hertz() -> Option<f64> {
    let entries = std::fs::read_dir(CPU_DIR).ok()?;
    let (mut sum_khz, mut count) = (0u64, 0u32);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_cpu = name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_cpu {
            continue;
        }
        // `cpuN/cpufreq` is a symlink to `cpufreq/policyN`, inside the same granted directory.
        let path = entry.path().join("cpufreq/scaling_cur_freq");
        if let Some(khz) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            sum_khz = sum_khz.saturating_add(khz);
            count += 1;
        }
    }
    // The file is in kHz.
    (count > 0).then(|| sum_khz as f64 / f64::from(count) * 1e3)
}
