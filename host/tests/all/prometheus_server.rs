//! A real Prometheus server (Debian's package, loopback only, temporary storage) scrapes
//! carbonaut and finds the emissions series through its query API.

use std::time::{Duration, Instant};

use crate::support::*;

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");

#[test]
fn prometheus_scrapes_emissions_series() {
    let state = tempfile::tempdir().expect("temp dir");
    let daemon = Daemon::start(&[
        "--config",
        QUICKSTART,
        "--state-dir",
        state.path().to_str().expect("utf-8"),
    ]);
    let targets = [daemon.addr.to_string()];
    let prometheus = Prometheus::start(&format!(
        "{EVERY_SECOND}{}",
        job("carbonaut", "/metrics", &targets)
    ));

    let deadline = Instant::now() + Duration::from_secs(90);
    let found = loop {
        let last = match prometheus.query("carbonaut_resource_emissions_grams_total") {
            Ok(series) if !series.is_empty() => break series.len(),
            Ok(_) => "no series yet".to_owned(),
            Err(why) => why,
        };
        assert!(
            Instant::now() < deadline,
            "Prometheus never returned emissions series; last answer: {last}; carbonaut log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(found, 40, "one series per quickstart resource");
}

/// What Prometheus asks for (`Accept-Encoding: gzip`): one gzip member whose text is the same
/// exposition as the uncompressed answer, several times smaller; the test above shows a real
/// Prometheus reading it.
#[test]
fn metrics_are_gzipped_for_scrapers_that_accept_it() {
    use std::io::Read as _;
    let state = tempfile::tempdir().expect("temp dir");
    let daemon = Daemon::start(&[
        "--config",
        QUICKSTART,
        "--state-dir",
        state.path().to_str().expect("utf-8"),
    ]);
    daemon.wait_for("/metrics", 60, |t| {
        t.contains("carbonaut_resource_emissions_grams_total{")
    });
    let client = reqwest::blocking::Client::new();
    let plain = client.get(daemon.url("/metrics")).send().expect("plain");
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.text().expect("text");
    let zipped = client
        .get(daemon.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .expect("gzip");
    assert_eq!(
        zipped.headers()["content-encoding"],
        "gzip",
        "{:?}",
        zipped.headers()
    );
    let body = zipped.bytes().expect("body");
    let mut text = String::new();
    // GzDecoder stops after one member: reading it all proves the body is one member.
    flate2::read::GzDecoder::new(body.as_ref())
        .read_to_string(&mut text)
        .expect("valid gzip with a matching CRC and length");
    assert!(
        body.len() * 4 < text.len(),
        "{} compressed bytes for {}",
        body.len(),
        text.len()
    );
    // The static facts are the same in both; live counters may have moved in between.
    let info = |t: &str| -> Vec<String> {
        series(t, "carbonaut_resource_info")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(info(&text), info(&plain));
    assert_eq!(info(&text).len(), 40);
    // The live self-metrics follow the compressed snapshot text.
    assert!(text.contains("\ncarbonaut_plugin_calls_total{"), "{text}");
    assert!(text.ends_with('\n'));
}
