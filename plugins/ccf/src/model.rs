//! The arithmetic of the model, apart from the tables and the contract so each formula is
//! tested on its own: Teads' load curves, Cloud Carbon Footprint's coefficients, memory and
//! the embodied share.

use crate::tables::{CcfType, Coefficients, LOAD_POINTS};

/// Cloud Carbon Footprint's memory coefficient: 0.000392 kWh per GB-hour, that is 0.392 W per GB.
pub const MEMORY_WATTS_PER_GB: f64 = 0.392;

/// Cloud Carbon Footprint counts a machine's CPU chips as one per 96 platform vCPUs, rounded up
/// (`getPhysicalChips`).
pub const VCPUS_PER_CHIP: f64 = 96.0;

/// CCF's default CPU utilisation when nothing was measured (`AVG_CPU_UTILIZATION_2020`).
pub const DEFAULT_UTILIZATION: f64 = 0.5;

/// Watts at `utilization` (0 to 1) on a curve measured at idle, 10 %, 50 % and 100 %: a straight
/// line between the two load points around it.
pub fn interpolate(curve: &[f64; 4], utilization: f64) -> f64 {
    let u = utilization.clamp(0.0, 1.0);
    for i in 0..3 {
        let (from, to) = (LOAD_POINTS[i], LOAD_POINTS[i + 1]);
        if u <= to {
            return curve[i] + (u - from) / (to - from) * (curve[i + 1] - curve[i]);
        }
    }
    curve[3]
}

/// Cloud Carbon Footprint's compute power: vCPUs × (min + u × (max − min)).
pub fn cpu_watts(vcpus: f64, coefficients: Coefficients, utilization: f64) -> f64 {
    let u = utilization.clamp(0.0, 1.0);
    vcpus * (coefficients.min_watts + u * (coefficients.max_watts - coefficients.min_watts))
}

/// Cloud Carbon Footprint's memory power (`calculateGigabyteHours`). The SPECpower servers the
/// CPU coefficients come from already carried `gb_per_chip` of memory per chip, so only the
/// memory a platform has beyond that is counted, shared out by the instance's memory:
/// (platform GB / chips − GB per chip) × instance GB / platform GB × 0.392 W, and 0 when the
/// platform has no more memory per chip than the servers measured.
pub fn memory_watts(kind: &CcfType, gb_per_chip: f64) -> f64 {
    if kind.platform_memory_gb <= 0.0 {
        return 0.0;
    }
    let chips = (kind.platform_vcpus / VCPUS_PER_CHIP).ceil().max(1.0);
    let extra_per_chip = kind.platform_memory_gb / chips - gb_per_chip;
    if extra_per_chip <= 0.0 {
        return 0.0;
    }
    extra_per_chip * kind.memory_gb / kind.platform_memory_gb * MEMORY_WATTS_PER_GB
}

/// The resource's share of its machine, RR / ToR: its vCPUs of the platform's. None unless it is
/// above 0 and at most 1 (what the contract accepts).
pub fn vcpu_share(vcpus: f64, platform_vcpus: f64) -> Option<f64> {
    let share = vcpus / platform_vcpus;
    (share.is_finite() && share > 0.0 && share <= 1.0).then_some(share)
}

/// What the host makes of an embodied share over one hour: TE × share / EL, in grams. The
/// plugin does not report it (the host multiplies by the time it watched the resource); it is
/// here so the tests can check the figure the README's worked example gives.
#[cfg(test)]
pub fn embodied_grams_per_hour(machine_grams: f64, share: f64, lifetime_hours: f64) -> f64 {
    machine_grams * share / lifetime_hours
}
