//! Property tests with a seeded generator (repeatable, no extra dependency): mutated configs
//! never panic the parser and every error points inside the file; random API requests never
//! get a 500 nor panic a handler.

use std::path::Path;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

use carbonaut::api::app;
use carbonaut::config::{Config, ConfigError};

use crate::collection::harness;
use crate::support::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const QUICKSTART: &str = include_str!("../../../examples/quickstart.toml");
const PIECES: &[&str] = &[
    "[", "]", "=", "\"", "{", "}", ",", "\n", "#", "${", "}", "x", "0", "-1", "[[", "]]", ".", "'",
    "\\", "é", "\u{0}",
];

#[test]
fn mutated_configs_are_refused_with_positions_inside_the_file() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for _ in 0..3000 {
        let mut text = QUICKSTART.to_owned();
        for _ in 0..1 + rng.below(4) {
            let mut at = rng.below(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match rng.below(3) {
                0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                1 => {
                    let mut end = (at + 1 + rng.below(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                }
                _ => {
                    let mut end = (at + 1).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, PIECES[rng.below(PIECES.len())]);
                }
            }
        }
        let lines = text.lines().count() + 1;
        if let Err(errors) = Config::parse(&text, "x.toml", Path::new("."), &|_| None) {
            for error in errors.iter() {
                let ConfigError::Invalid { .. } = error else {
                    panic!("unexpected error kind: {error}")
                };
                let position = error.position().expect("a position");
                assert!(
                    position.line >= 1 && position.line <= lines,
                    "line {} of {lines}: {error}\n{text}",
                    position.line
                );
                assert!(error.to_string().starts_with("x.toml:"), "{error}");
            }
        }
    }
}

#[tokio::test]
async fn random_requests_never_fail_the_server() {
    let h = harness(
        "[providers.cloud]\nplugin = \"mock-cloud\"\n[providers.meter]\nplugin = \"mock-meter\"\n\
         [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
        &[MOCK_CLOUD, MOCK_METER],
    )
    .await;
    let segments = [
        "api",
        "v1",
        "topology",
        "resources",
        "plugins",
        "status",
        "reloads",
        "%2F..",
        "..",
        "mock-cloud",
        "x",
        "",
        "%00",
        "enable",
        "openapi.json",
    ];
    let queries = [
        "",
        "?account=a",
        "?label=",
        "?label==",
        "?label=a=b=c",
        "?project=%ff",
        "?account",
        "?x=1&x=2",
        "?label=%E2%82",
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let depth = 1 + rng.below(5);
        let path: Vec<&str> = (0..depth)
            .map(|_| segments[rng.below(segments.len())])
            .collect();
        let uri = format!("/{}{}", path.join("/"), queries[rng.below(queries.len())]);
        let method = methods[rng.below(methods.len())];
        let Ok(request) = Request::builder()
            .method(method)
            .uri(&uri)
            .body(Body::empty())
        else {
            continue;
        };
        let response = app(h.state.clone())
            .oneshot(request)
            .await
            .expect("response");
        assert!(
            response.status().as_u16() < 500 || response.status().as_u16() == 503,
            "{method} {uri}: {}",
            response.status()
        );
    }
}

/// Random samples (any f64 bit pattern, any timestamp) through the boundary checks and the
/// counters, stored and read back after every round as a restart would: every stored and
/// served number stays finite and no counter ever goes down.
#[test]
fn random_samples_never_make_a_counter_unfinite_or_go_down() {
    use carbonaut_model::{Hardware, Location, ResourceInfo, ResourceKind, ResourceSample};
    use carbonaut_plugins::validate::{Rules, samples};
    use carbonaut_store::state::{LoadReport, ResourceId, StateStore};

    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let now = carbonaut_model::clock::now_ms();
    let asked: Vec<ResourceInfo> = (0..8)
        .map(|i| ResourceInfo {
            id: format!("r{i}"),
            name: format!("r{i}"),
            kind: ResourceKind::Vm,
            location: Location::default(),
            hardware: Hardware::default(),
            labels: vec![],
        })
        .collect();
    let rules = Rules {
        now_ms: now,
        max_power_watts: 5000.0,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut floor: std::collections::HashMap<ResourceId, (f64, f64)> = Default::default();
    let mut interesting = [
        0.0,
        -0.0,
        1.0,
        1e308,
        -1e308,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e15,
        1e14,
        250.0,
    ]
    .into_iter()
    .cycle();
    for round in 0..200u64 {
        let mut number = |rng: &mut Rng| -> Option<f64> {
            match rng.below(4) {
                0 => None,
                1 => Some(f64::from_bits(rng.next())),
                2 => interesting.next(),
                _ => Some((rng.below(1_000_000) as f64) / 7.0),
            }
        };
        let list: Vec<ResourceSample> = (0..12)
            .map(|_| ResourceSample {
                components: Vec::new(),
                resource_id: format!("r{}", rng.below(10)),
                energy_joules: number(&mut rng),
                power_watts: number(&mut rng),
                cpu_frequency_hertz: number(&mut rng),
                cpu_utilization_ratio: number(&mut rng),
                read_at: match rng.below(4) {
                    0 => rng.next(),
                    1 => now - rng.below(90_000_000) as u64,
                    _ => now + round * 1000 + rng.below(1000) as u64,
                },
                estimated: rng.below(2) == 0,
            })
            .collect();
        let checked = samples(list, &asked, &rules);
        let store = StateStore::reopen(dir.path()).expect("open");
        let mut counters = store
            .load_counters(&mut LoadReport::default())
            .expect("load");
        for s in checked.iter() {
            let id = ResourceId(s.resource_id.as_str().into());
            let c = counters.entry(id).or_default();
            let intensity = (rng.below(2) == 0).then(|| rng.below(5000) as f64);
            let _ = c.advance(s, intensity, rules.max_power_watts, 1.0);
        }
        store
            .save_counters([("fuzz", counters.iter())])
            .expect("save");
        drop(store);
        let store = StateStore::reopen(dir.path()).expect("reopen");
        let mut report = LoadReport::default();
        let loaded = store.load_counters(&mut report).expect("load again");
        assert_eq!(report.quarantined, 0, "round {round}");
        for (id, c) in &loaded {
            for v in [
                c.energy_joules_total,
                c.emissions_grams_total,
                c.unattributed_joules,
            ] {
                assert!(v.is_finite() && v >= 0.0, "round {round}: {id} has {v}");
            }
            let (e, g) = floor.get(id).copied().unwrap_or_default();
            assert!(
                c.energy_joules_total >= e && c.emissions_grams_total >= g,
                "round {round}: {id} went down"
            );
            floor.insert(id.clone(), (c.energy_joules_total, c.emissions_grams_total));
        }
    }
}
