//! Load under reloads (issue 5): the `carbonaut` binary on a loopback port, `/metrics` and the
//! JSON API kept busy for a minute by concurrent clients while plugins are replaced, broken and
//! restored and the config is reloaded, over and over. Reports every request's outcome and the
//! latency percentiles per endpoint; exits non-zero on any failed request.
//!
//! The site: 4 accounts of 5 projects of 50 resources (1000 resources) from mock-cloud and
//! mock-meter, mock-grid for the environment, samples every second. Every 1.5 s the reloader
//! does the next of: swap mock-grid for its next version (a different build), drop a junk
//! `.wasm` next to it, remove the junk, swap back, `POST /api/v1/reload`.
//!
//! Run with `cargo bench -p carbonaut --bench load` (builds the release binary too); set
//! `LOAD_SECONDS` to change the duration (default 60). Figures are in BENCHMARKS.md.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CARBONAUT: &str = env!("CARGO_BIN_EXE_carbonaut");
const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
const MOCK_GRID_NEXT: &str = env!("CARBONAUT_GUEST_MOCK_GRID_NEXT");

/// sha256("admin-secret"): the reloader's token.
const ADMIN_SHA256: &str = "16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01";
const ADMIN_TOKEN: &str = "admin-secret";

const ENDPOINTS: &[&str] = &[
    "/metrics",
    "/api/v1/topology",
    "/api/v1/status",
    "/api/v1/plugins",
];
/// Client threads per endpoint: 16 connections in all, on a 2-core machine.
const CLIENTS_PER_ENDPOINT: usize = 4;

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let site = tempfile::tempdir()?;
    let plugins = site.path().join("plugins");
    std::fs::create_dir(&plugins)?;
    for p in [MOCK_CLOUD, MOCK_METER, MOCK_GRID] {
        std::fs::copy(p, plugins.join(file_name(p)))?;
    }
    let config = site.path().join("carbonaut.toml");
    std::fs::write(&config, config_text(4))?;

    let (mut child, addr) = start(&config)?;
    let base = format!("http://{addr}");
    wait_ready(&base)?;
    eprintln!("load: carbonaut on {addr}; {seconds} s of load with reloads");

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for endpoint in ENDPOINTS {
        for _ in 0..CLIENTS_PER_ENDPOINT {
            let url = format!("{base}{endpoint}");
            let stop = stop.clone();
            clients.push((*endpoint, std::thread::spawn(move || hammer(&url, &stop))));
        }
    }
    let reloads = {
        let stop = stop.clone();
        let base = base.clone();
        let plugins = plugins.clone();
        let config = config.clone();
        std::thread::spawn(move || reload_loop(&base, &plugins, &config, &stop))
    };
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let reload_outcomes = reloads
        .join()
        .map_err(|_| anyhow::anyhow!("reloader panicked"))??;

    let mut failed = 0;
    println!("| endpoint | requests | failed | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for endpoint in ENDPOINTS {
        let mut latencies = Vec::new();
        let mut errors = Vec::new();
        for (_, handle) in clients.extract_if(.., |(e, _)| e == endpoint) {
            let (l, errs) = handle
                .join()
                .map_err(|_| anyhow::anyhow!("client panicked"))?;
            latencies.extend(l);
            errors.extend(errs);
        }
        latencies.sort_unstable();
        failed += errors.len();
        println!(
            "| `{endpoint}` | {} | {} | {:.2} | {:.2} | {:.2} |",
            latencies.len() + errors.len(),
            errors.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.last().map_or(0.0, |d| ms(*d)),
        );
        for e in errors.iter().take(5) {
            println!("  error: {e}");
        }
    }
    println!("\nreloads: {reload_outcomes}");
    let _ = child.kill();
    let _ = child.wait();
    if failed > 0 {
        anyhow::bail!("{failed} requests failed under reloads");
    }
    Ok(())
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn config_text(accounts: usize) -> String {
    let mut text = format!(
        r#"[paths]
plugin_dir = "plugins"
state_dir = "state"

[intervals]
topology_sync = "10s"
resource_metrics = "1s"
environment = "2s"

[providers.cloud]
plugin = "mock-cloud"
settings = {{ projects = 5, resources_per_project = 50 }}

[providers.meter]
plugin = "mock-meter"

[providers.grid]
plugin = "mock-grid"

[environment]
provider = "grid"

[auth]
protect_metrics = false

[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = "{ADMIN_SHA256}"
"#
    );
    for a in 0..accounts {
        text.push_str(&format!(
            "\n[accounts.a{a}]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
        ));
    }
    text
}

fn start(config: &Path) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(CARBONAUT)
        .args(["run", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn,carbonaut=info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(120))?;
    Ok((child, addr))
}

fn wait_ready(base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::blocking::get(format!("{base}/metrics"))
            && r.status().is_success()
            && r.text()
                .is_ok_and(|t| t.contains("carbonaut_resource_energy_joules_total"))
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!("carbonaut never served resource metrics")
}

/// Requests `url` in a loop on one keep-alive connection until `stop`; latencies of the
/// successes, descriptions of the failures (status other than 200, transport errors, empty
/// bodies).
fn hammer(url: &str, stop: &AtomicBool) -> (Vec<Duration>, Vec<String>) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let outcome = client
            .get(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.bytes());
        match outcome {
            Ok(body) if !body.is_empty() => latencies.push(started.elapsed()),
            Ok(_) => errors.push(format!("{url}: empty body")),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    (latencies, errors)
}

/// Cycles through plugin swaps, junk files and API reloads until `stop`; returns a summary.
fn reload_loop(
    base: &str,
    plugins: &Path,
    config: &Path,
    stop: &AtomicBool,
) -> anyhow::Result<String> {
    let client = reqwest::blocking::Client::new();
    let grid = plugins.join("mock-grid.wasm");
    let junk = plugins.join("junk.wasm");
    let mut steps = 0u32;
    while !stop.load(Ordering::Relaxed) {
        match steps % 6 {
            0 => replace(MOCK_GRID_NEXT.as_ref(), &grid)?,
            1 => std::fs::write(&junk, b"\0asm not really")?,
            2 => std::fs::remove_file(&junk)?,
            3 => replace(MOCK_GRID.as_ref(), &grid)?,
            // A config edit: one account more or less.
            4 => std::fs::write(config, config_text(if steps % 12 == 4 { 5 } else { 4 }))?,
            _ => {
                client
                    .post(format!("{base}/api/v1/reload"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()?;
            }
        }
        steps += 1;
        std::thread::sleep(Duration::from_millis(1500));
    }
    let history: serde_json::Value = client
        .get(format!("{base}/api/v1/reloads"))
        .bearer_auth(ADMIN_TOKEN)
        .send()?
        .json()?;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for entry in history.as_array().into_iter().flatten() {
        let outcome = entry["outcome"].as_str().unwrap_or("?").to_owned();
        *outcomes.entry(outcome).or_default() += 1;
    }
    Ok(format!(
        "{steps} reload actions; last {} reloads by outcome: {outcomes:?}",
        outcomes.values().sum::<usize>()
    ))
}

/// Writes through a temporary name, as a deploy tool would, so the watcher never sees half a
/// file.
fn replace(from: &Path, to: &Path) -> anyhow::Result<()> {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp)?;
    std::fs::rename(&tmp, to)?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    ms(sorted[index.min(sorted.len() - 1)])
}
