//! The live grid providers (electricity-maps, watttime) against a loopback server that answers
//! with the documented response shapes in `tests/fixtures/grid/`: figures mapped exactly,
//! answers cached in the key-value store, WattTime's token kept and renewed, every failure
//! reported as the right provider error, and an origin the operator did not allow refused by
//! the host. The example configs pass `check-config`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use carbonaut::plugins::{CallError, Plugin, load_file};
use carbonaut::runtime::bindings::{
    EmissionFactorType, EnergyMix, EnergySource, Location, LocationQuery, ProviderError,
};
use carbonaut::runtime::{Grants, Limits, Runtime};

use crate::fake_api::{Reply, Upstream, reply};
use crate::support::*;

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
    let mut runtime = Runtime::new(Limits::default()).expect("runtime");
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
            country: country.map(Into::into),
            region: None,
            zone: None,
            coordinates: None,
        },
        grid_zone: zone.map(Into::into),
    }
}

fn guest_error(result: Result<Vec<EnergyMix>, CallError>) -> ProviderError {
    let err = result.expect_err("the call fails");
    err.provider_error()
        .cloned()
        .unwrap_or_else(|| panic!("{err}"))
}

// ---------------------------------------------------------------- Electricity Maps

/// Answers both endpoints for zone DE from the fixtures, and 404 for any other zone.
fn electricity_maps_upstream() -> Upstream {
    Upstream::start(|seen| {
        if seen.query.get("zone").map(String::as_str) != Some("DE") {
            return reply(404, fixture("em-unknown-zone.json"));
        }
        match seen.path.as_str() {
            // The API answers in the emission factor asked for.
            "/v3/carbon-intensity/latest"
                if seen.query.get("emissionFactorType").map(String::as_str) == Some("direct") =>
            {
                reply(
                    200,
                    fixture("em-carbon-intensity-latest.json")
                        .replace("\"lifecycle\"", "\"direct\"")
                        .replace("302", "255"),
                )
            }
            "/v3/carbon-intensity/latest" => reply(200, fixture("em-carbon-intensity-latest.json")),
            "/v3/power-breakdown/latest" => reply(200, fixture("em-power-breakdown-latest.json")),
            _ => reply(404, String::new()),
        }
    })
}

fn em_settings(upstream: &Upstream, cache_seconds: &str) -> Vec<(String, String)> {
    settings(&[
        ("api_token", "em-secret-token"),
        ("base_url", &upstream.origin()),
        ("cache_seconds", cache_seconds),
    ])
}

async fn electricity_maps(runtime: &Arc<Runtime>) -> Plugin {
    load_file(runtime, ELECTRICITY_MAPS.as_ref())
        .await
        .expect("electricity-maps loads")
}

#[tokio::test]
async fn electricity_maps_maps_intensity_factor_estimate_time_and_consumption_shares() {
    let upstream = electricity_maps_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let mixes = plugin
        .collect_energy_mix(
            &grants(&upstream, "em"),
            &em_settings(&upstream, "300"),
            &[
                query("by-zone", Some("FR"), Some("DE")),
                query("by-country", Some("DE"), None),
                query("nowhere", None, None),
            ],
        )
        .await
        .expect("mixes");

    // Two locations in one zone: one request per endpoint, with the token and the zone.
    let seen = upstream.seen();
    assert_eq!(
        seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["/v3/carbon-intensity/latest", "/v3/power-breakdown/latest"]
    );
    for s in &seen {
        assert_eq!(s.header("auth-token"), Some("em-secret-token"));
        assert_eq!(s.query.get("zone").map(String::as_str), Some("DE"));
        assert_eq!(s.query.len(), 1, "no parameter but the zone: {:?}", s.query);
    }

    assert_eq!(
        mixes
            .iter()
            .map(|m| m.location_id.as_str())
            .collect::<Vec<_>>(),
        ["by-zone", "by-country"],
        "a location without zone or country is left out"
    );
    let mix = &mixes[0];
    assert_eq!(mix.carbon_intensity, 302.0);
    assert_eq!(mix.emission_factor, EmissionFactorType::Lifecycle);
    // 2024-05-21T14:00:00.000Z
    assert_eq!(mix.valid_at, 1_716_300_000_000);
    assert!(
        mix.estimated,
        "the intensity is estimated even though the breakdown is not"
    );
    let share = |source| {
        mix.shares
            .iter()
            .find(|s| s.source == source)
            .map(|s| s.ratio)
    };
    assert_eq!(share(EnergySource::Nuclear), Some(0.1));
    assert_eq!(share(EnergySource::Biomass), Some(0.05));
    assert_eq!(share(EnergySource::Coal), Some(0.2));
    assert_eq!(share(EnergySource::Wind), Some(0.3));
    assert_eq!(share(EnergySource::Solar), Some(0.0));
    assert_eq!(share(EnergySource::Hydro), Some(0.04));
    assert_eq!(share(EnergySource::Gas), Some(0.2));
    assert_eq!(share(EnergySource::Oil), Some(0.01));
    assert_eq!(share(EnergySource::Unknown), Some(0.03));
    assert_eq!(share(EnergySource::HydroStorage), Some(0.06));
    assert_eq!(share(EnergySource::Battery), Some(0.01));
    assert_eq!(
        share(EnergySource::Geothermal),
        None,
        "null means not reported"
    );
    assert_eq!(mix.shares.len(), 11);
    // The same figures, read from the fixture rather than retyped.
    let body = fixture_json("em-power-breakdown-latest.json");
    let total = body["powerConsumptionTotal"].as_f64().expect("total");
    assert_eq!(
        share(EnergySource::HydroStorage),
        body["powerConsumptionBreakdown"]["hydro discharge"]
            .as_f64()
            .map(|mw| mw / total)
    );
    let sum: f64 = mix.shares.iter().map(|s| s.ratio).sum();
    assert!((sum - 1.0).abs() < 1e-12, "{sum}");
    assert_eq!(mixes[1].shares, mix.shares);
    assert_eq!(mixes[1].carbon_intensity, 302.0);
}

#[tokio::test]
async fn electricity_maps_answers_from_the_cache_until_it_expires() {
    let upstream = electricity_maps_upstream();
    let (runtime, tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let grants = grants(&upstream, "em");
    let settings = em_settings(&upstream, "300");
    let queries = [query("a", Some("DE"), None)];
    let ask = || plugin.collect_energy_mix(&grants, &settings, &queries);

    let first = ask().await.expect("first");
    assert_eq!(upstream.seen().len(), 2);
    let second = ask().await.expect("second");
    assert_eq!(
        upstream.seen().len(),
        2,
        "the second call within cache_seconds makes no request"
    );
    assert_eq!(first, second);

    // Age the entry past cache_seconds (no sleeping): the next call asks again.
    let key = b"em\0zone/default/DE".to_vec();
    let mut entry: serde_json::Value =
        serde_json::from_slice(&tree.get(&key).expect("read").expect("cached")).expect("JSON");
    let fetched = entry["fetched_at_ms"].as_u64().expect("fetched_at_ms");
    entry["fetched_at_ms"] = (fetched - 301_000).into();
    tree.insert(&key, serde_json::to_vec(&entry).expect("JSON"))
        .expect("write");
    ask().await.expect("third");
    assert_eq!(
        upstream.seen().len(),
        4,
        "an expired entry is fetched again"
    );

    // cache_seconds = 0 turns the cache off.
    let uncached = em_settings(&upstream, "0");
    for _ in 0..2 {
        plugin
            .collect_energy_mix(&grants, &uncached, &[query("a", Some("DE"), None)])
            .await
            .expect("uncached");
    }
    assert_eq!(upstream.seen().len(), 8);
}

#[tokio::test]
async fn electricity_maps_asks_for_direct_factors_and_caches_them_apart() {
    let upstream = electricity_maps_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let grants = grants(&upstream, "em");
    let queries = [query("a", Some("DE"), None)];
    let direct = [
        em_settings(&upstream, "300"),
        settings(&[("emission_factor", "direct")]),
    ]
    .concat();
    let mixes = plugin
        .collect_energy_mix(&grants, &direct, &queries)
        .await
        .expect("direct");
    assert_eq!(mixes[0].emission_factor, EmissionFactorType::Direct);
    assert_eq!(mixes[0].carbon_intensity, 255.0);
    assert_eq!(
        upstream.seen()[0]
            .query
            .get("emissionFactorType")
            .map(String::as_str),
        Some("direct")
    );
    // The default (lifecycle) is not served from the direct entry.
    let mixes = plugin
        .collect_energy_mix(&grants, &em_settings(&upstream, "300"), &queries)
        .await
        .expect("lifecycle");
    assert_eq!(mixes[0].emission_factor, EmissionFactorType::Lifecycle);
    assert_eq!(mixes[0].carbon_intensity, 302.0);
    assert_eq!(upstream.seen().len(), 4);

    let err = guest_error(
        plugin
            .collect_energy_mix(
                &grants,
                &[
                    em_settings(&upstream, "300"),
                    settings(&[("emission_factor", "marginal")]),
                ]
                .concat(),
                &queries,
            )
            .await,
    );
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("`emission_factor` is `marginal`")),
        "{err:?}"
    );
}

#[tokio::test]
async fn electricity_maps_leaves_an_unknown_zone_out_and_remembers_it() {
    let upstream = electricity_maps_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let grants = grants(&upstream, "em");
    let settings = em_settings(&upstream, "300");
    let queries = [
        query("known", Some("DE"), None),
        query("unknown", None, Some("XX")),
    ];
    for _ in 0..2 {
        let mixes = plugin
            .collect_energy_mix(&grants, &settings, &queries)
            .await
            .expect("the batch succeeds");
        assert_eq!(
            mixes
                .iter()
                .map(|m| m.location_id.as_str())
                .collect::<Vec<_>>(),
            ["known"]
        );
    }
    let unknown: Vec<_> = upstream
        .seen()
        .into_iter()
        .filter(|s| s.query.get("zone").map(String::as_str) == Some("XX"))
        .collect();
    assert_eq!(
        unknown.len(),
        1,
        "an unknown zone is asked about once per cache period, and only its intensity"
    );
}

#[tokio::test]
async fn electricity_maps_reports_each_failure_as_its_kind() {
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let ask = async |status: u16, headers: Vec<(&'static str, String)>, body: String| {
        let upstream = Upstream::start(move |_| Reply {
            status,
            headers: headers.clone(),
            body: body.clone(),
        });
        guest_error(
            plugin
                .collect_energy_mix(
                    &grants(&upstream, "em"),
                    &em_settings(&upstream, "300"),
                    &[query("a", Some("DE"), None)],
                )
                .await,
        )
    };

    let err = ask(401, vec![], fixture("em-unauthorized.json")).await;
    let ProviderError::Unauthorized(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("Invalid authentication credentials") && !message.contains("em-secret"),
        "{message}"
    );
    assert!(matches!(
        ask(403, vec![], String::new()).await,
        ProviderError::Unauthorized(_)
    ));

    let err = ask(
        429,
        vec![("retry-after", "7".into())],
        fixture("em-rate-limited.json"),
    )
    .await;
    let ProviderError::Unavailable(unavailable) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unavailable.retry_after_ms, Some(7000));
    assert!(
        unavailable.message.contains("API rate limit exceeded"),
        "{}",
        unavailable.message
    );

    let err = ask(500, vec![], "upstream exploded".into()).await;
    let ProviderError::Unavailable(unavailable) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unavailable.retry_after_ms, None);
    assert!(
        unavailable.message.contains("500"),
        "{}",
        unavailable.message
    );

    let err = ask(200, vec![], "{\"carbonIntensity\": 3".into()).await;
    let ProviderError::Other(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("not JSON"), "{message}");

    let wrong_type = fixture("em-carbon-intensity-latest.json")
        .replace("\"carbonIntensity\": 302", "\"carbonIntensity\": \"high\"");
    let err = ask(200, vec![], wrong_type).await;
    let ProviderError::Other(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("`carbonIntensity`") && message.contains("\"high\""),
        "{message}"
    );

    let bad_time =
        fixture("em-carbon-intensity-latest.json").replace("2024-05-21T14:00:00.000Z", "yesterday");
    let err = ask(200, vec![], bad_time).await;
    let ProviderError::Other(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("`datetime`"), "{message}");
}

#[tokio::test]
async fn electricity_maps_needs_a_token_and_a_store_for_its_cache() {
    let upstream = electricity_maps_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let err = guest_error(
        plugin
            .collect_energy_mix(
                &grants(&upstream, "em"),
                &settings(&[("base_url", &upstream.origin())]),
                &[query("a", Some("DE"), None)],
            )
            .await,
    );
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("api_token")),
        "{err:?}"
    );

    let no_store = Grants {
        key_value: None,
        ..grants(&upstream, "em")
    };
    let err = guest_error(
        plugin
            .collect_energy_mix(
                &no_store,
                &em_settings(&upstream, "300"),
                &[query("a", Some("DE"), None)],
            )
            .await,
    );
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("key_value = true")),
        "{err:?}"
    );
    assert!(upstream.seen().is_empty());
    // Without a cache the store is not needed.
    plugin
        .collect_energy_mix(
            &no_store,
            &em_settings(&upstream, "0"),
            &[query("a", Some("DE"), None)],
        )
        .await
        .expect("uncached calls work without the store");
}

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

/// The real daemon with an operator's config: the plugin's `*` need meets `allow_http`, the
/// store is granted by `key_value = true`, and the zone's intensity and mix reach /metrics.
#[test]
fn the_daemon_serves_electricity_maps_figures_granted_by_its_config() {
    let upstream = electricity_maps_upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{plugins}\"\nstate_dir = \"state\"\n\n\
             [intervals]\nresource_metrics = \"1s\"\nenvironment = \"1m\"\n\n\
             [providers.grid]\nplugin = \"electricity-maps\"\n\
             settings = {{ api_token = \"em-secret-token\", base_url = \"{origin}\" }}\n\
             allow_http = [\"{origin}\"]\nkey_value = true\n\n\
             [environment]\nprovider = \"grid\"\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n\
             settings = {{ projects = 1, resources_per_project = 6 }}\n\n\
             [providers.meter]\nplugin = \"mock-meter\"\n\n\
             [accounts.demo]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
            plugins = plugin_dir().display(),
            origin = upstream.origin(),
        ),
    )
    .expect("write config");
    let daemon = Daemon::start(&["--config", config.to_str().expect("utf-8")]);
    let text = daemon.wait_for("/metrics", 60, |t| {
        metric_value(t, "carbonaut_resource_emissions_grams_total", "resource=")
            .is_some_and(|v| v > 0.0)
    });
    // Six resources, one per mock-cloud country; only Germany's grid is known upstream.
    let priced = series(&text, "carbonaut_resource_emissions_grams_total")
        .into_iter()
        .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0))
        .count();
    assert_eq!(priced, 1, "{text}");
    assert_eq!(
        metric_value(
            &text,
            "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
            "location=\"DE\""
        ),
        Some(302.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "carbonaut_location_energy_mix_ratio",
            "location=\"DE\",source=\"wind\""
        ),
        Some(0.3)
    );
    // mock-cloud's other countries are unknown to this upstream: left out, not failing DE.
    assert_eq!(
        series(
            &text,
            "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour"
        )
        .len(),
        1
    );
    assert!(
        upstream
            .seen()
            .iter()
            .all(|s| s.header("auth-token") == Some("em-secret-token"))
    );
    let log = daemon.stop();
    assert!(!log.contains("em-secret-token"), "the token was logged");
}

// ---------------------------------------------------------------- WattTime

/// `user:secret` in base64, as basic authentication sends it.
const BASIC: &str = "Basic dXNlcjpzZWNyZXQ=";

/// WattTime for CAISO_NORTH: each login hands out a new token (`token-1`, `token-2`, ...)
/// and only the latest is accepted, or none while `revoked` is set.
struct WattTimeUpstream {
    upstream: Upstream,
    revoke: Arc<AtomicUsize>,
}

fn watttime_upstream() -> WattTimeUpstream {
    let logins = Arc::new(AtomicUsize::new(0));
    let revoke = Arc::new(AtomicUsize::new(0));
    let revoked = revoke.clone();
    let upstream = Upstream::start(move |seen| match seen.path.as_str() {
        "/login" if seen.header("authorization") == Some(BASIC) => {
            let n = logins.fetch_add(1, Ordering::SeqCst) + 1;
            revoked.store(0, Ordering::SeqCst);
            let mut body = fixture_json("wt-login.json");
            body["token"] = format!("token-{n}").into();
            reply(200, body.to_string())
        }
        "/login" => reply(401, fixture("wt-unauthorized.json")),
        "/v3/forecast" => {
            let current = format!("Bearer token-{}", logins.load(Ordering::SeqCst));
            if seen.header("authorization") != Some(current.as_str())
                || revoked.load(Ordering::SeqCst) == 1
            {
                return reply(401, fixture("wt-unauthorized.json"));
            }
            match seen.query.get("region").map(String::as_str) {
                Some("CAISO_NORTH") => reply(200, fixture("wt-forecast-co2-moer.json")),
                _ => reply(400, fixture("wt-invalid-region.json")),
            }
        }
        _ => reply(404, String::new()),
    });
    WattTimeUpstream { upstream, revoke }
}

fn wt_settings(upstream: &Upstream, cache_seconds: &str) -> Vec<(String, String)> {
    settings(&[
        ("username", "user"),
        ("password", "secret"),
        ("base_url", &upstream.origin()),
        ("cache_seconds", cache_seconds),
    ])
}

async fn watttime(runtime: &Arc<Runtime>) -> Plugin {
    load_file(runtime, WATTTIME.as_ref())
        .await
        .expect("watttime loads")
}

#[tokio::test]
async fn watttime_logs_in_and_converts_the_moer_to_grams_per_kilowatt_hour() {
    let wt = watttime_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = watttime(&runtime).await;
    let mixes = plugin
        .collect_energy_mix(
            &grants(&wt.upstream, "wt"),
            &[
                wt_settings(&wt.upstream, "300"),
                settings(&[("region", "CAISO_NORTH")]),
            ]
            .concat(),
            &[
                query("mapped", Some("US"), Some("CAISO_NORTH")),
                query("by-setting", Some("US"), None),
                query("unknown", None, Some("NOWHERE")),
            ],
        )
        .await
        .expect("mixes");

    let seen = wt.upstream.seen();
    assert_eq!(
        seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["/login", "/v3/forecast", "/v3/forecast"],
        "one login, one request per region"
    );
    assert_eq!(seen[0].header("authorization"), Some(BASIC));
    let forecast = &seen[1];
    assert_eq!(forecast.header("authorization"), Some("Bearer token-1"));
    assert_eq!(
        forecast.query,
        BTreeMap::from([
            ("region".to_owned(), "CAISO_NORTH".to_owned()),
            ("signal_type".to_owned(), "co2_moer".to_owned()),
            ("horizon_hours".to_owned(), "0".to_owned()),
        ])
    );
    assert_eq!(
        seen[2].query.get("region").map(String::as_str),
        Some("NOWHERE")
    );

    assert_eq!(
        mixes
            .iter()
            .map(|m| m.location_id.as_str())
            .collect::<Vec<_>>(),
        ["mapped", "by-setting"],
        "a region WattTime does not know is left out"
    );
    let mix = &mixes[0];
    // 950 lbs/MWh × 453.59237 g/lb ÷ 1000 kWh/MWh.
    assert_eq!(mix.carbon_intensity, 950.0 * 0.453_592_37);
    assert!((mix.carbon_intensity - 430.912_751_5).abs() < 1e-9);
    let value = fixture_json("wt-forecast-co2-moer.json")["data"][0]["value"]
        .as_f64()
        .expect("value");
    assert_eq!(mix.carbon_intensity, value * 0.453_592_37);
    // 2024-05-21T14:05:00+00:00
    assert_eq!(mix.valid_at, 1_716_300_300_000);
    assert!(mix.estimated, "a MOER is a model's output");
    assert_eq!(mix.emission_factor, EmissionFactorType::Direct);
    assert!(mix.shares.is_empty());
    assert_eq!(mixes[1].carbon_intensity, mix.carbon_intensity);

    // Within cache_seconds: no request at all, not even a login.
    plugin
        .collect_energy_mix(
            &grants(&wt.upstream, "wt"),
            &wt_settings(&wt.upstream, "300"),
            &[query("mapped", None, Some("CAISO_NORTH"))],
        )
        .await
        .expect("cached");
    assert_eq!(wt.upstream.seen().len(), 3);
}

#[tokio::test]
async fn watttime_reuses_its_token_and_logs_in_again_when_it_is_refused() {
    let wt = watttime_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = watttime(&runtime).await;
    let grants = grants(&wt.upstream, "wt");
    let settings = wt_settings(&wt.upstream, "0");
    let queries = [query("a", None, Some("CAISO_NORTH"))];
    let ask = || plugin.collect_energy_mix(&grants, &settings, &queries);

    ask().await.expect("first");
    ask().await.expect("second");
    assert_eq!(wt.upstream.count("/login"), 1, "the stored token is reused");
    assert_eq!(wt.upstream.count("/v3/forecast"), 2);
    assert!(
        wt.upstream
            .seen()
            .iter()
            .filter(|s| s.path == "/v3/forecast")
            .all(|s| s.header("authorization") == Some("Bearer token-1"))
    );

    // The server stops accepting token-1: one 401, one login, the same request again.
    wt.revoke.store(1, Ordering::SeqCst);
    let mixes = ask().await.expect("after a new login");
    assert_eq!(mixes.len(), 1);
    let seen = wt.upstream.seen();
    let tail: Vec<_> = seen[3..]
        .iter()
        .map(|s| {
            (
                s.path.as_str(),
                s.header("authorization").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("/v3/forecast", "Bearer token-1"),
            ("/login", BASIC),
            ("/v3/forecast", "Bearer token-2"),
        ]
    );
    ask().await.expect("the new token is kept");
    assert_eq!(wt.upstream.count("/login"), 2);
}

#[tokio::test]
async fn watttime_logs_in_again_when_the_stored_token_has_expired() {
    let wt = watttime_upstream();
    let (runtime, tree) = runtime_with_store();
    let plugin = watttime(&runtime).await;
    let grants = grants(&wt.upstream, "wt");
    let settings = wt_settings(&wt.upstream, "0");
    plugin
        .collect_energy_mix(&grants, &settings, &[query("a", None, Some("CAISO_NORTH"))])
        .await
        .expect("first");
    let key = b"wt\0token/user".to_vec();
    let mut stored: serde_json::Value =
        serde_json::from_slice(&tree.get(&key).expect("read").expect("a stored token"))
            .expect("JSON");
    assert_eq!(stored["token"], "token-1");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let expires = stored["expires_at_ms"].as_u64().expect("expiry");
    // 30 minutes, renewed one minute early.
    assert!(
        expires > now + 28 * 60_000 && expires <= now + 29 * 60_000,
        "{expires} vs {now}"
    );
    stored["expires_at_ms"] = (now - 1).into();
    tree.insert(&key, serde_json::to_vec(&stored).expect("JSON"))
        .expect("write");

    plugin
        .collect_energy_mix(&grants, &settings, &[query("a", None, Some("CAISO_NORTH"))])
        .await
        .expect("second");
    let paths: Vec<_> = wt.upstream.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/login", "/v3/forecast", "/login", "/v3/forecast"],
        "an expired token is not even tried"
    );
}

#[tokio::test]
async fn watttime_reports_each_failure_as_its_kind() {
    let (runtime, _tree) = runtime_with_store();
    let plugin = watttime(&runtime).await;
    // The login succeeds; the forecast answers `status`.
    let ask = async |status: u16, headers: Vec<(&'static str, String)>, body: String| {
        let upstream = Upstream::start(move |seen| match seen.path.as_str() {
            "/login" => reply(200, fixture("wt-login.json")),
            _ => Reply {
                status,
                headers: headers.clone(),
                body: body.clone(),
            },
        });
        guest_error(
            plugin
                .collect_energy_mix(
                    &grants(&upstream, "wt"),
                    &wt_settings(&upstream, "300"),
                    &[query("a", None, Some("CAISO_NORTH"))],
                )
                .await,
        )
    };

    let err = ask(401, vec![], fixture("wt-unauthorized.json")).await;
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("Invalid or expired token")),
        "a 401 after a fresh login is final: {err:?}"
    );
    let err = ask(403, vec![], "{\"error\": \"Forbidden\"}".into()).await;
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("CAISO_NORTH")),
        "{err:?}"
    );

    let err = ask(429, vec![("retry-after", "7".into())], String::new()).await;
    let ProviderError::Unavailable(unavailable) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unavailable.retry_after_ms, Some(7000));

    let err = ask(503, vec![], String::new()).await;
    assert!(
        matches!(&err, ProviderError::Unavailable(u) if u.message.contains("503")),
        "{err:?}"
    );

    let err = ask(200, vec![], "<html>maintenance</html>".into()).await;
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("not JSON")),
        "{err:?}"
    );
    let percent = fixture("wt-forecast-co2-moer.json").replace("lbs_co2_per_mwh", "percentile");
    let err = ask(200, vec![], percent).await;
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("`meta.units`") && m.contains("percentile")),
        "{err:?}"
    );
    let empty = fixture("wt-forecast-co2-moer.json").replace("\"value\": 950.0", "\"value\": null");
    let err = ask(200, vec![], empty).await;
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("`data[0].value`")),
        "{err:?}"
    );

    // Refused credentials at login (a namespace with no token stored yet).
    let upstream = Upstream::start(|_| reply(401, fixture("wt-unauthorized.json")));
    let err = guest_error(
        plugin
            .collect_energy_mix(
                &grants(&upstream, "wt-new"),
                &wt_settings(&upstream, "300"),
                &[query("a", None, Some("CAISO_NORTH"))],
            )
            .await,
    );
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("login") && !m.contains("secret")),
        "{err:?}"
    );
    assert_eq!(upstream.seen().len(), 1, "no forecast without a token");

    // Without the store there is nowhere to keep the token: refused before any request.
    let wt = watttime_upstream();
    let err = guest_error(
        plugin
            .collect_energy_mix(
                &Grants {
                    key_value: None,
                    ..grants(&wt.upstream, "wt")
                },
                &wt_settings(&wt.upstream, "300"),
                &[query("a", None, Some("CAISO_NORTH"))],
            )
            .await,
    );
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("key_value = true")),
        "{err:?}"
    );
    assert!(wt.upstream.seen().is_empty());
}

// ---------------------------------------------------------------- example configs

/// `carbonaut check-config` on an example, with its plugin folder pointed at the built
/// plugins and `var` set.
fn check_example(name: &str, var: &str) {
    let text =
        std::fs::read_to_string(format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("example");
    let original = "plugin_dir = \"../target/plugins\"";
    assert!(text.contains(original), "{name} loads ../target/plugins");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(name);
    std::fs::write(
        &file,
        text.replace(
            original,
            &format!("plugin_dir = \"{}\"", plugin_dir().display()),
        ),
    )
    .expect("write");
    let run = |env: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_carbonaut"));
        command.args(["check-config", file.to_str().expect("utf-8")]);
        command.env_remove(var);
        if let Some(value) = env {
            command.env(var, value);
        }
        command.output().expect("run")
    };
    let out = run(Some("from-the-environment"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(": ok ("),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(None);
    assert!(!out.status.success(), "{name} loads without {var}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(var),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_electricity_maps_example_passes_check_config() {
    check_example("electricity-maps.toml", "ELECTRICITY_MAPS_TOKEN");
}

#[test]
fn the_watttime_example_passes_check_config() {
    check_example("watttime.toml", "WATTTIME_PASSWORD");
}
