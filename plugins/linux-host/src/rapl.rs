//! RAPL energy counters through Linux powercap: finding the package domains, reading them, and
//! turning their wrapping per-domain counters into one cumulative total that only grows.
//!
//! `/sys/class/powercap` lists every zone flat (`intel-rapl:0`, `intel-rapl:0:0`, ...) as
//! symlinks into `/sys/devices/virtual/powercap/intel-rapl/`. A granted directory cannot follow
//! a symlink out of itself, so the plugin looks in both places and takes each zone from the
//! first place where it reads; a fixture tree mounted at `/sys/class/powercap` is plain
//! directories.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::procfs::describe;

/// Where the operator maps the host's powercap directories, in the order they are tried.
pub const ROOTS: [&str; 2] = ["/sys/class/powercap", "/sys/devices/virtual/powercap"];

/// Control types whose zones are RAPL domains. `intel-rapl-mmio` is left out on purpose: it is
/// a second interface to the same package counter on some Intel CPUs, and adding it would
/// count the package twice. AMD CPUs appear as `intel-rapl` (the kernel's `intel_rapl_msr`
/// driver serves them) or, on some kernels, `amd-rapl`.
const CONTROL_TYPES: [&str; 2] = ["intel-rapl", "amd-rapl"];

/// One package domain's counter as read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The zone, for example `intel-rapl:0`.
    pub zone: String,
    pub energy_uj: u64,
    /// Where `energy_uj` wraps; `None` when the file is missing or unreadable.
    pub max_energy_range_uj: Option<u64>,
}

/// Whether `name` is a top-level zone (`intel-rapl:N`): sub-domains (`intel-rapl:N:M`, core,
/// uncore, dram) are inside their package's energy and are never added to it.
fn is_top_zone(name: &str) -> bool {
    let Some((control, index)) = name.split_once(':') else {
        return false;
    };
    CONTROL_TYPES.contains(&control)
        && !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
}

/// The package domains' counters, or why there is no usable meter. Any package that cannot be
/// read makes the whole meter unusable: a sum missing a package would under-report.
pub fn read_packages() -> Result<Vec<Reading>, String> {
    let mut candidates: Vec<(String, PathBuf)> = Vec::new();
    let mut listing_errors = Vec::new();
    for root in ROOTS {
        match std::fs::read_dir(root) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let path = entry.path();
                    if is_top_zone(&name) {
                        candidates.push((name, path));
                    } else if CONTROL_TYPES.contains(&name.as_str()) {
                        // The devices tree nests zones in their control type's directory.
                        if let Ok(inner) = std::fs::read_dir(&path) {
                            for zone in inner.flatten() {
                                let name = zone.file_name().to_string_lossy().into_owned();
                                if is_top_zone(&name) {
                                    candidates.push((name, zone.path()));
                                }
                            }
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => listing_errors.push(describe(root, &e)),
        }
    }

    let mut zones: BTreeMap<String, Result<Reading, String>> = BTreeMap::new();
    for (zone, path) in candidates {
        if matches!(zones.get(&zone), Some(Ok(_))) {
            continue;
        }
        match read_zone(&zone, &path) {
            Ok(Some(reading)) => {
                zones.insert(zone, Ok(reading));
            }
            // A top-level zone that is not a package (`psys` on laptops) covers more than the
            // CPU packages and overlaps them.
            Ok(None) => {}
            Err(why) => {
                zones.entry(zone).or_insert(Err(why));
            }
        }
    }
    if zones.is_empty() {
        let mut why = format!("no RAPL package domain under {}", ROOTS.join(" or "));
        if !listing_errors.is_empty() {
            why = format!("{why} ({})", listing_errors.join("; "));
        }
        return Err(why);
    }
    let mut readings = Vec::with_capacity(zones.len());
    let mut errors = Vec::new();
    for result in zones.into_values() {
        match result {
            Ok(reading) => readings.push(reading),
            Err(why) => errors.push(why),
        }
    }
    if errors.is_empty() {
        Ok(readings)
    } else {
        Err(errors.join("; "))
    }
}

/// The zone's reading if it is a package domain, `None` if it is another kind of domain.
fn read_zone(zone: &str, dir: &Path) -> Result<Option<Reading>, String> {
    let name = read_file(&dir.join("name"))?;
    if !name.trim().starts_with("package") {
        return Ok(None);
    }
    let energy_uj = read_number(&dir.join("energy_uj"))?;
    let max_energy_range_uj = read_number(&dir.join("max_energy_range_uj"))
        .ok()
        .filter(|max| *max > 0);
    Ok(Some(Reading {
        zone: zone.to_owned(),
        energy_uj,
        max_energy_range_uj,
    }))
}

fn read_file(path: &Path) -> Result<String, String> {
    let shown = path.display().to_string();
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        // Since CVE-2020-8694 (PLATYPUS) most kernels make energy_uj readable by root only.
        ErrorKind::PermissionDenied => {
            format!("{shown} is not readable: permission denied (energy_uj is root-only on most kernels)")
        }
        _ => describe(&shown, &e),
    })
}

fn read_number(path: &Path) -> Result<u64, String> {
    let text = read_file(path)?;
    text.trim()
        .parse()
        .map_err(|_| format!("{} is not a counter: `{}`", path.display(), text.trim()))
}

/// What the plugin keeps between calls (every call is a fresh instance): the last raw reading
/// of each package and the cumulative total it reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accumulator {
    pub boot_id: Option<String>,
    /// Microjoules since the first reading, plus the raw sum at that first reading.
    pub total_uj: u64,
    pub last_uj: BTreeMap<String, u64>,
}

/// Energy a counter gained from `before` to `now`, in microjoules. Across a wrap at
/// `max_energy_range_uj` that is `max - before + now` (the kernel's counter is 32 bits of
/// energy units, so the true modulus is one unit, about 61 µJ, more: negligible). Without a
/// known maximum, a counter that went down counts from zero, like the host does.
pub fn counter_delta_uj(before: u64, now: u64, max_energy_range_uj: Option<u64>) -> u64 {
    if now >= before {
        return now - before;
    }
    match max_energy_range_uj {
        Some(max) if max >= before => max - before + now,
        _ => now,
    }
}

impl Accumulator {
    /// The state after `readings`. The first reading starts the total at the sum of the raw
    /// counters (what the plugin reports without a store); later readings add each package's
    /// delta. After a reboot the counters start over, so the total is kept and the packages
    /// are read afresh: the energy between the last reading and the reboot is unknown.
    pub fn advance(
        previous: Option<&Accumulator>,
        boot_id: Option<&str>,
        readings: &[Reading],
    ) -> Accumulator {
        let last_uj = readings
            .iter()
            .map(|r| (r.zone.clone(), r.energy_uj))
            .collect();
        let total_uj = match previous {
            None => readings.iter().map(|r| r.energy_uj).sum(),
            Some(p) if p.boot_id.as_deref() != boot_id => p.total_uj,
            Some(p) => readings.iter().fold(p.total_uj, |total, r| {
                // A package seen for the first time adds nothing until its next reading.
                let delta = p.last_uj.get(&r.zone).map_or(0, |before| {
                    counter_delta_uj(*before, r.energy_uj, r.max_energy_range_uj)
                });
                total.saturating_add(delta)
            }),
        };
        Accumulator {
            boot_id: boot_id.map(str::to_owned),
            total_uj,
            last_uj,
        }
    }

    /// A small line format: `boot ID`, `total UJ`, then `zone NAME UJ` per package.
    pub fn encode(&self) -> String {
        let mut out = format!(
            "boot {}\ntotal {}\n",
            self.boot_id.as_deref().unwrap_or("-"),
            self.total_uj
        );
        for (zone, uj) in &self.last_uj {
            out.push_str(&format!("zone {zone} {uj}\n"));
        }
        out
    }

    /// `None` for anything [`Accumulator::encode`] did not write.
    pub fn decode(text: &str) -> Option<Accumulator> {
        let mut state = Accumulator::default();
        let mut total = None;
        for line in text.lines() {
            let mut words = line.split(' ');
            match (words.next()?, words.next()?, words.next()) {
                ("boot", id, None) => state.boot_id = (id != "-").then(|| id.to_owned()),
                ("total", uj, None) => total = Some(uj.parse().ok()?),
                ("zone", zone, Some(uj)) => {
                    state.last_uj.insert(zone.to_owned(), uj.parse().ok()?);
                }
                _ => return None,
            }
        }
        state.total_uj = total?;
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(zone: &str, uj: u64, max: Option<u64>) -> Reading {
        Reading {
            zone: zone.into(),
            energy_uj: uj,
            max_energy_range_uj: max,
        }
    }

    #[test]
    fn only_package_level_zones_of_rapl_control_types() {
        assert!(is_top_zone("intel-rapl:0"));
        assert!(is_top_zone("amd-rapl:12"));
        assert!(!is_top_zone("intel-rapl:0:1"));
        assert!(!is_top_zone("intel-rapl-mmio:0"));
        assert!(!is_top_zone("intel-rapl"));
        assert!(!is_top_zone("intel-rapl:"));
    }

    #[test]
    fn a_wrap_adds_the_way_to_the_maximum_and_back() {
        assert_eq!(counter_delta_uj(100, 250, Some(1000)), 150);
        // 1000 - 900 + 50
        assert_eq!(counter_delta_uj(900, 50, Some(1000)), 150);
        assert_eq!(counter_delta_uj(900, 50, None), 50);
    }

    #[test]
    fn the_total_starts_at_the_raw_sum_and_survives_a_reboot() {
        let first = Accumulator::advance(
            None,
            Some("b1"),
            &[
                reading("intel-rapl:0", 10, None),
                reading("intel-rapl:1", 5, None),
            ],
        );
        assert_eq!(first.total_uj, 15);
        let second = Accumulator::advance(
            Some(&first),
            Some("b1"),
            &[
                reading("intel-rapl:0", 30, None),
                reading("intel-rapl:1", 6, None),
            ],
        );
        assert_eq!(second.total_uj, 15 + 20 + 1);
        let rebooted = Accumulator::advance(
            Some(&second),
            Some("b2"),
            &[reading("intel-rapl:0", 1, None)],
        );
        assert_eq!(rebooted.total_uj, 36);
        assert_eq!(Accumulator::decode(&rebooted.encode()), Some(rebooted));
        assert_eq!(Accumulator::decode("total x\n"), None);
    }
}
