//! vCPUs and memory of common EC2 instance types, for when the answer has no `cpuOptions`
//! (memory is never in it).
//!
//! Source: the AWS documentation's instance type specifications ("Amazon EC2 instance types",
//! general purpose, compute optimized and memory optimized pages). In each family listed here
//! every size has the same memory per vCPU (4 GiB in `m`, 2 GiB in `c`, 8 GiB in `r`) and the
//! size names the vCPUs (`large` 2, `xlarge` 4, `Nxlarge` 4×N, `medium` 1 on Graviton), so
//! the figures follow from the name. The burstable `t` types are listed one by one. A type not
//! here (another family, `metal`, a size outside the pattern) gets no figures rather than a
//! guess.

const GIB: u64 = 1 << 30;

/// Families whose every size has `gib_per_vcpu` of memory per vCPU.
const PROPORTIONAL: &[(&str, u64)] = &[
    ("m5", 4),
    ("m5a", 4),
    ("m5n", 4),
    ("m6i", 4),
    ("m6a", 4),
    ("m6g", 4),
    ("m7i", 4),
    ("m7a", 4),
    ("m7g", 4),
    ("m8g", 4),
    ("c5", 2),
    ("c5a", 2),
    ("c6i", 2),
    ("c6a", 2),
    ("c6g", 2),
    ("c7i", 2),
    ("c7a", 2),
    ("c7g", 2),
    ("c8g", 2),
    ("r5", 8),
    ("r5a", 8),
    ("r6i", 8),
    ("r6a", 8),
    ("r6g", 8),
    ("r7i", 8),
    ("r7a", 8),
    ("r7g", 8),
    ("r8g", 8),
];

/// Burstable types: vCPUs and memory in MiB.
const BURSTABLE: &[(&str, u32, u64)] = &[
    ("t2.nano", 1, 512),
    ("t2.micro", 1, 1024),
    ("t2.small", 1, 2048),
    ("t2.medium", 2, 4096),
    ("t2.large", 2, 8192),
    ("t2.xlarge", 4, 16384),
    ("t2.2xlarge", 8, 32768),
    ("t3.nano", 2, 512),
    ("t3.micro", 2, 1024),
    ("t3.small", 2, 2048),
    ("t3.medium", 2, 4096),
    ("t3.large", 2, 8192),
    ("t3.xlarge", 4, 16384),
    ("t3.2xlarge", 8, 32768),
];

/// vCPUs and memory in bytes of `instance_type`, when it is known.
pub fn size(instance_type: &str) -> Option<(u32, u64)> {
    let (family, size) = instance_type.split_once('.')?;
    // t3a and t4g have the sizes of t3.
    let burstable = match family {
        "t3a" | "t4g" => format!("t3.{size}"),
        _ => instance_type.to_owned(),
    };
    if let Some((_, vcpus, mib)) = BURSTABLE.iter().find(|(name, _, _)| *name == burstable) {
        return Some((*vcpus, mib * (1 << 20)));
    }
    let (_, gib_per_vcpu) = PROPORTIONAL.iter().find(|(name, _)| *name == family)?;
    let vcpus: u32 = match size {
        // Only Graviton families have a `medium`.
        "medium" if family.ends_with('g') => 1,
        "large" => 2,
        "xlarge" => 4,
        _ => 4 * size.strip_suffix("xlarge")?.parse::<u32>().ok()?,
    };
    Some((vcpus, u64::from(vcpus) * gib_per_vcpu * GIB))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_sizes() {
        assert_eq!(size("m5.large"), Some((2, 8 * GIB)));
        assert_eq!(size("c5.9xlarge"), Some((36, 72 * GIB)));
        assert_eq!(size("r6g.medium"), Some((1, 8 * GIB)));
        assert_eq!(size("m7i.48xlarge"), Some((192, 768 * GIB)));
        assert_eq!(size("t3a.nano"), Some((2, 512 << 20)));
        assert_eq!(size("t2.micro"), Some((1, GIB)));
        assert_eq!(size("m5.medium"), None);
        assert_eq!(size("m5.metal"), None);
        assert_eq!(size("x2iedn.xlarge"), None);
        assert_eq!(size("nonsense"), None);
    }
}
