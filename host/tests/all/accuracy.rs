//! The accuracy suite: hand-computed cases, each with its arithmetic beside it, against the
//! numbers the host (and the plugins, where they do the arithmetic) produce. Every figure must
//! match to a relative 1e-9. Plugin figures come from linux-host reading the fixture machine of
//! `linux_host.rs` (4 vCPUs; /proc/stat 10000 ticks, 8500 idle); the host's from
//! `carbonaut::state` (counter deltas, power integration, emissions).
//!
//! The unit conversion lbs/MWh → g/kWh (× 453.59237 g/lb ÷ 1000 kWh/MWh) is done by the
//! watttime plugin, so its cases go through it and a fake WattTime. µW/µJ (Scaphandre) are
//! checked in `prometheus_ingest`, kB/KiB quantities in `kubernetes`.

use carbonaut_model::ResourceSample;
use carbonaut_store::state::{Counters, LastReading, emissions_grams, energy_delta_joules};

use crate::linux_host::Machine;

mod footprint;

const RELATIVE: f64 = 1e-9;

/// One row of the table.
struct Case {
    name: &'static str,
    actual: f64,
    expected: f64,
}

fn check(table: &[Case]) {
    let wrong: Vec<String> = table
        .iter()
        // A NaN (a missing figure) is never within the tolerance, so it counts as wrong.
        .filter(|c| {
            let error = (c.actual - c.expected).abs();
            error.is_nan() || error > RELATIVE * c.expected.abs().max(1e-300)
        })
        .map(|c| format!("{}: got {}, expected {}", c.name, c.actual, c.expected))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A sample as the host sees it, at a chosen time (the plugin stamps the wall clock, which a
/// test cannot pin; the arithmetic under test does not depend on it beyond the interval).
fn at(sample: &ResourceSample, read_at: u64) -> ResourceSample {
    ResourceSample {
        components: Vec::new(),
        read_at,
        ..sample.clone()
    }
}

fn power(watts: f64, read_at: u64) -> ResourceSample {
    ResourceSample {
        components: Vec::new(),
        resource_id: "r".into(),
        energy_joules: None,
        power_watts: Some(watts),
        cpu_frequency_hertz: None,
        cpu_utilization_ratio: None,
        read_at,
        estimated: false,
    }
}

/// Energy the host's counters add for a sequence of samples.
fn host_joules(samples: &[ResourceSample]) -> f64 {
    let mut counters = Counters::default();
    for s in samples {
        counters
            .advance(s, None, 1e9, 1.0)
            .expect("a plausible reading");
    }
    counters.energy_joules_total
}

#[tokio::test]
async fn rapl_deltas_with_and_without_a_wrap_through_the_plugin_and_the_host() {
    let m = Machine::new(true).await;
    let grants = m.everything();
    let s1 = m.sample(&grants, &[]).await;
    m.write("powercap/intel-rapl:0/energy_uj", "1060000000\n");
    m.write("powercap/intel-rapl:1/energy_uj", "2530000000\n");
    let s2 = m.sample(&grants, &[]).await;
    // Package 0 near its maximum, then across the wrap.
    m.write("powercap/intel-rapl:0/energy_uj", "262100000000\n");
    let s3 = m.sample(&grants, &[]).await;
    m.write("powercap/intel-rapl:0/energy_uj", "56671150\n");
    m.write("powercap/intel-rapl:1/energy_uj", "2550000000\n");
    let s4 = m.sample(&grants, &[]).await;
    let energy = |s: &ResourceSample| s.energy_joules.expect("an energy counter");
    let host = |a: &ResourceSample, b: &ResourceSample| {
        energy_delta_joules(
            Some(&LastReading {
                energy_joules: a.energy_joules,
                power_watts: a.power_watts,
                read_at_ms: 0,
            }),
            &at(b, 10_000),
        )
        .expect("a delta")
    };

    check(&[
        Case {
            // (1000000000 + 2500000000) µJ / 1e6 µJ per J
            name: "µJ → J: the two packages' raw sum at the first reading",
            actual: energy(&s1),
            expected: 3500.0,
        },
        Case {
            // (1060000000 - 1000000000) + (2530000000 - 2500000000) = 90000000 µJ
            name: "RAPL delta without a wrap (host, from the plugin's counter)",
            actual: host(&s1, &s2),
            expected: 90.0,
        },
        Case {
            // 262100000000 - 1060000000 = 261040000000 µJ
            name: "RAPL delta up to just below the maximum",
            actual: host(&s2, &s3),
            expected: 261_040.0,
        },
        Case {
            // (262143328850 - 262100000000 + 56671150) + (2550000000 - 2530000000)
            // = 100000000 + 20000000 µJ
            name: "RAPL delta across a wrap at max_energy_range_uj",
            actual: host(&s3, &s4),
            expected: 120.0,
        },
        Case {
            // 90 + 261040 + 120 J over four samples 10 s apart.
            name: "the host's total over the four samples",
            actual: host_joules(&[
                at(&s1, 0),
                at(&s2, 10_000),
                at(&s3, 20_000),
                at(&s4, 30_000),
            ]),
            expected: 261_250.0,
        },
    ]);
}

#[tokio::test]
async fn power_integrated_over_uneven_intervals_and_the_min_max_estimate() {
    let m = Machine::new(true).await;
    // No powercap granted: the estimate.
    let grants = m.grants(&[("proc", "/proc")]);
    let aws = [("pue", "1.135")];
    let e1 = m.sample(&grants, &aws).await;
    // 1000 ticks later, 600 of them idle or iowait: utilisation 0.4.
    m.write("proc/stat", "cpu  1300 0 600 8550 550 0 0 0 0 0\n");
    let e2 = m.sample(&grants, &aws).await;
    let watts = |s: &ResourceSample| s.power_watts.expect("an estimated power");

    check(&[
        Case {
            // Since boot: 1 - 8500/10000 = 0.15; 4 × (0.74 + 0.15 × (3.5 - 0.74)) × 1.135
            // = 4 × 1.154 × 1.135 = 5.23916 W
            name: "min/max-watts estimate at the since-boot utilisation, PUE 1.135",
            actual: watts(&e1),
            expected: 5.23916,
        },
        Case {
            // 4 × (0.74 + 0.4 × 2.76) × 1.135 = 4 × 1.844 × 1.135 = 8.37176 W
            name: "min/max-watts estimate at utilisation 0.4, PUE 1.135",
            actual: watts(&e2),
            expected: 8.37176,
        },
        Case {
            // Trapezoid: (5.23916 + 8.37176) / 2 W × 12.5 s = 6.80546 × 12.5 = 85.06825 J
            name: "estimated power integrated by the host over 12.5 s",
            actual: host_joules(&[at(&e1, 1_000), at(&e2, 13_500)]),
            expected: 85.06825,
        },
        Case {
            // 100 W → 160 W over 2.5 s: 130 × 2.5 = 325 J; 160 W → 40 W over 7.25 s:
            // 100 × 7.25 = 725 J; 40 W → 40 W over 0.001 s: 0.04 J. 325 + 725 + 0.04
            name: "power integrated over uneven intervals (2.5 s, 7.25 s, 1 ms)",
            actual: host_joules(&[
                power(100.0, 0),
                power(160.0, 2_500),
                power(40.0, 9_750),
                power(40.0, 9_751),
            ]),
            expected: 1050.04,
        },
        Case {
            // One hour at 8.37176 W: 8.37176 × 3600 J = 30138.336 J;
            // / 3.6e6 J per kWh = 0.00837176 kWh; at 1 g/kWh that is 0.00837176 g.
            name: "J → kWh: an hour of the estimate",
            actual: emissions_grams(watts(&e2) * 3600.0, 1.0),
            expected: 0.00837176,
        },
    ]);
}

#[test]
fn emissions_are_kwh_times_intensity() {
    // Energy measured before any intensity is known waits, then is priced at the first one.
    let mut counters = Counters::default();
    let reading = |joules: f64, at: u64| ResourceSample {
        components: Vec::new(),
        energy_joules: Some(joules),
        power_watts: None,
        ..power(0.0, at)
    };
    for (sample, intensity) in [
        (reading(0.0, 0), None),
        (reading(900_000.0, 1_000), None),
        (reading(2_700_000.0, 2_000), Some(250.0)),
    ] {
        counters
            .advance(&sample, intensity, 1e9, 1.0)
            .expect("a plausible reading");
    }

    check(&[
        Case {
            // 3.6e6 J = 1 kWh; × 1 g/kWh
            name: "J → kWh",
            actual: emissions_grams(3.6e6, 1.0),
            expected: 1.0,
        },
        Case {
            // 1.8e6 J = 0.5 kWh; × 381 g/kWh = 190.5 g
            name: "emissions of half a kWh at 381 g/kWh",
            actual: emissions_grams(1.8e6, 381.0),
            expected: 190.5,
        },
        Case {
            // 120 J (the wrap case) = 120 / 3.6e6 kWh = 3.3333…e-5 kWh; × 400 g/kWh = 1/75 g
            name: "emissions of the RAPL wrap interval at 400 g/kWh",
            actual: emissions_grams(120.0, 400.0),
            expected: 1.0 / 75.0,
        },
        Case {
            // 900000 J unpriced, then 1800000 J more: 2.7e6 J = 0.75 kWh × 250 g/kWh = 187.5 g
            name: "energy held until an intensity is known, then priced",
            actual: counters.emissions_grams_total,
            expected: 187.5,
        },
        Case {
            name: "the total energy behind it",
            actual: counters.energy_joules_total,
            expected: 2.7e6,
        },
    ]);
}

/// lbs/MWh → g/kWh, through the watttime plugin (the only place the conversion is done):
/// a fake WattTime answers each region's forecast with its own value.
#[tokio::test]
async fn lbs_per_mwh_become_grams_per_kwh_through_watttime() {
    use crate::fake_api::{Upstream, reply};
    use carbonaut_model::{Location, LocationQuery};
    use carbonaut_runtime::{Grants, Limits};

    // Region → lbs CO2 per MWh.
    const VALUES: [(&str, f64); 3] = [("ONE", 1.0), ("TYPICAL", 950.0), ("ODD", 1234.567)];
    let upstream = Upstream::start(|seen| match seen.path.as_str() {
        "/login" => reply(200, r#"{"token": "t"}"#.to_owned()),
        "/v3/forecast" => {
            let region = seen.query.get("region").cloned().unwrap_or_default();
            let value = VALUES
                .iter()
                .find(|(r, _)| *r == region)
                .map_or(0.0, |v| v.1);
            reply(
                200,
                serde_json::json!({
                    "data": [{"point_time": "2024-05-21T14:05:00+00:00", "value": value}],
                    "meta": {"region": region, "signal_type": "co2_moer", "units": "lbs_co2_per_mwh"}
                })
                .to_string(),
            )
        }
        _ => reply(404, String::new()),
    });
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    runtime.enable_key_value(db.open_tree("kv").expect("tree"));
    let runtime = std::sync::Arc::new(runtime);
    let plugin = carbonaut_plugins::load_file(&runtime, env!("CARBONAUT_GUEST_WATTTIME").as_ref())
        .await
        .expect("watttime loads");
    let grants = Grants {
        http: vec![upstream.origin().parse().expect("origin")],
        key_value: Some("wt".into()),
        ..Grants::NONE
    };
    let queries: Vec<LocationQuery> = VALUES
        .iter()
        .map(|(region, _)| LocationQuery {
            id: (*region).to_owned(),
            location: Location {
                cloud: None,
                grid_zone: None,
                country: None,
                region: None,
                zone: None,
                coordinates: None,
            },
            grid_zone: Some((*region).to_owned()),
        })
        .collect();
    let settings = crate::support::settings(&[
        ("username", "user"),
        ("password", "secret"),
        ("base_url", &upstream.origin()),
    ]);
    let mixes = plugin
        .collect_energy_mix(&grants, &settings, &queries)
        .await
        .expect("mixes");
    let intensity = |region: &str| {
        mixes
            .iter()
            .find(|m| m.location_id == region)
            .map_or(f64::NAN, |m| m.carbon_intensity)
    };
    check(&[
        Case {
            // 1 lb = 453.59237 g (exact, by definition); 1 MWh = 1000 kWh → × 0.45359237
            name: "1 lbs/MWh",
            actual: intensity("ONE"),
            expected: 0.453_592_37,
        },
        Case {
            // 950 × 0.45359237 = 430.9127515
            name: "950 lbs/MWh",
            actual: intensity("TYPICAL"),
            expected: 430.912_751_5,
        },
        Case {
            // 1234.567 × 0.45359237 = 1234.567 × 0.45 + 1234.567 × 0.00359237
            //                       = 555.55515 + 4.43502145379 = 559.99017145379
            name: "1234.567 lbs/MWh",
            actual: intensity("ODD"),
            expected: 559.990_171_453_79,
        },
    ]);
}
