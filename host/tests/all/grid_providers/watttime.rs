//! watttime against the fake API: login, lbs/MWh to g/kWh, the token kept and renewed, every
//! failure as its kind, and the co2_moer forecast converted, kept for its period and served by
//! a daemon.

use super::*;

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
            let horizon = seen.query.get("horizon_hours").map(String::as_str);
            match seen.query.get("region").map(String::as_str) {
                Some("CAISO_NORTH") if horizon == Some("0") => {
                    reply(200, fixture("wt-forecast-co2-moer.json"))
                }
                Some("CAISO_NORTH") => reply(200, fixture("wt-forecast-24h.json")),
                _ => reply(400, fixture("wt-invalid-region.json")),
            }
        }
        _ => reply(404, String::new()),
    });
    WattTimeUpstream { upstream, revoke }
}

pub(super) fn wt_settings(upstream: &Upstream, cache_seconds: &str) -> Vec<(String, String)> {
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
    assert_eq!(stored["value"], "token-1");
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

/// The forecasts of the `wt-forecast-24h.json` fixture: `horizon_hours` as set, each point
/// converted as the live MOER is, five minutes long; kept per region for WattTime's forecast
/// period, so a second call asks nothing.
#[tokio::test]
async fn watttime_forecasts_each_region_in_grams_per_kilowatt_hour_and_keeps_it() {
    let wt = watttime_upstream();
    let (runtime, _tree) = runtime_with_store();
    let plugin = watttime(&runtime).await;
    let grants = grants(&wt.upstream, "wt");
    let base = [
        wt_settings(&wt.upstream, "300"),
        settings(&[("region", "CAISO_NORTH")]),
    ]
    .concat();
    let queries = [
        query("mapped", Some("US"), Some("CAISO_NORTH")),
        query("by-setting", Some("US"), None),
        query("unknown", None, Some("NOWHERE")),
    ];
    let checked = plugin
        .forecast(&grants, &base, &queries)
        .await
        .expect("forecasts");
    assert!(checked.rejected().is_empty(), "{:?}", checked.rejected());
    let forecasts = checked.into_items();

    let seen = wt.upstream.seen();
    assert_eq!(
        seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["/login", "/v3/forecast", "/v3/forecast"],
        "one login, one request per region"
    );
    assert_eq!(
        seen[1].query,
        BTreeMap::from([
            ("region".to_owned(), "CAISO_NORTH".to_owned()),
            ("signal_type".to_owned(), "co2_moer".to_owned()),
            ("horizon_hours".to_owned(), "24".to_owned()),
        ])
    );
    assert_eq!(
        forecasts
            .iter()
            .map(|f| f.location_id.as_str())
            .collect::<Vec<_>>(),
        ["mapped", "by-setting"],
        "a region WattTime does not know is left out, not failing the others"
    );
    let forecast = &forecasts[0];
    assert_eq!(forecast.zone.as_deref(), Some("CAISO_NORTH"));
    assert_eq!(
        forecasts[1].zone, None,
        "the `region` setting is not the query's zone"
    );
    assert_eq!(forecast.emission_factor, EmissionFactorType::Direct);
    // meta.generated_at, 2024-05-21T14:05:00+00:00.
    assert_eq!(forecast.generated_at, 1_716_300_300_000);
    let body = fixture_json("wt-forecast-24h.json");
    let values: Vec<f64> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|p| p["value"].as_f64().expect("value"))
        .collect();
    assert_eq!(forecast.points.len(), 3);
    for (i, (point, lbs)) in forecast.points.iter().zip(&values).enumerate() {
        assert_eq!(point.starts_at, 1_716_300_300_000 + i as u64 * 300_000);
        assert_eq!(point.duration_ms, 300_000, "data_point_period_seconds");
        assert_eq!(point.carbon_intensity, lbs * 0.453_592_37);
    }
    // 950 lbs/MWh, as the live MOER converts it.
    assert!((forecast.points[2].carbon_intensity - 430.912_751_5).abs() < 1e-9);
    assert_eq!(forecasts[1].points, forecast.points);

    // Within the period: nothing asked, not even a login; the unknown region is remembered.
    let again = plugin
        .forecast(&grants, &base, &queries)
        .await
        .expect("cached");
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].points, forecast.points);
    assert_eq!(wt.upstream.seen().len(), 3);

    // Another horizon is another forecast.
    plugin
        .forecast(
            &grants,
            &[base.clone(), settings(&[("forecast_hours", "48")])].concat(),
            &queries[..1],
        )
        .await
        .expect("48 hours");
    let last = wt.upstream.seen().pop().expect("a request");
    assert_eq!(
        last.query.get("horizon_hours").map(String::as_str),
        Some("48")
    );

    let err = guest_error(
        plugin
            .forecast(
                &grants,
                &[base.clone(), settings(&[("forecast_hours", "73")])].concat(),
                &queries[..1],
            )
            .await,
    );
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("forecast_hours")),
        "{err:?}"
    );
}

/// A refused forecast leaves its region out; a refused token or the rate limit fails the call.
#[tokio::test]
async fn watttime_forecast_failures_leave_a_region_out_or_fail_the_call() {
    let (runtime, _tree) = runtime_with_store();
    let plugin = watttime(&runtime).await;
    let ask = async |status: u16, body: String| {
        let upstream = Upstream::start(move |seen| match seen.path.as_str() {
            "/login" => reply(200, fixture("wt-login.json")),
            _ => reply(status, body.clone()).header("retry-after", "7"),
        });
        let result = plugin
            .forecast(
                &grants(&upstream, &format!("wt-{status}")),
                &wt_settings(&upstream, "300"),
                &[query("a", None, Some("CAISO_NORTH"))],
            )
            .await;
        (result, upstream)
    };

    let (result, upstream) = ask(403, "{\"error\": \"Forbidden\"}".into()).await;
    assert!(result.expect("the call goes on").is_empty());
    assert_eq!(upstream.count("/v3/forecast"), 1);
    let (result, _) = ask(
        200,
        fixture("wt-forecast-24h.json").replace("lbs_co2_per_mwh", "percentile"),
    )
    .await;
    assert!(
        result
            .expect("an unreadable forecast is left out")
            .is_empty()
    );

    let err = guest_error(ask(401, fixture("wt-unauthorized.json")).await.0);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("CAISO_NORTH")),
        "{err:?}"
    );
    let err = guest_error(ask(429, String::new()).await.0);
    let ProviderError::Unavailable(unavailable) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unavailable.retry_after_ms, Some(7000));
    assert!(
        unavailable
            .message
            .contains("v3/forecast for region CAISO_NORTH"),
        "{err:?}"
    );
}

/// WattTime for CAISO_NORTH with a forecast that starts at the current five minutes: 24
/// hours of points, `800 + i % 50` lbs/MWh.
fn live_forecast_upstream() -> Upstream {
    Upstream::start(|seen| match seen.path.as_str() {
        "/login" => reply(200, fixture("wt-login.json")),
        "/v3/forecast" if seen.query.get("horizon_hours").map(String::as_str) == Some("0") => {
            reply(200, fixture("wt-forecast-co2-moer.json"))
        }
        "/v3/forecast" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as u64;
            let start = now - now % 300_000;
            let mut body = fixture_json("wt-forecast-24h.json");
            body["meta"]["generated_at"] = carbonaut_store::history::format_instant(start).into();
            body["data"] = (0..288u64)
                .map(|i| {
                    serde_json::json!({
                        "point_time": carbonaut_store::history::format_instant(start + i * 300_000),
                        "value": 800.0 + (i % 50) as f64,
                    })
                })
                .collect::<Vec<_>>()
                .into();
            reply(200, body.to_string())
        }
        _ => reply(404, String::new()),
    })
}

/// The real daemon asks the forecast after each environment step (every second here):
/// `/api/v1/forecast` serves the converted points, and WattTime's forecast is asked once in
/// its five-minute period however many steps ask the plugin.
#[test]
fn the_daemon_serves_watttime_forecasts_and_asks_once_per_period() {
    let upstream = live_forecast_upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{plugins}\"\nstate_dir = \"state\"\n\n\
             [intervals]\nresource_metrics = \"1s\"\nenvironment = \"1s\"\n\n\
             [providers.grid]\nplugin = \"watttime\"\n\
             settings = {{ username = \"user\", password = \"secret\", base_url = \"{origin}\" }}\n\
             allow_http = [\"{origin}\"]\nkey_value = true\n\n\
             [environment]\nprovider = \"grid\"\nzones = {{ \"us-east-1\" = \"CAISO_NORTH\" }}\n\n\
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
    daemon.wait_for("/metrics", 60, |t| {
        metric_value(
            t,
            "carbonaut_plugin_calls_total",
            "plugin=\"watttime\",operation=\"forecast\",outcome=\"ok\"",
        )
        .is_some_and(|n| n >= 3.0)
    });
    let forecast: serde_json::Value = daemon
        .get("/api/v1/forecast?location=CAISO_NORTH")
        .json()
        .expect("forecast");
    let points = forecast["points"].as_array().expect("points");
    // The point now in and the rest of the 24 hours (one fewer once the first has passed).
    assert!((287..=288).contains(&points.len()), "{forecast}");
    let lbs_per_mwh =
        |p: &serde_json::Value| p["carbon_intensity"].as_f64().expect("intensity") / 0.453_592_37;
    for point in points {
        assert_eq!(point["duration_minutes"], 5.0, "{point}");
    }
    // 800 + i % 50 lbs/MWh, in g/kWh.
    let lbs: Vec<f64> = points.iter().map(lbs_per_mwh).collect();
    let from = lbs[0].round() as u64 - 800;
    for (i, value) in lbs.iter().enumerate() {
        let expected = 800.0 + ((from + i as u64) % 50) as f64;
        assert!(
            (value - expected).abs() < 1e-9,
            "{i}: {value} vs {expected}"
        );
    }
    // Three forecast calls or more, one request: the forecast is kept five minutes from when
    // it was fetched, longer than this test runs.
    let asked = upstream
        .seen()
        .iter()
        .filter(|s| {
            s.path == "/v3/forecast"
                && s.query.get("horizon_hours").map(String::as_str) == Some("24")
        })
        .count();
    assert_eq!(asked, 1, "the forecast is kept for its period");
    assert_eq!(upstream.count("/login"), 1, "the token is kept too");
    daemon.stop();
}
