//! The Carbon Aware SDK-compatible routes on a running daemon (issue 25), asked as the SDK's
//! own client tests ask (`src/clients/tests/tests.postman_collection.json`: `GET
//! /emissions/byLocation?location=...`, 200, a JSON array, exactly the keys `location`,
//! `time`, `rating`, the location asked, every time within the range) and as its
//! documentation shows the forecast and average answers; the numbers checked against what
//! carbonaut's own API serves for the same data. mock-grid forecasts (its daily curve), a
//! restart keeps the forecasts, and the routes move under `[server] carbon_aware_prefix`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;
use carbonaut_store::history::parse_instant;

fn config(dir: &std::path::Path, forecast: &str, extra: &str) -> std::path::PathBuf {
    config_with(dir, "mock-grid", forecast, extra)
}

/// `grid_plugin` backs the provider instance `grid`.
fn config_with(
    dir: &std::path::Path,
    grid_plugin: &str,
    forecast: &str,
    extra: &str,
) -> std::path::PathBuf {
    let file = dir.join("carbonaut.toml");
    std::fs::write(
        &file,
        format!(
            "[paths]\nplugin_dir = {:?}\nstate_dir = \"state\"\n\n{extra}\n\
             [intervals]\nresource_metrics = \"1s\"\nenvironment = \"1s\"\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n\
             settings = {{ projects = 1, resources_per_project = 3 }}\n\n\
             [providers.meter]\nplugin = \"mock-meter\"\n\n\
             [providers.grid]\nplugin = \"{grid_plugin}\"\n\n\
             [providers.static]\nplugin = \"static-grid\"\n\n\
             [environment]\nprovider = \"grid\"\nforecast = \"{forecast}\"\n\n\
             [accounts.demo]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
            plugin_dir().display().to_string()
        ),
    )
    .expect("config");
    file
}

fn json(response: reqwest::blocking::Response) -> Value {
    assert_eq!(response.status(), 200, "{}", response.url().clone());
    response.json().expect("JSON")
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn ms(v: &Value) -> u64 {
    parse_instant(v.as_str().expect("a time")).expect("ISO 8601")
}

/// A refusal in ASP.NET's shape, naming `field`.
fn refused(response: reqwest::blocking::Response, field: &str) -> Value {
    assert_eq!(response.status(), 400, "{}", response.url().clone());
    assert!(response.headers().get("content-type").is_some_and(|c| {
        c.to_str()
            .unwrap_or("")
            .starts_with("application/problem+json")
    }));
    let body: Value = response.json().expect("problem JSON");
    assert_eq!(body["status"], 400, "{body}");
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    assert!(body["errors"][field][0].is_string(), "{body}");
    body
}

#[test]
fn sdk_clients_get_the_sdk_shapes_from_carbonauts_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = config(dir.path(), "grid", "");
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);
    // Forecasts for the six regions' countries, and an hour of history priced.
    daemon.wait_for("/metrics", 60, |t| {
        series(
            t,
            "carbonaut_location_carbon_intensity_forecast_grams_per_kilowatt_hour",
        )
        .len()
            == 9
    });
    daemon.wait_for("/api/v1/report?group_by=location", 60, |t| {
        serde_json::from_str::<Value>(t).is_ok_and(|r| {
            r["rows"].as_array().is_some_and(|rows| {
                rows.iter()
                    .any(|row| row["group"] == "DE" && row["mean_intensity_g_per_kwh"].is_f64())
            })
        })
    });

    // The client tests' first request, as written (`byLocation`), for a region.
    let latest = json(daemon.get("/emissions/byLocation?location=eu-central-1"));
    let rows = latest.as_array().expect("array");
    assert!(!rows.is_empty());
    let status: Value = json(daemon.get("/api/v1/status"));
    for row in rows {
        assert_eq!(keys(row), BTreeSet::from(["location", "time", "rating"]));
        assert_eq!(row["location"], "eu-central-1");
        // eu-central-1's resources are priced in DE: its latest intensity.
        let de = status["locations"]["DE"]["mix"]["carbon_intensity"].as_f64();
        assert_eq!(row["rating"].as_f64(), de, "{row}");
    }

    // With a range: the hourly means of the history, every time inside it.
    let now = carbonaut_model::clock::now_ms();
    let (from, to) = (now - 3_600_000, now + 60_000);
    let range = format!(
        "time={}&toTime={}",
        carbonaut_store::history::format_instant(from),
        carbonaut_store::history::format_instant(to)
    );
    let hours = json(daemon.get(&format!("/emissions/bylocation?location=DE&{range}")));
    let hours = hours.as_array().expect("array");
    assert!(!hours.is_empty());
    let report: Value = json(daemon.get("/api/v1/report?group_by=location&step=hour"));
    for row in hours {
        assert_eq!(keys(row), BTreeSet::from(["location", "time", "rating"]));
        assert_eq!(row["location"], "DE");
        let t = ms(&row["time"]);
        assert!((from..=to).contains(&t), "{row} outside the range");
        let hour = t - t % 3_600_000;
        let bucket = report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["group"] == "DE" && ms(&r["start"]) == hour)
            .unwrap_or_else(|| panic!("no report row for {row}: {report}"));
        // The report read a moment later may hold one more collection of the hour.
        let mean = bucket["mean_intensity_g_per_kwh"].as_f64().expect("mean");
        let rating = row["rating"].as_f64().expect("rating");
        assert!(
            (rating - mean).abs() <= mean * 0.05,
            "{row} against {bucket}"
        );
    }

    // Several locations (`location` repeated, as the controller binds them, or `locations`, as
    // the documentation writes them) and the best of them: the lowest rating, ties all kept.
    let many = json(daemon.get("/emissions/bylocations?location=DE&locations=FR&locations=SE"));
    let many = many.as_array().expect("array");
    let named: BTreeSet<&str> = many
        .iter()
        .map(|r| r["location"].as_str().expect("location"))
        .collect();
    assert_eq!(named, BTreeSet::from(["DE", "FR", "SE"]));
    let best = json(daemon.get("/emissions/bylocations/best?location=DE&location=FR&location=SE"));
    let lowest = many
        .iter()
        .map(|r| r["rating"].as_f64().expect("rating"))
        .fold(f64::INFINITY, f64::min);
    for row in best.as_array().expect("array") {
        assert_eq!(
            row["rating"].as_f64(),
            Some(lowest),
            "{best} against {many:?}"
        );
    }

    // Nothing in the range: 204, as the SDK answers.
    let empty = daemon.get("/emissions/bylocation?location=DE&time=1990-01-01&toTime=1990-01-02");
    assert_eq!(empty.status(), 204);

    // The current forecast with two-hour windows, as the documentation's example.
    let forecasts = json(
        daemon.get("/emissions/forecasts/current?location=DE&location=eu-west-3&windowSize=120"),
    );
    let forecasts = forecasts.as_array().expect("array");
    assert_eq!(forecasts.len(), 2);
    assert_eq!(forecasts[1]["location"], "eu-west-3");
    let hourly: Value = json(daemon.get("/api/v1/forecast?location=DE&hours=48"));
    let hourly: Vec<(u64, f64)> = hourly["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            (
                ms(&p["start"]),
                p["carbon_intensity"].as_f64().expect("value"),
            )
        })
        .collect();
    let de = &forecasts[0];
    assert_eq!(
        keys(de),
        BTreeSet::from([
            "generatedAt",
            "requestedAt",
            "location",
            "dataStartAt",
            "dataEndAt",
            "windowSize",
            "optimalDataPoints",
            "forecastData",
        ])
    );
    assert_eq!(de["windowSize"], 120);
    let data = de["forecastData"].as_array().expect("forecastData");
    assert!(!data.is_empty());
    for (i, point) in data.iter().enumerate() {
        assert_eq!(
            keys(point),
            BTreeSet::from(["location", "timestamp", "duration", "value"])
        );
        assert_eq!(point["duration"], 120);
        assert_eq!(point["location"], "DE");
        // The window from the current hour's start on, one hour apart: the mean of two hours.
        let start = ms(&point["timestamp"]);
        assert_eq!(start, hourly[0].0 + i as u64 * 3_600_000, "{point}");
        let by_hand = (hourly[i].1 + hourly[i + 1].1) / 2.0;
        let value = point["value"].as_f64().expect("value");
        assert!((value - by_hand).abs() < 1e-9, "{point}: {by_hand}");
    }
    let optimal = de["optimalDataPoints"].as_array().expect("optimal");
    let lowest = data
        .iter()
        .map(|p| p["value"].as_f64().expect("value"))
        .fold(f64::INFINITY, f64::min);
    assert!(!optimal.is_empty());
    assert!(optimal.iter().all(|p| p["value"].as_f64() == Some(lowest)));
    // The best window of carbonaut's own API over the same span agrees.
    let span_hours = data.len() as u64 + 1;
    let own: Value = json(daemon.get(&format!(
        "/api/v1/best-window?locations=DE&duration=2h&within={span_hours}h"
    )));
    assert!(
        own["mean_intensity"].as_f64().expect("mean") <= lowest + 1e-9,
        "{own}"
    );

    // The same question on the command line, over the running daemon.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
            .args(["best-window", "--url", &daemon.url("")])
            .args(args)
            .output()
            .expect("best-window")
    };
    let out = cli(&["--locations", "DE,FR", "--duration", "2h", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let asked: Value = json(daemon.get("/api/v1/best-window?locations=DE,FR&duration=2h"));
    assert_eq!(printed["start"], asked["start"]);
    assert_eq!(printed["location"], asked["location"]);
    let out = cli(&["--locations", "DE,FR", "--duration", "2h"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "in {} at {}",
            asked["location"].as_str().expect("location"),
            asked["start"].as_str().expect("start")
        )) && text.contains("started now in DE"),
        "{text}"
    );
    let out = cli(&["--locations", "Atlantis", "--duration", "2h"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("404 Not Found: no forecast for location `Atlantis`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Scoped: only the windows inside [dataStartAt, dataEndAt].
    let (s, e) = (hourly[2].0, hourly[8].0);
    let scoped = json(daemon.get(&format!(
        "/emissions/forecasts/current?location=DE&dataStartAt={}&dataEndAt={}&windowSize=60",
        carbonaut_store::history::format_instant(s),
        carbonaut_store::history::format_instant(e)
    )));
    let scoped = scoped[0]["forecastData"].as_array().expect("data");
    assert_eq!(scoped.len(), 6, "hours 2 to 7");
    assert_eq!(ms(&scoped[0]["timestamp"]), s);
    let value = scoped[0]["value"].as_f64().expect("value");
    assert!(
        (value - hourly[2].1).abs() < 1e-9,
        "{value} against {}",
        hourly[2].1
    );

    // The average over the last minute: the hour's recorded mean (or two hours', by time).
    let now = carbonaut_model::clock::now_ms();
    let average = json(daemon.get(&format!(
        "/emissions/average-carbon-intensity?location=DE&startTime={}&endTime={}",
        carbonaut_store::history::format_instant(now - 60_000),
        carbonaut_store::history::format_instant(now)
    )));
    assert_eq!(
        keys(&average),
        BTreeSet::from(["location", "startTime", "endTime", "carbonIntensity"])
    );
    assert!(
        average["carbonIntensity"].as_f64().expect("average") > 0.0,
        "{average}"
    );
    assert!(
        average["startTime"]
            .as_str()
            .expect("time")
            .ends_with("+00:00")
    );
    let batch = daemon.post_json(
        "/emissions/average-carbon-intensity/batch",
        &serde_json::json!([
            {"location": "DE", "startTime": average["startTime"], "endTime": average["endTime"]},
            {"location": "DE", "startTime": average["startTime"], "endTime": average["endTime"]},
        ]),
    );
    assert_eq!(batch.status(), 200);
    let batch: Value = batch.json().expect("JSON");
    assert_eq!(batch[1]["carbonIntensity"], average["carbonIntensity"]);

    // Refusals: ASP.NET's ValidationProblemDetails, naming the field.
    refused(daemon.get("/emissions/bylocation"), "location");
    refused(
        daemon.get("/emissions/bylocation?location=Atlantis"),
        "location",
    );
    refused(
        daemon.get("/emissions/bylocation?location=DE&toTime=2026-01-01"),
        "time",
    );
    refused(
        daemon.get("/emissions/bylocation?location=DE&time=noon"),
        "time",
    );
    refused(daemon.get("/emissions/forecasts/current"), "location");
    refused(
        daemon.get("/emissions/forecasts/current?location=DE&dataStartAt=1990-01-01"),
        "dataStartAt",
    );
    refused(
        daemon.get("/emissions/forecasts/current?location=DE&windowSize=5000"),
        "windowSize",
    );
    refused(
        daemon.get("/emissions/average-carbon-intensity?location=DE&startTime=1990-01-01T00:00:00Z&endTime=1990-01-01T01:00:00Z"),
        "startTime",
    );
    refused(
        daemon.get("/emissions/average-carbon-intensity?location=DE"),
        "startTime",
    );

    // A restart keeps the forecasts: the provider instance `grid` now runs static-grid, which
    // forecasts nothing, and the forecast it made before is served from the state.
    let before: Value = json(daemon.get("/api/v1/forecast?location=DE&hours=48"));
    daemon.stop();
    let file = config_with(dir.path(), "static-grid", "grid", "");
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);
    daemon.wait_for("/api/v1/status", 60, |t| t.contains("\"carbon_intensity\""));
    let after: Value = json(daemon.get("/api/v1/forecast?location=DE&hours=48"));
    assert_eq!(after["generated_at"], before["generated_at"]);
    assert_eq!(after["points"][1], before["points"][1]);
    daemon.stop();
    // Forecasts are kept per provider: another forecast provider does not serve them.
    let file = config(dir.path(), "static", "");
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);
    daemon.wait_for("/api/v1/forecast?location=DE", 60, |t| {
        t.contains("no forecast")
    });
    daemon.stop();
}

#[test]
fn the_routes_move_under_the_configured_prefix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = config(
        dir.path(),
        "grid",
        "[server]\ncarbon_aware_prefix = \"/carbon-aware/\"\n",
    );
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);
    daemon.wait_for("/api/v1/status", 60, |t| t.contains("\"carbon_intensity\""));
    let moved = daemon.get("/carbon-aware/emissions/bylocation?location=DE");
    assert_eq!(moved.status(), 200);
    assert_eq!(
        daemon.get("/emissions/bylocation?location=DE").status(),
        404
    );
    let doc: Value = json(daemon.get("/api/v1/openapi.json"));
    assert!(doc["paths"]["/carbon-aware/emissions/forecasts/current"].is_object());
    assert!(doc["paths"]["/emissions/forecasts/current"].is_null());
    daemon.stop();

    let bad = config(
        dir.path(),
        "grid",
        "[server]\ncarbon_aware_prefix = \"/api\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["check-config", bad.to_str().expect("utf-8")])
        .output()
        .expect("check-config");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("carbonaut.toml:6:") && text.contains("carbon_aware_prefix `/api`"),
        "{text}"
    );
}
