//! Utilisation from a stock Prometheus, whose default `scrape_interval` is 1m: the plugin's
//! `rate()` window must hold two samples of a target scraped every 60 s.
//!
//! Waiting for real 60 s scrapes would take minutes, so the samples a 60 s scrape would have
//! stored (ten minutes of node_exporter's idle CPU seconds, one sample a minute, the last a few
//! seconds ago) are written into the server's storage with Debian's `promtool tsdb
//! create-blocks-from openmetrics` before it starts. No time is scaled: the server, its
//! configuration (no `scrape_interval`, so Prometheus' default 1m), its targets API and the
//! spacing of the samples are those of a stock setup.

use std::process::{Command, Stdio};

use crate::support::*;

use super::harness::*;

/// Idle seconds per second of the two CPUs in the written samples: utilisation 1 − 0.5.
const IDLE_RATES: [f64; 2] = [0.75, 0.25];
const MINUTE_S: u64 = 60;

#[test]
fn a_stock_prometheus_scraping_every_minute_gives_utilisation() {
    let promtool = require_tool("promtool");
    // Loaded first: the written samples age while the test runs.
    let h = Harness::new();
    let prometheus = Prometheus::start_with(|dir, port| {
        let samples = dir.join("samples.om");
        let now_s = now_ms() / 1000;
        let mut text = String::from("# TYPE node_cpu_seconds counter\n");
        for (cpu, rate) in IDLE_RATES.iter().enumerate() {
            for minute in (0..10).rev() {
                // The last sample 5 s ago: a 1m window at the query's time holds only it.
                let at = now_s - 5 - minute * MINUTE_S;
                let value = 1000.0 + rate * (600 - minute * MINUTE_S) as f64;
                text.push_str(&format!(
                    "node_cpu_seconds_total{{cpu=\"{cpu}\",instance=\"box-1:9100\",job=\"node\",\
                     mode=\"idle\"}} {value} {at}\n"
                ));
            }
        }
        text.push_str("# EOF\n");
        std::fs::write(&samples, text).expect("write the samples");
        let status = Command::new(promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&samples)
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .status()
            .expect("run promtool");
        assert!(status.success(), "promtool failed");

        // Debian's default configuration, less its node job: no global section at all.
        format!(
            "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: \
             ['127.0.0.1:{port}']\n"
        )
    });
    wait_until(30, "the written samples", || {
        series_count(&prometheus, "node_cpu_seconds_total").and_then(|n| {
            (n == 2)
                .then_some(())
                .ok_or(format!("{n} series of the written samples"))
        })
    });

    let port = prometheus.port();
    let url = format!("http://127.0.0.1:{port}");
    let grants = origin(format!("127.0.0.1:{port}"));
    let box1 = [resource("box-1:9100", "box-1", None)];
    let stock = [("url", url.as_str()), ("sources", "node_exporter")];
    let got = h.collect(&grants, &stock, &box1).expect("collect");
    assert_eq!(got.len(), 1, "utilisation on a stock setup: {got:?}");
    let expected = 1.0 - IDLE_RATES.iter().sum::<f64>() / IDLE_RATES.len() as f64;
    assert!(close(got[0].cpu_utilization_ratio, expected), "{got:?}");

    // The window this plugin used to default to, one scrape interval, sees one sample.
    let one_interval = with(&stock, "rate_window", "1m");
    let got = h.collect(&grants, &one_interval, &box1).expect("collect");
    assert!(got.is_empty(), "one sample cannot make a rate: {got:?}");

    // What the operator of that setting reads, from the real binary against the same server:
    // the warning names the window to write instead, from the server's own scrape interval.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["plugin", "check", PROMETHEUS])
        .args(["--setting", &format!("url={url}")])
        .args(["--setting", "sources=node_exporter"])
        .args(["--setting", "rate_window=1m"])
        .args(["--emulator", &url])
        .output()
        .expect("run carbonaut plugin check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("is shorter than 4 scrape intervals")
            && text.contains("(1m each)")
            && text.contains("set rate_window = ")
            && text.contains("4m"),
        "{text}"
    );
}
