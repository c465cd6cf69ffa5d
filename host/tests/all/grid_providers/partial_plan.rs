//! A plan that covers some zones or regions and refuses the others (issue 27): the covered
//! ones are priced on every collection, each refused one is shown per location in
//! `/api/v1/status` and `/metrics` and is not asked again before its backoff, whatever
//! plugin refuses it (the host finds refused locations by halving the batch).
//!
//! The refusal bodies are the providers' own: Electricity Maps' is the one quoted in
//! electricitymaps-contrib issue #4668 ("Free trial API GET request Italy zone not working",
//! 2022: `{"error": "Request unauthorized for zoneKey=IT,requestType=latest,
//! dataType=power-breakdown."}` with status 401), with the zone and data type of each request.
//! WattTime's 403 outside the plan carries `wt-unauthorized.json`, written from WattTime's
//! docs without a recorded original (the plugin reads only the status).

use super::*;

/// Electricity Maps with a token that covers DE only.
fn one_zone_upstream() -> Upstream {
    Upstream::start(|seen| {
        let zone = seen.query.get("zone").cloned().unwrap_or_default();
        if zone != "DE" {
            let data_type = seen
                .path
                .trim_start_matches("/v3/")
                .trim_end_matches("/latest");
            return reply(
                401,
                format!(
                    "{{\"error\": \"Request unauthorized for zoneKey={zone},requestType=latest,\
                     dataType={data_type}.\"}}"
                ),
            );
        }
        match seen.path.as_str() {
            "/v3/carbon-intensity/latest" => reply(200, fixture("em-carbon-intensity-latest.json")),
            "/v3/power-breakdown/latest" => reply(200, fixture("em-power-breakdown-latest.json")),
            _ => reply(404, String::new()),
        }
    })
}

fn asked_for(upstream: &Upstream, zone: &str) -> usize {
    upstream
        .seen()
        .iter()
        .filter(|s| s.query.get("zone").map(String::as_str) == Some(zone))
        .count()
}

/// The daemon with mock-cloud's six countries priced by Electricity Maps on a one-zone token.
#[test]
fn a_one_zone_plan_prices_its_zone_and_shows_each_refusal_per_location() {
    let upstream = one_zone_upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{plugins}\"\nstate_dir = \"state\"\n\n\
             [intervals]\nresource_metrics = \"1s\"\nenvironment = \"1s\"\n\n\
             [providers.grid]\nplugin = \"electricity-maps\"\n\
             settings = {{ api_token = \"em-secret-token\", base_url = \"{origin}\", \
             cache_seconds = 0 }}\n\
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
    let refused = ["BR", "FR", "IN", "SE", "US"];
    let outcome = |status: &serde_json::Value, location: &str| {
        status["locations"][location]["outcome"].clone()
    };
    let body = daemon.wait_for("/api/v1/status", 60, |text| {
        let status: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        outcome(&status, "DE")["outcome"] == "priced"
            && refused
                .iter()
                .all(|l| outcome(&status, l)["outcome"] == "refused")
    });
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        status["environment_error"],
        serde_json::Value::Null,
        "{body}"
    );
    assert_eq!(
        status["locations"]["DE"]["mix"]["carbon_intensity"], 302.0,
        "{body}"
    );
    for location in refused {
        let o = outcome(&status, location);
        assert_eq!(o["provider"], "grid", "{o}");
        assert_eq!(o["consecutive_refusals"], 1, "{o}");
        let message = o["message"].as_str().expect("a message");
        assert!(
            message.contains(&format!("zoneKey={location}")) && message.contains("refused zone"),
            "{message}"
        );
        let asked = o["asked_at_ms"].as_u64().expect("asked_at_ms");
        // Five minutes after the refusal, the first backoff.
        assert_eq!(o["next_ask_at_ms"].as_u64(), Some(asked + 300_000), "{o}");
        assert!(status["locations"][location]["mix"].is_null());
    }

    let metrics = daemon.get("/metrics").text().expect("metrics");
    for location in refused {
        assert_eq!(
            metric_value(
                &metrics,
                "carbonaut_location_environment_outcome",
                &format!("location=\"{location}\",provider=\"grid\",outcome=\"refused\"")
            ),
            Some(1.0),
            "{location}"
        );
        assert_eq!(
            metric_value(
                &metrics,
                "carbonaut_location_environment_refusals",
                &format!("location=\"{location}\",provider=\"grid\"")
            ),
            Some(1.0)
        );
    }
    assert_eq!(
        metric_value(
            &metrics,
            "carbonaut_location_environment_outcome",
            "location=\"DE\",provider=\"grid\",outcome=\"priced\""
        ),
        Some(1.0)
    );

    // Halving the batch asked each refused zone once: the plugin answers the halves from its
    // memory of the refusal (the intensity only; the breakdown is never reached).
    let before: Vec<usize> = refused.iter().map(|z| asked_for(&upstream, z)).collect();
    assert_eq!(before, [1; 5], "requests per refused zone");
    // Remembered: later collections ask DE (no cache) and none of the refused zones.
    let de = asked_for(&upstream, "DE");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while asked_for(&upstream, "DE") < de + 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "DE is not asked again"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let after: Vec<usize> = refused.iter().map(|z| asked_for(&upstream, z)).collect();
    assert_eq!(before, after, "a refused zone is held until its backoff");
    let log = daemon.stop();
    assert!(!log.contains("em-secret-token"), "the token was logged");
}

/// After its backoff a refused zone is asked again, alone: still refused, its backoff doubles
/// (5 then 10 minutes); covered by then (the operator upgraded the plan), it is priced. The
/// daemon runs under `faketime` at 30 times the real clock's speed, so the five minutes of the
/// first backoff pass in ten seconds.
#[test]
fn a_refused_zone_is_asked_again_alone_after_its_backoff() {
    let covered = std::sync::Arc::new(std::sync::Mutex::new(vec!["DE".to_owned()]));
    let shared = covered.clone();
    let upstream = Upstream::start(move |seen| {
        let zone = seen.query.get("zone").cloned().unwrap_or_default();
        if !shared.lock().expect("lock").contains(&zone) {
            return reply(
                401,
                format!(
                    "{{\"error\": \"Request unauthorized for zoneKey={zone},requestType=latest,\
                     dataType=carbon-intensity.\"}}"
                ),
            );
        }
        // Germany's figures, answered for the zone asked.
        let body = |name: &str| fixture(name).replace("\"DE\"", &format!("\"{zone}\""));
        match seen.path.as_str() {
            "/v3/carbon-intensity/latest" => reply(200, body("em-carbon-intensity-latest.json")),
            "/v3/power-breakdown/latest" => reply(200, body("em-power-breakdown-latest.json")),
            _ => reply(404, String::new()),
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    // Intervals in the daemon's (fast) time: 30 s is about a second of the test's.
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{plugins}\"\nstate_dir = \"state\"\n\n\
             [intervals]\ntopology_sync = \"30s\"\nresource_metrics = \"30s\"\n\
             environment = \"30s\"\n\n\
             [providers.grid]\nplugin = \"electricity-maps\"\n\
             settings = {{ api_token = \"em-secret-token\", base_url = \"{origin}\", \
             cache_seconds = 0 }}\n\
             allow_http = [\"{origin}\"]\nkey_value = true\n\n\
             [environment]\nprovider = \"grid\"\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n\
             settings = {{ projects = 1, resources_per_project = 3 }}\n\n\
             [providers.meter]\nplugin = \"mock-meter\"\n\n\
             [accounts.demo]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
            plugins = plugin_dir().display(),
            origin = upstream.origin(),
        ),
    )
    .expect("write config");
    let daemon = Daemon::start_fast("x30", &["--config", config.to_str().expect("utf-8")]);
    let outcome = |text: &str, location: &str| {
        let status: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        status["locations"][location]["outcome"].clone()
    };
    // Three resources: DE (covered), FR and SE (refused).
    let body = daemon.wait_for("/api/v1/status", 60, |t| {
        outcome(t, "DE")["outcome"] == "priced"
            && outcome(t, "FR")["outcome"] == "refused"
            && outcome(t, "SE")["outcome"] == "refused"
    });
    let first = outcome(&body, "SE");
    let asked = first["asked_at_ms"].as_u64().expect("asked_at_ms");
    assert_eq!(
        first["next_ask_at_ms"].as_u64(),
        Some(asked + 300_000),
        "{first}"
    );
    assert_eq!(
        (asked_for(&upstream, "FR"), asked_for(&upstream, "SE")),
        (1, 1)
    );

    // The plan now covers FR; SE stays outside it.
    covered.lock().expect("lock").push("FR".to_owned());
    let body = daemon.wait_for("/api/v1/status", 90, |t| {
        outcome(t, "FR")["outcome"] == "priced" && outcome(t, "SE")["consecutive_refusals"] == 2
    });
    let second = outcome(&body, "SE");
    let again = second["asked_at_ms"].as_u64().expect("asked_at_ms");
    assert!(
        again >= asked + 300_000,
        "not before the backoff: {first} then {second}"
    );
    assert_eq!(
        second["next_ask_at_ms"].as_u64(),
        Some(again + 600_000),
        "the backoff doubles: {second}"
    );
    // Each asked once more, alone (FR's intensity and then its breakdown, now answered).
    assert_eq!(asked_for(&upstream, "SE"), 2);
    assert!(asked_for(&upstream, "FR") >= 2);
    let fr: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        fr["locations"]["FR"]["mix"]["carbon_intensity"], 302.0,
        "{body}"
    );
    daemon.stop();
}

/// WattTime answers 403 for a region outside the plan: the host's isolation prices the
/// others, through the same function the collector uses.
#[tokio::test]
async fn watttime_regions_outside_the_plan_are_refused_one_by_one() {
    let upstream = Upstream::start(|seen| match seen.path.as_str() {
        "/login" => reply(200, fixture("wt-login.json")),
        "/v3/forecast" if seen.query.get("region").map(String::as_str) == Some("CAISO_NORTH") => {
            reply(200, fixture("wt-forecast-co2-moer.json"))
        }
        "/v3/forecast" => reply(403, fixture("wt-unauthorized.json")),
        _ => reply(404, String::new()),
    });
    let (runtime, _tree) = runtime_with_store();
    let plugin = load_file(&runtime, WATTTIME.as_ref())
        .await
        .expect("watttime");
    let grants = grants(&upstream, "wt");
    let settings = wt_settings(&upstream, "300");
    let queries = vec![
        query("west", None, Some("CAISO_NORTH")),
        query("east", None, Some("PJM_DC")),
        query("texas", None, Some("ERCOT_NORTHCENTRAL")),
    ];
    // The batch alone fails whole: that is what issue 27 is about.
    let whole = guest_error(
        plugin
            .collect_energy_mix(&grants, &settings, &queries)
            .await,
    );
    assert!(matches!(whole, ProviderError::Unauthorized(_)), "{whole:?}");

    let isolated = carbonaut::collect::isolate_refusals(vec![queries], |batch| {
        let (plugin, grants, settings) = (&plugin, &grants, &settings);
        async move { plugin.collect_energy_mix(grants, settings, &batch).await }
    })
    .await;
    let priced: Vec<&str> = isolated
        .mixes
        .iter()
        .map(|m| m.location_id.as_str())
        .collect();
    assert_eq!(priced, ["west"]);
    let refused: Vec<&str> = isolated.refused.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(refused, ["east", "texas"]);
    assert!(
        isolated.refused[0].1.contains("PJM_DC"),
        "{:?}",
        isolated.refused
    );
    assert!(isolated.failed.is_none());
}

/// `carbonaut plugin check` with an operator's config asks the zones of its `[environment]`
/// mapping as the daemon does and prints each zone's outcome.
#[test]
fn plugin_check_prints_each_zone_of_a_partial_plan() {
    let upstream = one_zone_upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{plugins}\"\nstate_dir = \"state\"\n\n\
             [providers.grid]\nplugin = \"electricity-maps\"\n\
             settings = {{ api_token = \"em-secret-token\", base_url = \"{origin}\" }}\n\
             allow_http = [\"{origin}\"]\nkey_value = true\n\n\
             [environment]\nprovider = \"grid\"\n\
             zones = {{ \"eu-central-1\" = \"DE\", \"eu-west-3\" = \"FR\", \"eu-north-1\" = \"SE\" }}\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n\n\
             [providers.meter]\nplugin = \"mock-meter\"\n\n\
             [accounts.demo]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
            plugins = plugin_dir().display(),
            origin = upstream.origin(),
        ),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["plugin", "check", ELECTRICITY_MAPS, "--config"])
        .arg(&config)
        .output()
        .expect("run carbonaut");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused zone fails the check:\n{text}"
    );
    for line in [
        "environment.collect (3 locations: DE, FR, SE): ok in ",
        // [DE FR SE] refused → [DE] priced, [FR SE] refused → [FR] refused, [SE] refused.
        ", 5 call(s); 1 priced, 2 refused\n",
        "(remembered from 0 s ago)",
        "  DE: priced, 302 gCO2eq/kWh (estimated): {\"location_id\":\"DE\",",
        "  FR: REFUSED (the daemon asks it again alone after a backoff; the other zones stay \
         priced): plugin electricity-maps 0.1.0: environment.collect returned an error: \
         unauthorized: Electricity Maps refused zone FR (401 on carbon-intensity/latest: Request \
         unauthorized for zoneKey=FR,requestType=latest,dataType=carbon-intensity.)",
        "  SE: REFUSED ",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(!text.contains("em-secret-token"), "the token was printed");
}
