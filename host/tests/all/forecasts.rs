//! Carbon-aware answers on a running daemon (issue 25, first part): mock-grid forecasts its
//! deterministic daily curve for 48 hours; `/api/v1/forecast` serves it, `/api/v1/best-window`
//! picks the lowest two-hour mean, and `/metrics` has the 1/6/24-hour horizons.

use crate::support::*;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("carbonaut.toml");
    std::fs::write(
        &file,
        format!(
            "[paths]\nplugin_dir = {:?}\nstate_dir = \"state\"\n\n\
             [intervals]\nresource_metrics = \"1s\"\nenvironment = \"1s\"\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n\
             settings = {{ projects = 1, resources_per_project = 3 }}\n\n\
             [providers.meter]\nplugin = \"mock-meter\"\n\n\
             [providers.grid]\nplugin = \"mock-grid\"\n\n\
             [environment]\nprovider = \"grid\"\n\n\
             [accounts.demo]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
            plugin_dir().display().to_string()
        ),
    )
    .expect("config");
    file
}

fn intensities(forecast: &serde_json::Value) -> Vec<f64> {
    forecast["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["carbon_intensity"].as_f64().expect("intensity"))
        .collect()
}

#[test]
fn forecasts_and_the_best_window_from_mock_grid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = config(dir.path());
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);
    daemon.wait_for("/metrics", 60, |t| {
        series(
            t,
            "carbonaut_location_carbon_intensity_forecast_grams_per_kilowatt_hour",
        )
        .len()
            == 9
    });

    // The next 24 hours by default: the hourly points that overlap them, from the hour now in
    // (25 unless now is on the hour); the current one is the mix measured.
    let de: serde_json::Value = daemon
        .get("/api/v1/forecast?location=DE")
        .json()
        .expect("forecast");
    let points = intensities(&de);
    assert!((24..=25).contains(&points.len()), "{de}");
    assert_eq!(de["points"][0]["duration_minutes"], 60.0);
    let status: serde_json::Value = daemon.get("/api/v1/status").json().expect("status");
    let measured = status["locations"]["DE"]["mix"]["carbon_intensity"]
        .as_f64()
        .expect("DE's mix");
    assert!(
        (points[0] - measured).abs() < 1e-9,
        "{points:?} against {measured}"
    );
    let fr: serde_json::Value = daemon
        .get("/api/v1/forecast?location=FR&hours=48")
        .json()
        .expect("forecast");
    let fr_points = intensities(&fr);
    assert!(
        (47..=48).contains(&fr_points.len()),
        "the forecast's 48 hours: {fr}"
    );

    // France's grid is the cleaner at every hour: the best two hours are France's, and their
    // mean is the lowest two consecutive hours' (starting at an hour's start, or now).
    let best: serde_json::Value = daemon
        .get("/api/v1/best-window?locations=DE,FR&duration=2h&within=24h")
        .json()
        .expect("best window");
    assert_eq!(best["location"], "FR", "{best}");
    let mean = best["mean_intensity"].as_f64().expect("mean");
    let lowest = fr_points[1..23]
        .windows(2)
        .map(|w| (w[0] + w[1]) / 2.0)
        .fold(f64::INFINITY, f64::min);
    assert!(mean <= lowest + 1e-9, "{mean} against {lowest}: {best}");
    let now = best["now_mean_intensity"].as_f64().expect("now");
    assert!(
        now >= mean && now <= points.iter().cloned().fold(0.0, f64::max),
        "{best}"
    );
    let saving = best["saving_g_per_kwh"].as_f64().expect("saving");
    assert!((saving - (now - mean)).abs() < 1e-9, "{best}");

    // A window longer than the forecast: 400; a location without one: 404.
    let too_long = daemon.get("/api/v1/best-window?locations=DE&duration=72h&within=96h");
    assert_eq!(too_long.status(), 400);
    let unknown = daemon.get("/api/v1/best-window?locations=XX&duration=2h");
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown
            .text()
            .expect("body")
            .contains("no forecast for location `XX`")
    );
    assert_eq!(
        daemon.get("/api/v1/forecast?location=DE&hours=0").status(),
        400
    );
    daemon.stop();
}
