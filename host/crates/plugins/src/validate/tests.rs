//! Unit tests of the boundary checks: one per rule in `docs/plugin-authors.md`.

use super::*;
use carbonaut_model::{
    Component, ComponentReading, EmissionFactorType, EnergySource, ForecastPoint, Hardware,
    ResourceKind, SourceShare,
};

const NOW: u64 = 1_780_000_000_000;

fn rules() -> Rules {
    Rules {
        now_ms: NOW,
        max_power_watts: 10_000.0,
    }
}

fn resource(id: &str) -> ResourceInfo {
    ResourceInfo {
        id: id.into(),
        name: id.into(),
        kind: ResourceKind::Vm,
        location: Location::default(),
        hardware: Hardware::default(),
        labels: vec![],
    }
}

fn sample(id: &str, energy: Option<f64>, power: Option<f64>, at: u64) -> ResourceSample {
    ResourceSample {
        resource_id: id.into(),
        energy_joules: energy,
        power_watts: power,
        cpu_frequency_hertz: None,
        cpu_utilization_ratio: None,
        read_at: at,
        estimated: false,
        components: vec![],
    }
}

fn mix(id: &str, intensity: f64, shares: &[(EnergySource, f64)]) -> EnergyMix {
    EnergyMix {
        location_id: id.into(),
        carbon_intensity: intensity,
        emission_factor: EmissionFactorType::Lifecycle,
        shares: shares
            .iter()
            .map(|&(source, ratio)| SourceShare { source, ratio })
            .collect(),
        valid_at: NOW,
        estimated: false,
        zone: None,
    }
}

fn query(id: &str) -> LocationQuery {
    LocationQuery {
        id: id.into(),
        location: Location::default(),
        grid_zone: None,
    }
}

#[test]
fn absurd_numbers_are_dropped_and_counted() {
    let asked: Vec<_> = ["a", "b", "c", "d", "e", "f", "g"].map(resource).into();
    let list = vec![
        sample("a", None, Some(8e307), NOW),
        sample("b", Some(f64::NAN), None, NOW),
        sample("c", Some(-1.0), None, NOW),
        sample("d", None, Some(f64::INFINITY), NOW),
        sample("e", Some(1.7e308), None, NOW),
        sample("f", None, Some(-3.0), NOW),
        sample("g", Some(10.0), Some(250.0), NOW),
    ];
    let checked = samples(list, &asked, &rules());
    assert_eq!(checked.items.len(), 1);
    assert_eq!(checked.items[0].resource_id, "g");
    assert_eq!(checked.rejected.count(Reason::Power), 3);
    assert_eq!(checked.rejected.count(Reason::Energy), 3);
}

#[test]
fn bad_cpu_figures_drop_only_their_field() {
    let mut s = sample("a", Some(1.0), None, NOW);
    s.cpu_utilization_ratio = Some(7.0);
    s.cpu_frequency_hertz = Some(-2e9);
    let checked = samples(vec![s], &[resource("a")], &rules());
    assert_eq!(checked.items.len(), 1);
    assert_eq!(checked.items[0].cpu_utilization_ratio, None);
    assert_eq!(checked.items[0].cpu_frequency_hertz, None);
    assert_eq!(checked.items[0].energy_joules, Some(1.0));
    assert_eq!(checked.rejected.count(Reason::Utilization), 1);
    assert_eq!(checked.rejected.count(Reason::Frequency), 1);
}

#[test]
fn times_outside_the_window_are_refused() {
    let year_2200 = 7_258_118_400_000;
    let asked = [resource("a"), resource("b"), resource("c")];
    let checked = samples(
        vec![
            sample("a", None, Some(100.0), year_2200),
            sample("b", None, Some(100.0), 0),
            sample("c", None, Some(100.0), NOW + 60_000),
        ],
        &asked,
        &rules(),
    );
    assert_eq!(checked.items.len(), 1, "a minute of clock skew passes");
    assert_eq!(checked.rejected.count(Reason::TimestampFuture), 1);
    assert_eq!(checked.rejected.count(Reason::TimestampPast), 1);
}

#[test]
fn one_sample_per_resource_and_only_resources_asked_about() {
    let checked = samples(
        vec![
            sample("a", Some(5.0), None, NOW),
            sample("a", Some(0.0), None, NOW + 1),
            sample("a", Some(5.0), None, NOW + 2),
            sample("zzz", Some(5.0), None, NOW),
        ],
        &[resource("a")],
        &rules(),
    );
    assert_eq!(checked.items, vec![sample("a", Some(5.0), None, NOW)]);
    assert_eq!(checked.rejected.count(Reason::Duplicate), 2);
    assert_eq!(checked.rejected.count(Reason::NotAsked), 1);
}

#[test]
fn ids_must_be_unique_and_clean() {
    let checked = resources(vec![
        resource("x"),
        resource("x"),
        resource("x\0y"),
        resource(""),
        resource(&"l".repeat(MAX_ID_BYTES + 1)),
        resource("y"),
    ]);
    let ids: Vec<_> = checked.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["x", "y"]);
    assert_eq!(checked.rejected.count(Reason::DuplicateId), 1);
    assert_eq!(checked.rejected.count(Reason::InvalidId), 3);
    let projects = projects(vec![
        Project {
            id: "N".into(),
            name: "n".into(),
            labels: vec![],
        },
        Project {
            id: "N".into(),
            name: "again".into(),
            labels: vec![],
        },
    ]);
    assert_eq!(projects.items.len(), 1);
    assert_eq!(projects.items[0].name, "n", "the first listing wins");
}

#[test]
fn strings_and_labels_are_bounded() {
    let mut r = resource("r");
    r.name = format!("evil\nname{}", "x".repeat(1000));
    r.labels = (0..100)
        .map(|i| (format!("k{i}"), "v".repeat(200)))
        .collect();
    r.labels.push(("k0".into(), "again".into()));
    r.location.country = Some("Germany".into());
    r.location.coordinates = Some(carbonaut_model::Coordinates {
        latitude: f64::NAN,
        longitude: 0.0,
    });
    let checked = resources(vec![r]);
    let r = &checked.items[0];
    assert!(
        r.name.len() <= MAX_TEXT_BYTES && !r.name.contains('\n'),
        "{}",
        r.name
    );
    assert!(r.labels.len() <= MAX_LABELS);
    let bytes: usize = r.labels.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(bytes <= MAX_LABEL_BYTES);
    assert_eq!(r.labels.iter().filter(|(k, _)| k == "k0").count(), 1);
    assert_eq!(r.location.country, None);
    assert_eq!(r.location.coordinates, None);
    assert_eq!(checked.rejected.count(Reason::Labels), 1);
    assert_eq!(checked.rejected.count(Reason::Location), 2);
}

#[test]
fn mixes_are_checked_for_range_shares_and_duplicates() {
    use EnergySource::*;
    let asked = [
        query("DE"),
        query("FR"),
        query("PL"),
        query("ES"),
        query("IT"),
    ];
    let mut repeated = mix("IT", 300.0, &[]);
    repeated.shares = (0..300_000)
        .map(|i| SourceShare {
            source: [Coal, Gas, Wind, Solar, Hydro, Nuclear][i % 6],
            ratio: 1.0 / 6.0,
        })
        .collect();
    let checked = mixes(
        vec![
            mix("DE", 350.0, &[(Coal, 0.3), (Wind, 0.7)]),
            mix("DE", 999.0, &[]),
            mix("FR", 1.7e308, &[]),
            mix("PL", f64::NAN, &[]),
            mix("ES", 150.0, &[(Solar, 1.5), (Gas, -0.5)]),
            repeated,
            mix("XX", 100.0, &[]),
        ],
        &asked,
        &rules(),
    );
    let kept: Vec<_> = checked
        .items
        .iter()
        .map(|m| (m.location_id.as_str(), m.shares.len()))
        .collect();
    assert_eq!(kept, [("DE", 2), ("ES", 0), ("IT", 0)]);
    assert_eq!(checked.rejected.count(Reason::Duplicate), 1);
    assert_eq!(checked.rejected.count(Reason::Intensity), 2);
    assert_eq!(checked.rejected.count(Reason::Shares), 2);
    assert_eq!(checked.rejected.count(Reason::NotAsked), 1);
}

#[test]
fn metadata_names_must_be_plain() {
    let good = PluginMetadata {
        name: "mock-cloud".into(),
        version: "0.2.0".into(),
        description: "line\nbreak".into(),
        kinds: vec![],
        settings: vec![],
        needs: Default::default(),
    };
    let checked = metadata(good.clone()).expect("accepted");
    assert_eq!(checked.description, "line\\nbreak");
    for bad_name in ["", "evil\nplugin loaded", "a b", &"n".repeat(65)] {
        let m = PluginMetadata {
            name: bad_name.into(),
            ..good.clone()
        };
        assert!(metadata(m).is_err(), "{bad_name:?}");
    }
    let m = PluginMetadata {
        version: "1.0\n2".into(),
        ..good
    };
    assert!(metadata(m).is_err());
}

#[test]
fn an_answer_for_another_zone_is_refused() {
    let mut asked = query("q");
    asked.grid_zone = Some("DE".into());
    let mut by_country = query("c");
    by_country.location.country = Some("FR".into());
    let mut wrong = mix("q", 300.0, &[]);
    wrong.zone = Some("PL".into());
    let mut right = mix("c", 50.0, &[]);
    right.zone = Some("FR".into());
    let checked = mixes(vec![wrong.clone()], &[asked.clone()], &rules());
    assert!(checked.is_empty());
    assert_eq!(checked.rejected().count(Reason::WrongZone), 1);
    // The same zone in other case is the zone asked; the country is what a query without a
    // grid zone is asked as; an answer naming no zone cannot be told wrong.
    wrong.zone = Some("de".into());
    let mut unnamed = mix("u", 10.0, &[]);
    unnamed.zone = None;
    let checked = mixes(
        vec![wrong, right, unnamed],
        &[asked, by_country, query("u")],
        &rules(),
    );
    assert_eq!(checked.len(), 3);
    let mut elsewhere = mix("c", 50.0, &[]);
    elsewhere.zone = Some("US-CAL-CISO".into());
    let mut fr = query("c");
    fr.location.country = Some("FR".into());
    assert_eq!(
        mixes(vec![elsewhere], &[fr], &rules())
            .rejected()
            .count(Reason::WrongZone),
        1
    );
}

#[test]
fn component_readings_are_checked_like_the_total() {
    let asked: Vec<_> = ["a", "b", "c"].map(resource).into();
    let reading = |component, energy, power| ComponentReading {
        component,
        energy_joules: energy,
        power_watts: power,
    };
    let mut a = sample("a", None, None, NOW);
    a.components = vec![
        reading(Component::Cpu, Some(10.0), None),
        reading(Component::Gpu, None, Some(300.0)),
    ];
    let mut b = sample("b", None, None, NOW);
    b.components = vec![
        reading(Component::Gpu, Some(1.0), None),
        reading(Component::Gpu, Some(2.0), None),
    ];
    let mut c = sample("c", None, None, NOW);
    c.components = vec![reading(Component::Dram, None, Some(f64::NAN))];
    let checked = samples(vec![a.clone(), b, c], &asked, &rules());
    assert_eq!(checked.into_items(), vec![a]);
}

fn estimate(id: &str, power: &[(Component, f64)], embodied: Option<EmbodiedShare>) -> Estimate {
    Estimate {
        resource_id: id.into(),
        power: power.to_vec(),
        embodied,
        basis: "test".into(),
    }
}

#[test]
fn estimates_are_bounded_and_impossible_embodied_shares_dropped() {
    let infos: Vec<_> = ["a", "b", "c", "d"].map(resource).into();
    let asked: Vec<&ResourceInfo> = infos.iter().collect();
    let share = |g: f64, s: f64| EmbodiedShare {
        machine_grams: g,
        share: s,
        lifetime_hours: None,
    };
    let list = vec![
        estimate(
            "a",
            &[(Component::Cpu, 20.0)],
            Some(share(1.2345e6, 4.0 / 96.0)),
        ),
        estimate(
            "b",
            &[(Component::Cpu, 9_000.0), (Component::Gpu, 2_000.0)],
            None,
        ),
        estimate("c", &[(Component::Cpu, 1.0)], Some(share(1e6, 1.5))),
        estimate("d", &[(Component::Cpu, 1.0), (Component::Cpu, 2.0)], None),
        estimate("zz", &[], None),
    ];
    let checked = estimates(list, &asked, &rules());
    let rejected = checked.rejected().clone();
    let items = checked.into_items();
    assert_eq!(
        items
            .iter()
            .map(|e| e.resource_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert!(items[0].embodied.is_some());
    assert_eq!(items[1].embodied, None, "a share above 1 is dropped");
    assert_eq!(
        rejected.count(Reason::Power),
        1,
        "11 kW above the 10 kW limit"
    );
    assert_eq!(rejected.count(Reason::Embodied), 1);
    assert_eq!(rejected.count(Reason::Duplicate), 1);
    assert_eq!(rejected.count(Reason::NotAsked), 1);
}

#[test]
fn forecasts_must_be_in_order_and_in_range() {
    let point = |at: u64, g: f64| ForecastPoint {
        starts_at: at,
        duration_ms: 3_600_000,
        carbon_intensity: g,
    };
    let forecast = |id: &str, points: Vec<ForecastPoint>| IntensityForecast {
        location_id: id.into(),
        zone: None,
        emission_factor: EmissionFactorType::Lifecycle,
        generated_at: NOW,
        points,
    };
    let good = forecast("a", vec![point(NOW, 100.0), point(NOW + 3_600_000, 90.0)]);
    let overlapping = forecast("b", vec![point(NOW, 100.0), point(NOW + 60_000, 90.0)]);
    let absurd = forecast("c", vec![point(NOW, -5.0)]);
    let checked = forecasts(
        vec![good.clone(), overlapping, absurd],
        &[query("a"), query("b"), query("c")],
        &rules(),
    );
    assert_eq!(checked.rejected().count(Reason::Forecast), 2);
    assert_eq!(checked.into_items(), vec![good]);

    // More points than four weeks of quarter hours: refused, not kept per location.
    let endless = forecast(
        "d",
        (0..=MAX_FORECAST_POINTS as u64)
            .map(|i| point(NOW + i * 3_600_000, 100.0))
            .collect(),
    );
    let checked = forecasts(vec![endless], &[query("d")], &rules());
    assert_eq!(checked.rejected().count(Reason::Forecast), 1);
}
