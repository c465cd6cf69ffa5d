//! GPUs as a component of their own, through a real Prometheus scraping exposition files shaped
//! after NVIDIA's dcgm-exporter (one T4; two A100s, one partitioned with MIG) and Kepler 0.10's
//! GPU series, and a GPU whose energy counter resets between two collections, counted by the
//! host's own counters.

use std::sync::{Arc, Mutex};

use carbonaut_model::{Component, ResourceSample};
use carbonaut_store::state::Counters;

use crate::fake_api::{Upstream, reply};
use crate::support::*;

use super::harness::*;

/// dcgm.prom: 1 234 567 890 mJ since boot, 27.014 W.
const T4_JOULES: f64 = 1_234_567_890.0 / 1000.0;
const T4_WATTS: f64 = 27.014;
/// dcgm-mig.prom: the partitioned A100 once (250 W), the other 70.5 W.
const TWO_A100_WATTS: f64 = 250.0 + 70.5;
/// kepler-gpu.prom: package + dram (core is inside the package); the GPU apart.
const KEPLER_CPU_JOULES: f64 = 30500.5 + 4200.25;
const KEPLER_GPU_JOULES: f64 = 77000.75;
const KEPLER_GPU_WATTS: f64 = 140.25;

fn component(s: &ResourceSample, c: Component) -> (Option<f64>, Option<f64>) {
    s.components
        .iter()
        .find(|r| r.component == c)
        .map_or((None, None), |r| (r.energy_joules, r.power_watts))
}

/// A dcgm-exporter whose one GPU's energy counter (mJ) the test sets.
fn live_gpu(millijoules: Arc<Mutex<f64>>) -> Upstream {
    Upstream::start(move |_| {
        let mj = *millijoules.lock().expect("lock");
        reply(
            200,
            format!(
                "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n\
                 DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu=\"0\",UUID=\"GPU-live\",\
                 Hostname=\"gpu-node-3\"}} {mj}\n"
            ),
        )
        .header("Content-Type", "text/plain; version=0.0.4")
    })
}

#[test]
fn gpus_are_a_component_of_their_own_through_a_real_prometheus() {
    let files = file_server();
    let millijoules = Arc::new(Mutex::new(5_000_000.0));
    let live = live_gpu(millijoules.clone());
    let mut config = EVERY_SECOND.to_owned();
    for (name, path) in [
        ("dcgm", "/dcgm.prom"),
        ("dcgm-mig", "/dcgm-mig.prom"),
        ("kepler-gpu", "/kepler-gpu.prom"),
    ] {
        config.push_str(&job(name, path, &[files.to_string()]));
    }
    config.push_str(&job("dcgm-live", "/metrics", &[live.addr.to_string()]));
    let prometheus = Prometheus::start(&config);
    wait_until(30, "the first scrapes", || {
        match series_count(&prometheus, "up == 1")? {
            4 => Ok(()),
            n => Err(format!("{n} targets up")),
        }
    });
    let h = Harness::new();
    let grants = origin(format!("127.0.0.1:{}", prometheus.port()));
    let url = prometheus.url();
    let settings = [
        ("url", url.as_str()),
        ("resource_template", "{job}/{instance}"),
    ];
    let resources = [
        resource(&format!("dcgm/{files}"), "t4", None),
        resource(&format!("dcgm-mig/{files}"), "a100s", None),
        resource(&format!("kepler-gpu/{files}"), "kepler", None),
    ];
    let samples = h.collect(&grants, &settings, &resources).expect("collect");
    assert_eq!(samples.len(), 3, "{samples:#?}");

    // One GPU, nothing else measured: its counter and power as the gpu component, the
    // resource's energy their sum (no total of its own).
    let t4 = by_id(&samples, &format!("dcgm/{files}"));
    let (joules, watts) = component(t4, Component::Gpu);
    assert!(close(joules, T4_JOULES) && close(watts, T4_WATTS), "{t4:?}");
    assert_eq!((t4.energy_joules, t4.power_watts), (None, None));
    assert_eq!(component(t4, Component::Cpu), (None, None));

    // Two GPUs, one under MIG: each device once, their power summed, their counters not.
    let a100s = by_id(&samples, &format!("dcgm-mig/{files}"));
    let (joules, watts) = component(a100s, Component::Gpu);
    assert!(close(watts, TWO_A100_WATTS), "{a100s:?}");
    assert_eq!(joules, None, "a sum of two counters is not a counter");

    // Kepler 0.10 with a GPU: the CPU zones as the cpu component, the GPU apart.
    let kepler = by_id(&samples, &format!("kepler-gpu/{files}"));
    let (cpu_joules, _) = component(kepler, Component::Cpu);
    assert!(close(cpu_joules, KEPLER_CPU_JOULES), "{kepler:?}");
    let (gpu_joules, gpu_watts) = component(kepler, Component::Gpu);
    assert!(close(gpu_joules, KEPLER_GPU_JOULES), "{kepler:?}");
    assert!(close(gpu_watts, KEPLER_GPU_WATTS), "{kepler:?}");

    // dcgm alone: the same series read by `sources = "dcgm"`; Kepler's GPU needs `kepler`.
    let only_dcgm = with(&settings, "sources", "dcgm");
    let samples = h.collect(&grants, &only_dcgm, &resources).expect("collect");
    assert_eq!(samples.len(), 2, "{samples:#?}");

    // A GPU counter that resets between two collections: 5 000 J, then 1 000 J more, then a
    // reset to 2 J. The host counts 1 000 J, then the 2 J since the reset, never a negative
    // step and never the counter again.
    let gpu = resource(&format!("dcgm-live/{}", live.addr), "live", None);
    let mut counters = Counters::default();
    for (mj, expected_total) in [(5_000_000.0, 0.0), (6_000_000.0, 1000.0), (2_000.0, 1002.0)] {
        *millijoules.lock().expect("lock") = mj;
        let scraped = mj / 1000.0;
        let mut sample = None;
        wait_until(20, "the new counter value scraped", || {
            let got = h
                .collect(&grants, &settings, std::slice::from_ref(&gpu))
                .map_err(|e| e.to_string())?;
            match got.first() {
                Some(s) if close(component(s, Component::Gpu).0, scraped) => {
                    sample = Some(s.clone());
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        });
        let sample = sample.expect("a sample");
        counters
            .advance(&sample, None, 1e6, 1.0)
            .expect("a plausible step");
        assert_eq!(counters.component_joules(Component::Gpu), expected_total);
        assert_eq!(counters.energy_joules_total, expected_total);
    }
}
