//! Power where no meter is readable, from CPU utilisation, with Cloud Carbon Footprint's
//! min/max-watts method: each vCPU draws between an idle and a full-load figure, linearly in
//! utilisation, and the facility overhead (PUE) multiplies the lot.

/// Coefficients of the estimate; defaults are Cloud Carbon Footprint's AWS figures (see the
/// README for the source).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficients {
    pub min_watts_per_vcpu: f64,
    pub max_watts_per_vcpu: f64,
    pub pue: f64,
}

impl Default for Coefficients {
    fn default() -> Self {
        Coefficients {
            min_watts_per_vcpu: 0.74,
            max_watts_per_vcpu: 3.5,
            // The machine's own draw; a data-centre operator sets its facility's PUE.
            pue: 1.0,
        }
    }
}

impl Coefficients {
    /// watts = vcpus × (min + utilisation × (max − min)) × PUE.
    pub fn watts(&self, vcpus: u32, utilisation: f64) -> f64 {
        let utilisation = utilisation.clamp(0.0, 1.0);
        let per_vcpu = self.min_watts_per_vcpu
            + utilisation * (self.max_watts_per_vcpu - self.min_watts_per_vcpu);
        f64::from(vcpus) * per_vcpu * self.pue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_at_half_load() {
        // 4 × (0.74 + 0.5 × 2.76) × 1.0 = 4 × 2.12 = 8.48
        let w = Coefficients::default().watts(4, 0.5);
        assert!((w - 8.48).abs() < 1e-12, "{w}");
    }
}
