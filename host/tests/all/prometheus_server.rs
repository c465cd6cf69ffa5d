//! A real Prometheus server (Debian's package, loopback only, temporary storage) scrapes
//! carbonaut and finds the emissions series through its query API.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");

#[test]
fn prometheus_scrapes_emissions_series() {
    let prometheus = require_tool("prometheus");
    let state = tempfile::tempdir().expect("temp dir");
    let daemon = Daemon::start(&[
        "--config",
        QUICKSTART,
        "--state-dir",
        state.path().to_str().expect("utf-8"),
    ]);

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: carbonaut\n    static_configs:\n      - targets: ['{}']\n",
            daemon.addr
        ),
    )
    .expect("write prometheus.yml");
    let port = free_port();
    let mut server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");

    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=carbonaut_resource_emissions_grams_total"
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    let found = loop {
        if let Ok(resp) = reqwest::blocking::get(&query)
            && let Ok(json) = resp.json::<serde_json::Value>()
        {
            let n = json["data"]["result"].as_array().map_or(0, Vec::len);
            if n > 0 {
                break n;
            }
            last = json.to_string();
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!(
                "Prometheus never returned emissions series; last answer: {last}; carbonaut log:\n{}",
                daemon.log()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(found, 40, "one series per quickstart resource");
}
