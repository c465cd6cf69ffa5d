//! Which of a node's Kepler zones add up to its energy, for both of Kepler's meters.
//!
//! RAPL (`/sys/class/powercap`) zones overlap: `package` contains `core` and `uncore`, and
//! `psys` (platform) contains everything; `package` and `dram` share nothing. Kepler 0.11's
//! hwmon meter (`/sys/class/hwmon`) names a zone after its sensor's label, cleaned (`package`,
//! `core`, `gpu`, ...), or `<chip>_power<N>` when the sensor has none
//! (kepler `internal/device/hwmon_power_meter.go`, `createPowerZone`), and ranks `package`,
//! `socket`, `cpu`, then `core`, `ppt`, `core_power`, `io_power`, `soc`, `platform` as the
//! node's primary zone (`PrimaryEnergyZone`). So a node's energy is its package-level zones
//! plus everything that is not part of a package: the parts of a package (`core`, `uncore`,
//! `core_power`, `io_power`, `soc`) count only when no package-level zone is there, and the
//! whole platform (`psys`, `platform`) only when nothing else is. A sensor Kepler names after
//! its chip, and a device of its own (`gpu`), is counted: nothing says it overlaps.

/// How a zone relates to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A socket's whole package (RAPL `package`, hwmon `package`, `socket`, `cpu`, AMD `ppt`).
    Package,
    /// Memory, beside the package.
    Dram,
    /// Inside a package.
    PartOfPackage,
    /// The whole platform, package and memory included.
    Platform,
    /// Anything else: a device or sensor of its own.
    Other,
}

/// A zone's name without a socket number (`package-0`, `ppt1` → `package`, `ppt`).
fn base(zone: &str) -> String {
    zone.trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches(['-', '_'])
        .to_ascii_lowercase()
}

fn kind(zone: &str) -> Kind {
    match base(zone).as_str() {
        "package" | "socket" | "cpu" | "ppt" => Kind::Package,
        "dram" => Kind::Dram,
        "core" | "uncore" | "core_power" | "io_power" | "soc" => Kind::PartOfPackage,
        "psys" | "platform" => Kind::Platform,
        _ => Kind::Other,
    }
}

/// Which of `zones` (one name per series; names repeat across sockets) are counted.
pub fn counted<'a>(zones: impl Iterator<Item = &'a str>) -> impl Fn(&str) -> bool {
    let kinds: Vec<Kind> = zones.map(kind).collect();
    let has = |k: Kind| kinds.contains(&k);
    let package = has(Kind::Package);
    let anything_else = kinds.iter().any(|k| *k != Kind::Platform);
    move |zone: &str| match kind(zone) {
        Kind::Package | Kind::Dram | Kind::Other => true,
        Kind::PartOfPackage => !package,
        Kind::Platform => !anything_else,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept<'a>(zones: &[&'a str]) -> Vec<&'a str> {
        let keep = counted(zones.iter().copied());
        zones.iter().copied().filter(|z| keep(z)).collect()
    }

    #[test]
    fn rapl_counts_packages_and_dram_only() {
        assert_eq!(
            kept(&[
                "package", "package", "core", "uncore", "dram", "dram", "psys"
            ]),
            ["package", "package", "dram", "dram"]
        );
        assert_eq!(
            kept(&["package-0", "package-1", "core"]),
            ["package-0", "package-1"]
        );
    }

    /// The zones Kepler's own hwmon test data gives (kepler `internal/device/
    /// hwmon_power_meter_test.go`, `TestHwmonPowerMeter_PowerReadings` and `_FallbackNaming`):
    /// `package`, `core`, `gpu` and the unlabelled `platform_sensor_power1`.
    #[test]
    fn hwmon_counts_every_sensor_but_the_parts_of_a_package() {
        assert_eq!(
            kept(&["package", "core", "gpu", "platform_sensor_power1"]),
            ["package", "gpu", "platform_sensor_power1"]
        );
        // AMD: package power tracking per socket, its core and I/O parts left out.
        assert_eq!(
            kept(&["ppt0", "ppt1", "core_power", "io_power"]),
            ["ppt0", "ppt1"]
        );
        // Without a package zone its parts are all there is.
        assert_eq!(kept(&["core", "soc"]), ["core", "soc"]);
        assert_eq!(kept(&["platform"]), ["platform"]);
        assert_eq!(kept(&["platform", "gpu"]), ["gpu"]);
    }
}
