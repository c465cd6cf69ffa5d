//! GPUs, a component of their own: NVIDIA's dcgm-exporter (`DCGM_FI_DEV_POWER_USAGE` in W,
//! `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` in mJ since boot, one series per GPU labelled `gpu`
//! and `UUID`, and, on a MIG-partitioned GPU, one more per GPU instance with `GPU_I_ID`) and
//! Kepler 0.10 and later (`kepler_node_gpu_joules_total`, `kepler_node_gpu_watts`).
//!
//! Two rules keep the figures honest. A MIG instance's series repeat their GPU's device-level
//! figure, so each device (its `UUID`, else its `gpu` index) is read once. And a sum of
//! several devices' energy counters is not a counter: when one device's counter resets the sum
//! drops, and the host, which counts a drop as "energy since the reset", would count the other
//! devices' whole counters again. So one device's counter is passed on (its reset is the
//! host's to handle), but several devices' energy is their summed power, integrated by the
//! host; only when there is no power is the counter sum used, with that caveat in the README.

use std::collections::BTreeMap;

use crate::series::Series;

pub const DCGM_POWER: &str = "DCGM_FI_DEV_POWER_USAGE";
pub const DCGM_ENERGY: &str = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION";
pub const KEPLER_GPU_JOULES: &str = "kepler_node_gpu_joules_total";
pub const KEPLER_GPU_WATTS: &str = "kepler_node_gpu_watts";

/// What one device said.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Device {
    joules: Option<f64>,
    watts: Option<f64>,
    at_ms: u64,
}

/// The GPU series of one resource, by device.
#[derive(Debug, Default)]
pub struct Gpus {
    devices: BTreeMap<String, Device>,
}

/// A resource's GPU reading: an energy counter or a power, with its time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuReading {
    pub joules: Option<f64>,
    pub watts: Option<f64>,
    pub at_ms: u64,
}

impl Gpus {
    /// Takes `s` if it is a GPU series; whether it was one.
    pub fn add(&mut self, s: &Series) -> bool {
        let (joules, watts) = match s.name() {
            DCGM_ENERGY => (Some(s.value / 1000.0), None),
            KEPLER_GPU_JOULES => (Some(s.value), None),
            DCGM_POWER | KEPLER_GPU_WATTS => (None, Some(s.value)),
            _ => return false,
        };
        if !(s.value.is_finite() && s.value >= 0.0) {
            return true;
        }
        let device = s
            .label("UUID")
            .or_else(|| s.label("uuid"))
            .or_else(|| s.label("gpu"))
            .unwrap_or("")
            .to_owned();
        let d = self.devices.entry(device).or_default();
        // A MIG instance's series repeat the device's figure: the first one read stands.
        if joules.is_some() && d.joules.is_none() {
            d.joules = joules;
        }
        if watts.is_some() && d.watts.is_none() {
            d.watts = watts;
        }
        d.at_ms = d.at_ms.max(s.at_ms);
        true
    }

    /// The resource's GPU reading, if any device was read (see the module's rules).
    pub fn reading(&self) -> Option<GpuReading> {
        let devices: Vec<&Device> = self.devices.values().collect();
        let at_ms = devices.iter().map(|d| d.at_ms).max()?;
        let sum = |f: fn(&Device) -> Option<f64>| -> Option<f64> {
            let values: Vec<f64> = devices.iter().filter_map(|d| f(d)).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let (joules, watts) = (sum(|d| d.joules), sum(|d| d.watts));
        let reading = match devices.len() {
            1 => GpuReading {
                joules,
                watts,
                at_ms,
            },
            _ if watts.is_some() => GpuReading {
                joules: None,
                watts,
                at_ms,
            },
            _ => GpuReading {
                joules,
                watts: None,
                at_ms,
            },
        };
        Some(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, labels: &[(&str, &str)], value: f64) -> Series {
        let mut l: crate::template::Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        l.insert("__name__".to_owned(), name.to_owned());
        Series {
            labels: l,
            value,
            at_ms: 1000,
        }
    }

    #[test]
    fn one_gpu_passes_its_counter_in_joules_and_its_power() {
        let mut g = Gpus::default();
        assert!(g.add(&series(
            DCGM_ENERGY,
            &[("gpu", "0"), ("UUID", "GPU-a")],
            4_213_546_123.0
        )));
        assert!(g.add(&series(
            DCGM_POWER,
            &[("gpu", "0"), ("UUID", "GPU-a")],
            68.5
        )));
        assert!(!g.add(&series("node_cpu_seconds_total", &[], 1.0)));
        let r = g.reading().expect("a reading");
        assert_eq!(r.joules, Some(4_213_546.123), "mJ to J");
        assert_eq!(r.watts, Some(68.5));
    }

    #[test]
    fn mig_instances_count_their_gpu_once_and_several_gpus_sum_power() {
        let mut g = Gpus::default();
        for (uuid, instance, watts, mj) in [
            ("GPU-a", Some("1"), 200.0, 9e9),
            ("GPU-a", Some("2"), 200.0, 9e9),
            ("GPU-b", None, 55.25, 1e6),
        ] {
            let mut labels = vec![("UUID", uuid), ("gpu", "x")];
            if let Some(i) = instance {
                labels.push(("GPU_I_ID", i));
            }
            g.add(&series(DCGM_POWER, &labels, watts));
            g.add(&series(DCGM_ENERGY, &labels, mj));
        }
        let r = g.reading().expect("a reading");
        // 200 W once for the partitioned GPU, plus the other: and no summed counters.
        assert_eq!(r.watts, Some(255.25));
        assert_eq!(r.joules, None);
    }

    #[test]
    fn several_gpus_without_power_sum_their_counters() {
        let mut g = Gpus::default();
        g.add(&series(KEPLER_GPU_JOULES, &[("gpu", "0")], 10.0));
        g.add(&series(KEPLER_GPU_JOULES, &[("gpu", "1")], 32.5));
        assert_eq!(g.reading().expect("reading").joules, Some(42.5));
        assert_eq!(Gpus::default().reading(), None);
    }
}
