//! The live grid providers (electricity-maps, watttime) against a loopback server that answers
//! with the documented response shapes in `tests/fixtures/grid/`: figures mapped exactly,
//! answers cached in the key-value store, WattTime's token kept and renewed, every failure
//! reported as the right provider error, and an origin the operator did not allow refused by
//! the host. The example configs pass `check-config`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use carbonaut_model::{EmissionFactorType, EnergySource, Location, LocationQuery, ProviderError};
use carbonaut_plugins::{CallError, Plugin, load_file};
use carbonaut_runtime::{Grants, Limits, Runtime};

use crate::fake_api::{Reply, Upstream, reply};
use crate::support::*;

mod electricity_maps;
mod partial_plan;
mod watttime;

use electricity_maps::{electricity_maps, electricity_maps_upstream, em_settings};
use watttime::wt_settings;

const ELECTRICITY_MAPS: &str = env!("CARBONAUT_GUEST_ELECTRICITY_MAPS");
const WATTTIME: &str = env!("CARBONAUT_GUEST_WATTTIME");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/grid/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(name)).expect("fixture JSON")
}

/// A runtime with the key-value store on a temporary sled tree, which the test can inspect.
fn runtime_with_store() -> (Arc<Runtime>, sled::Tree) {
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let tree = db.open_tree("kv").expect("tree");
    let mut runtime = carbonaut_plugins::new_runtime(Limits::default()).expect("runtime");
    runtime.enable_key_value(tree.clone());
    (Arc::new(runtime), tree)
}

fn grants(upstream: &Upstream, namespace: &str) -> Grants {
    Grants {
        http: vec![upstream.origin().parse().expect("origin")],
        key_value: Some(namespace.into()),
        ..Grants::NONE
    }
}

fn query(id: &str, country: Option<&str>, zone: Option<&str>) -> LocationQuery {
    LocationQuery {
        id: id.into(),
        location: Location {
            cloud: None,
            grid_zone: None,
            country: country.map(Into::into),
            region: None,
            zone: None,
            coordinates: None,
        },
        grid_zone: zone.map(Into::into),
    }
}

fn guest_error<T: std::fmt::Debug>(result: Result<T, CallError>) -> ProviderError {
    let err = result.expect_err("the call fails");
    err.provider_error()
        .cloned()
        .unwrap_or_else(|| panic!("{err}"))
}

// ---------------------------------------------------------------- Electricity Maps

/// Answers both endpoints for zone DE from the fixtures, and 404 for any other zone.

#[tokio::test]
async fn an_origin_the_operator_did_not_allow_is_refused_by_the_host() {
    let upstream = electricity_maps_upstream();
    let (runtime, _tree) = runtime_with_store();
    let allowed_elsewhere = Grants {
        http: vec!["https://api.electricitymap.org".parse().expect("origin")],
        key_value: Some("em".into()),
        ..Grants::NONE
    };
    let err = electricity_maps(&runtime)
        .await
        .collect_energy_mix(
            &allowed_elsewhere,
            &em_settings(&upstream, "300"),
            &[query("a", Some("DE"), None)],
        )
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), "denied", "{err}");
    assert!(
        err.to_string().contains(&upstream.addr.to_string()),
        "{err}"
    );
    assert!(upstream.seen().is_empty(), "nothing left the sandbox");

    let wt = load_file(&runtime, WATTTIME.as_ref())
        .await
        .expect("watttime");
    let err = wt
        .collect_energy_mix(
            &Grants {
                key_value: Some("wt".into()),
                ..Grants::NONE
            },
            &wt_settings(&upstream, "300"),
            &[query("a", None, Some("CAISO_NORTH"))],
        )
        .await
        .expect_err("refused");
    assert_eq!(err.reason(), "denied", "{err}");
    assert!(upstream.seen().is_empty());
}

/// `carbonaut check-config` on an example: it passes with `var` set and names `var` without.
fn example_needs(name: &str, var: &str) {
    let checked = check_example(name, &[(var, Some("from-the-environment"))]);
    assert!(
        checked.ok && checked.stdout.contains(": ok ("),
        "{name}: {}{}",
        checked.stdout,
        checked.stderr
    );
    let checked = check_example(name, &[(var, None)]);
    assert!(!checked.ok, "{name} loads without {var}");
    assert!(checked.stderr.contains(var), "{}", checked.stderr);
}

#[test]
fn the_electricity_maps_example_passes_check_config() {
    example_needs("electricity-maps.toml", "ELECTRICITY_MAPS_TOKEN");
}

#[test]
fn the_watttime_example_passes_check_config() {
    example_needs("watttime.toml", "WATTTIME_PASSWORD");
}
