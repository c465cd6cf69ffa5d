//! electricity-maps against the fake API: figures, the per-zone cache, unknown zones, every
//! failure as its kind, a daemon serving its figures, and the hourly forecast kept an hour.

use super::*;

pub(super) fn electricity_maps_upstream() -> Upstream {
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
            "/v3/carbon-intensity/forecast" => {
                reply(200, fixture("em-carbon-intensity-forecast.json"))
            }
            _ => reply(404, String::new()),
        }
    })
}

pub(super) fn em_settings(upstream: &Upstream, cache_seconds: &str) -> Vec<(String, String)> {
    settings(&[
        ("api_token", "em-secret-token"),
        ("base_url", &upstream.origin()),
        ("cache_seconds", cache_seconds),
    ])
}

pub(super) async fn electricity_maps(runtime: &Arc<Runtime>) -> Plugin {
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
        // The zone, and no fallback to the caller's IP location (issue 27).
        let query: Vec<(&str, &str)> = s
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            query,
            [
                ("disableCallerLookup", "true"),
                ("shouldUseFallbackCallerLookup", "false"),
                ("zone", "DE")
            ]
        );
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
    for time in ["stored_at_ms", "expires_at_ms"] {
        let at = entry[time].as_u64().expect(time);
        entry[time] = (at - 301_000).into();
    }
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

/// Issue 27: Electricity Maps may answer 401 past a plan's rate limit (electricitymaps-contrib
/// issue #8047), so a 401 for a zone this token was answered for is throttling; a 401 for a
/// zone it never answered, or with another token, is a refusal.
#[tokio::test]
async fn electricity_maps_takes_a_401_after_an_answer_as_throttling() {
    let throttled = Arc::new(AtomicUsize::new(0));
    let flag = throttled.clone();
    let upstream = Upstream::start(move |seen| {
        let zone = seen.query.get("zone").map(String::as_str);
        if zone != Some("DE") || flag.load(Ordering::SeqCst) == 1 {
            return reply(401, fixture("em-unauthorized.json"));
        }
        match seen.path.as_str() {
            "/v3/carbon-intensity/latest" => reply(200, fixture("em-carbon-intensity-latest.json")),
            _ => reply(200, fixture("em-power-breakdown-latest.json")),
        }
    });
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let grants = grants(&upstream, "em");
    let uncached = em_settings(&upstream, "0");
    let de = [query("de", Some("DE"), None)];
    let mixes = plugin
        .collect_energy_mix(&grants, &uncached, &de)
        .await
        .expect("answered");
    assert_eq!(mixes.len(), 1);

    throttled.store(1, Ordering::SeqCst);
    let err = guest_error(plugin.collect_energy_mix(&grants, &uncached, &de).await);
    let ProviderError::Unavailable(u) = &err else {
        panic!("a 401 after an answer is throttling: {err:?}")
    };
    assert!(u.message.contains("rate limiting"), "{}", u.message);
    assert_eq!(u.retry_after_ms, Some(300_000));

    let fr = [query("fr", Some("FR"), None)];
    let err = guest_error(plugin.collect_energy_mix(&grants, &uncached, &fr).await);
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("zone FR")),
        "a zone never answered is refused: {err:?}"
    );
    let mut other_token = uncached.clone();
    other_token.retain(|(k, _)| k != "api_token");
    other_token.push(("api_token".into(), "another-token".into()));
    let err = guest_error(plugin.collect_energy_mix(&grants, &other_token, &de).await);
    assert!(
        matches!(err, ProviderError::Unauthorized(_)),
        "another token's answers say nothing about this one: {err:?}"
    );
}

/// Issue 27: an answer for another zone than the one asked (the API's fallback to the
/// caller's location) is refused, not priced as the zone asked.
#[tokio::test]
async fn electricity_maps_refuses_an_answer_for_another_zone() {
    // Answers every zone with Germany's figures, `"zone": "DE"` included.
    let upstream = Upstream::start(|seen| match seen.path.as_str() {
        "/v3/carbon-intensity/latest" => reply(200, fixture("em-carbon-intensity-latest.json")),
        _ => reply(200, fixture("em-power-breakdown-latest.json")),
    });
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let mixes = plugin
        .collect_energy_mix(
            &grants(&upstream, "em"),
            &em_settings(&upstream, "300"),
            &[
                query("poland", Some("PL"), None),
                query("germany", Some("DE"), None),
            ],
        )
        .await
        .expect("the batch succeeds");
    assert_eq!(
        mixes.rejected().count(carbonaut_plugins::Reason::WrongZone),
        1,
        "PL was answered with DE's figures: refused, counted"
    );
    let ids: Vec<&str> = mixes.iter().map(|m| m.location_id.as_str()).collect();
    assert_eq!(ids, ["germany"], "PL was answered with DE's figures");
    assert_eq!(mixes[0].zone.as_deref(), Some("DE"));
    // The refusal is cached like any left-out zone: PL is asked once per cache period.
    let pl = upstream
        .seen()
        .iter()
        .filter(|s| s.query.get("zone").map(String::as_str) == Some("PL"))
        .count();
    assert_eq!(pl, 1, "only the intensity, which was refused");
}

/// The forecast of `em-carbon-intensity-forecast.json`: hourly points as given, generated at
/// `updatedAt`, for the zone the API named; kept an hour, so a second call asks nothing.
#[tokio::test]
async fn electricity_maps_forecasts_each_zone_hourly_and_keeps_it_an_hour() {
    let upstream = electricity_maps_upstream();
    let (runtime, tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let grants = grants(&upstream, "em");
    let settings = em_settings(&upstream, "300");
    let queries = [
        query("by-zone", Some("FR"), Some("DE")),
        query("by-country", Some("DE"), None),
        query("unknown", Some("FR"), None),
    ];
    let checked = plugin
        .forecast(&grants, &settings, &queries)
        .await
        .expect("forecasts");
    assert!(checked.rejected().is_empty(), "{:?}", checked.rejected());
    let forecasts = checked.into_items();

    let seen = upstream.seen();
    assert_eq!(
        seen.iter().map(|s| s.target()).collect::<Vec<_>>(),
        [
            "/v3/carbon-intensity/forecast?disableCallerLookup=true&\
             shouldUseFallbackCallerLookup=false&zone=DE",
            "/v3/carbon-intensity/forecast?disableCallerLookup=true&\
             shouldUseFallbackCallerLookup=false&zone=FR",
        ],
        "one request per zone"
    );
    assert!(
        seen.iter()
            .all(|s| s.header("auth-token") == Some("em-secret-token"))
    );
    assert_eq!(
        forecasts
            .iter()
            .map(|f| f.location_id.as_str())
            .collect::<Vec<_>>(),
        ["by-zone", "by-country"],
        "a zone the API does not know is left out, not failing the others"
    );
    let forecast = &forecasts[0];
    assert_eq!(forecast.zone.as_deref(), Some("DE"));
    assert_eq!(forecast.emission_factor, EmissionFactorType::Lifecycle);
    // updatedAt, 2024-05-21T14:12:00.000Z.
    assert_eq!(forecast.generated_at, 1_716_300_720_000);
    let body = fixture_json("em-carbon-intensity-forecast.json");
    let values: Vec<f64> = body["forecast"]
        .as_array()
        .expect("forecast")
        .iter()
        .map(|p| p["carbonIntensity"].as_f64().expect("value"))
        .collect();
    assert_eq!(values, [301.0, 288.5, 275.0]);
    assert_eq!(forecast.points.len(), 3);
    for (i, (point, value)) in forecast.points.iter().zip(&values).enumerate() {
        // From 2024-05-21T15:00:00.000Z, an hour each.
        assert_eq!(point.starts_at, 1_716_303_600_000 + i as u64 * 3_600_000);
        assert_eq!(point.duration_ms, 3_600_000);
        assert_eq!(point.carbon_intensity, *value);
    }
    assert_eq!(forecasts[1].points, forecast.points);

    // Kept an hour from when it was fetched; the unknown zone for cache_seconds.
    let entry = |key: &str| -> serde_json::Value {
        let stored = tree
            .get(format!("em\0{key}").as_bytes())
            .expect("read")
            .expect("an entry");
        serde_json::from_slice(&stored).expect("JSON")
    };
    let life = |e: serde_json::Value| {
        e["expires_at_ms"].as_u64().expect("expiry") - e["stored_at_ms"].as_u64().expect("stored")
    };
    assert_eq!(life(entry("forecast/default/DE")), 3_600_000);
    assert_eq!(life(entry("forecast/default/FR")), 300_000);
    let again = plugin
        .forecast(&grants, &settings, &queries)
        .await
        .expect("cached");
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].points, forecast.points);
    assert_eq!(upstream.seen().len(), 2, "nothing asked within the hour");
}

/// A plan without forecasts (401 or 403) leaves the zone's forecast out, even for a zone
/// whose figures were answered (not taken as throttling here); the rate limit fails the call.
#[tokio::test]
async fn electricity_maps_forecast_refusals_leave_the_zone_out_and_the_rate_limit_fails() {
    let (runtime, _tree) = runtime_with_store();
    let plugin = electricity_maps(&runtime).await;
    let status = Arc::new(AtomicUsize::new(401));
    let answer = status.clone();
    let upstream = Upstream::start(move |seen| match seen.path.as_str() {
        "/v3/carbon-intensity/latest" => reply(200, fixture("em-carbon-intensity-latest.json")),
        "/v3/power-breakdown/latest" => reply(200, fixture("em-power-breakdown-latest.json")),
        _ => reply(
            answer.load(Ordering::SeqCst) as u16,
            fixture("em-unauthorized.json"),
        )
        .header("retry-after", "9"),
    });
    let grants = grants(&upstream, "em");
    let settings = em_settings(&upstream, "0");
    let queries = [query("a", Some("DE"), None)];
    plugin
        .collect_energy_mix(&grants, &settings, &queries)
        .await
        .expect("the zone's figures");
    let forecasts = plugin
        .forecast(&grants, &settings, &queries)
        .await
        .expect("the call goes on");
    assert!(forecasts.is_empty());
    assert_eq!(upstream.count("/v3/carbon-intensity/forecast"), 1);

    status.store(429, Ordering::SeqCst);
    let err = guest_error(plugin.forecast(&grants, &settings, &queries).await);
    let ProviderError::Unavailable(unavailable) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unavailable.retry_after_ms, Some(9000));
    assert!(
        unavailable
            .message
            .contains("carbon-intensity/forecast for zone DE"),
        "{err:?}"
    );
}

/// Electricity Maps for DE: the fixtures' figures, and a forecast of 24 hourly points from
/// the current hour, `200 + i` g/kWh, updated at the start of the hour.
fn live_forecast_upstream() -> Upstream {
    Upstream::start(|seen| {
        if seen.query.get("zone").map(String::as_str) != Some("DE") {
            return reply(404, fixture("em-unknown-zone.json"));
        }
        match seen.path.as_str() {
            "/v3/carbon-intensity/latest" => reply(200, fixture("em-carbon-intensity-latest.json")),
            "/v3/power-breakdown/latest" => reply(200, fixture("em-power-breakdown-latest.json")),
            "/v3/carbon-intensity/forecast" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_millis() as u64;
                let hour = now - now % 3_600_000;
                let format = carbonaut_store::history::format_instant;
                let body = serde_json::json!({
                    "zone": "DE",
                    "forecast": (0..24u64)
                        .map(|i| serde_json::json!({
                            "carbonIntensity": 200 + i,
                            "datetime": format(hour + i * 3_600_000),
                        }))
                        .collect::<Vec<_>>(),
                    "updatedAt": format(hour),
                });
                reply(200, body.to_string())
            }
            _ => reply(404, String::new()),
        }
    })
}

/// The real daemon asks the forecast after each environment step (every second here):
/// `/api/v1/forecast` serves the hourly points, and the zone's forecast is asked once an hour
/// however many steps ask the plugin.
#[test]
fn the_daemon_serves_electricity_maps_forecasts_and_asks_once_an_hour() {
    let upstream = live_forecast_upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{plugins}\"\nstate_dir = \"state\"\n\n\
             [intervals]\nresource_metrics = \"1s\"\nenvironment = \"1s\"\n\n\
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
    daemon.wait_for("/metrics", 60, |t| {
        metric_value(
            t,
            "carbonaut_plugin_calls_total",
            "plugin=\"electricity-maps\",operation=\"forecast\",outcome=\"ok\"",
        )
        .is_some_and(|n| n >= 3.0)
    });
    let forecast: serde_json::Value = daemon
        .get("/api/v1/forecast?location=DE")
        .json()
        .expect("forecast");
    let points = forecast["points"].as_array().expect("points");
    // The hour now in and the rest of the 24 (one fewer once the first has passed).
    assert!((23..=24).contains(&points.len()), "{forecast}");
    let first = points[0]["carbon_intensity"].as_f64().expect("intensity");
    for (i, point) in points.iter().enumerate() {
        assert_eq!(point["duration_minutes"], 60.0, "{point}");
        assert_eq!(point["carbon_intensity"], first + i as f64, "{point}");
    }
    assert!(first == 200.0 || first == 201.0, "{forecast}");
    // mock-cloud's other countries are unknown upstream: no forecast, not a failure.
    assert_eq!(daemon.get("/api/v1/forecast?location=FR").status(), 404);
    let asked = |zone: &str| {
        upstream
            .seen()
            .iter()
            .filter(|s| {
                s.path == "/v3/carbon-intensity/forecast"
                    && s.query.get("zone").map(String::as_str) == Some(zone)
            })
            .count()
    };
    assert_eq!(asked("DE"), 1, "the forecast is kept an hour");
    assert_eq!(
        asked("FR"),
        1,
        "an unknown zone is remembered for cache_seconds"
    );
    daemon.stop();
}
