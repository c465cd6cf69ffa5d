//! The whole footprint's arithmetic by hand (issue 23): the ccf plugin's figures for an AWS
//! m5.xlarge from Cloud Carbon Footprint's tables, the host's counters turning them into IT
//! and facility energy, operational and embodied emissions, a GPU counter across a reset, and
//! project totals. (A report row's operational and embodied columns are checked by hand in
//! `carbonaut-store`'s `history::recorder` tests, `a_report_row_has_operational_and_embodied_columns`.)

use carbonaut_model::{
    Component, ComponentReading, Hardware, Location, ResourceInfo, ResourceKind, ResourceSample,
};
use carbonaut_runtime::Grants;
use carbonaut_store::state::{Counters, Totals};

use super::{Case, check};
use crate::support::runtime;

/// aws-instances.csv, m5.xlarge (Teads): PkgWatt 6.11 at 10 % and 14.32 at 50 %, RAMWatt 3.85
/// and 9.92, Delta Full Machine 4.0; coefficients-aws-embodied.csv: total 1 610.79 kg; 4 of the
/// platform's 96 vCPUs.
const CPU_AT_30: f64 = 6.11 + (30.0 - 10.0) / (50.0 - 10.0) * (14.32 - 6.11); // 10.215 W
const DRAM_AT_30: f64 = 3.85 + (30.0 - 10.0) / (50.0 - 10.0) * (9.92 - 3.85); // 6.885 W
const OTHER: f64 = 4.0;
const MACHINE_GRAMS: f64 = 1_610.79 * 1000.0;
const SHARE: f64 = 4.0 / 96.0;

fn m5_xlarge() -> ResourceInfo {
    ResourceInfo {
        id: "i-0m5".into(),
        name: "web".into(),
        kind: ResourceKind::Vm,
        location: Location {
            cloud: Some("aws".into()),
            grid_zone: None,
            country: Some("DE".into()),
            region: Some("eu-central-1".into()),
            zone: Some("DE".into()),
            coordinates: None,
        },
        hardware: Hardware {
            vcpus: Some(4),
            memory_bytes: Some(16 << 30),
            cpu_model: None,
            instance_type: Some("m5.xlarge".into()),
            gpu_count: Some(0),
            gpu_model: None,
        },
        labels: vec![],
    }
}

fn utilisation(u: f64, at: u64) -> ResourceSample {
    ResourceSample {
        resource_id: "i-0m5".into(),
        energy_joules: None,
        power_watts: None,
        cpu_frequency_hertz: None,
        cpu_utilization_ratio: Some(u),
        read_at: at,
        estimated: false,
        components: vec![],
    }
}

fn modelled(power: &[(Component, f64)], at: u64) -> ResourceSample {
    ResourceSample {
        power_watts: None,
        components: power
            .iter()
            .map(|&(component, w)| ComponentReading {
                component,
                energy_joules: None,
                power_watts: Some(w),
            })
            .collect(),
        estimated: true,
        ..utilisation(0.3, at)
    }
}

#[tokio::test]
async fn an_m5_xlarge_priced_whole_by_hand() {
    let runtime = runtime();
    let plugin =
        carbonaut_plugins::load_file(&runtime, &crate::support::plugin_dir().join("ccf.wasm"))
            .await
            .expect("ccf loads");
    let info = m5_xlarge();
    let now = carbonaut_model::clock::now_ms();
    let sample = utilisation(0.3, now);
    let estimates = plugin
        .estimate(&Grants::NONE, &vec![], &[(&info, Some(&sample))])
        .await
        .expect("estimate")
        .into_items();
    assert_eq!(estimates.len(), 1, "{estimates:?}");
    let e = &estimates[0];
    let watts = |c: Component| {
        e.power
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(f64::NAN, |(_, w)| *w)
    };
    let embodied = e.embodied.expect("m5.xlarge is in the embodied table");
    check(&[
        Case {
            name: "Teads CPU at 30 %",
            actual: watts(Component::Cpu),
            expected: CPU_AT_30,
        },
        Case {
            name: "Teads memory at 30 %",
            actual: watts(Component::Dram),
            expected: DRAM_AT_30,
        },
        Case {
            name: "rest of the machine",
            actual: watts(Component::Other),
            expected: OTHER,
        },
        Case {
            name: "TE",
            actual: embodied.machine_grams,
            expected: MACHINE_GRAMS,
        },
        Case {
            name: "RR/ToR",
            actual: embodied.share,
            expected: SHARE,
        },
    ]);
    assert!(watts(Component::Gpu).is_nan(), "no GPU on an m5");

    // The host's counters: the model's power for 60 s at AWS's PUE 1.135 and 380 g/kWh.
    let power = [
        (Component::Cpu, CPU_AT_30),
        (Component::Dram, DRAM_AT_30),
        (Component::Other, OTHER),
    ];
    let mut c = Counters::default();
    c.advance(&modelled(&power, now), Some(380.0), 1e5, 1.135)
        .expect("first");
    c.advance(&modelled(&power, now + 60_000), Some(380.0), 1e5, 1.135)
        .expect("second");
    let it = (CPU_AT_30 + DRAM_AT_30 + OTHER) * 60.0; // 21.1 W × 60 s = 1 266 J
    // M per hour = TE × RR/ToR / EL; one hour watched.
    let per_hour = MACHINE_GRAMS * SHARE / 35_040.0; // 67 116.25 g / 35 040 h = 1.915 418 g
    c.advance_embodied(per_hour, now, 3_600_000);
    c.advance_embodied(per_hour, now + 3_600_000, 3_600_000);
    check(&[
        Case {
            name: "IT energy",
            actual: c.energy_joules_total,
            expected: it,
        },
        Case {
            name: "CPU energy",
            actual: c.component_joules(Component::Cpu),
            expected: CPU_AT_30 * 60.0,
        },
        Case {
            name: "facility energy (PUE 1.135)",
            actual: c.facility_joules_total(),
            expected: it * 1.135,
        },
        Case {
            name: "operational emissions",
            actual: c.emissions_grams_total,
            expected: it * 1.135 / 3.6e6 * 380.0,
        },
        Case {
            name: "embodied, one hour",
            actual: c.embodied_grams_total().unwrap_or(f64::NAN),
            expected: 1_610_790.0 / 24.0 / 35_040.0,
        },
    ]);
}

#[test]
fn gpu_energy_across_a_counter_reset_and_project_totals() {
    let gpu = |joules: f64, at: u64| ResourceSample {
        components: vec![ComponentReading {
            component: Component::Gpu,
            energy_joules: Some(joules),
            power_watts: None,
        }],
        ..utilisation(0.5, at)
    };
    // 1 000 J, then the counter resets and reads 250 J: 1 000 + 250 J, never negative.
    let mut a = Counters::default();
    for (joules, at) in [(40_000.0, 0), (41_000.0, 10_000), (250.0, 20_000)] {
        a.advance(&gpu(joules, at), Some(100.0), 1e5, 1.0)
            .expect("counted");
    }
    a.advance_embodied(1.25, 0, 3_600_000);
    a.advance_embodied(1.25, 3_600_000, 3_600_000);
    let mut b = Counters::default();
    b.advance_embodied(2.5, 0, 3_600_000);
    b.advance_embodied(2.5, 3_600_000, 3_600_000);
    let mut project = Totals::default();
    project.add(Totals::of(&a));
    project.add(Totals::of(&b));
    check(&[
        Case {
            name: "GPU energy",
            actual: a.component_joules(Component::Gpu),
            expected: 1_250.0,
        },
        Case {
            name: "energy",
            actual: a.energy_joules_total,
            expected: 1_250.0,
        },
        Case {
            name: "emissions",
            actual: a.emissions_grams_total,
            expected: 1_250.0 / 3.6e6 * 100.0,
        },
        Case {
            name: "project embodied",
            actual: project.embodied_grams(),
            expected: 1.25 + 2.5,
        },
        Case {
            name: "project energy",
            actual: project.energy_joules(),
            expected: 1_250.0,
        },
    ]);
}
