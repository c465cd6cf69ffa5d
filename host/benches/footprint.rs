//! Footprint of a long-running exporter (issue 13), measured on the release binary with the
//! mock plugins (mock-cloud, mock-meter, mock-grid):
//!
//! - `rss` (F1): 10 accounts × 1 000 resources, VmRSS after each of 10 collections, VmHWM,
//!   RssAnon/RssFile and `smaps_rollup`; Debian's `prometheus-node-exporter`, scraped as
//!   often, measured in the same run for comparison.
//! - `soak` (F2): two instances side by side for `--minutes` (10 by default) at 10 000
//!   resources, one whose `resource_metrics` interval (100 ms) is shorter than a collection
//!   (overrun: back to back) and one at 5 s; VmRSS and the state directory's size every 10 s.
//! - `scale` (F4): 100 accounts × 1 000 resources: collection time (the daemon's own
//!   `samples collected ... elapsed_ms` log line) and RSS, against `rss` for the slope.
//! - `labels` (F7): 50 000 resources with 20 labels of 200 characters, three topology syncs
//!   of the same inventory: VmRSS after each, and `/healthz` latency throughout (every 20 ms).
//!
//! `cargo bench -p carbonaut --bench footprint -- [rss|soak|scale|labels]... [--minutes N]`
//! (no section named: all of them). Figures and the machine are in BENCHMARKS.md.

// The tests' launcher of Debian's node_exporter; the bench uses a part of it.
#[allow(dead_code)]
#[path = "../tests/all/support/external.rs"]
mod external;

#[path = "support/process.rs"]
mod process;
use process::{loadavg, median, status_mib};

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
const CARBONAUT: &str = env!("CARGO_BIN_EXE_carbonaut");
const MIB: f64 = 1024.0;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let minutes = args
        .iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1)?.parse::<u64>().ok())
        .unwrap_or(10);
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["rss", "soak", "scale", "labels"].contains(a))
        .collect();
    let wants = |section: &str| named.is_empty() || named.contains(&section);
    println!("load average at the start: {}", loadavg());
    let mut ten_k = None;
    if wants("rss") {
        ten_k = Some(rss());
    }
    if wants("soak") {
        soak(minutes);
    }
    if wants("scale") {
        scale(ten_k.as_ref());
    }
    if wants("labels") {
        labels();
    }
    println!("load average at the end: {}", loadavg());
}

// ---------------------------------------------------------------------------------------
// F1

struct Steady {
    rss_mib: f64,
    collection_ms: Vec<u64>,
    resources: usize,
}

fn rss() -> Steady {
    println!("\n## F1: RSS at 10 accounts x 1 000 resources, after 10 collections\n");
    let setup = Setup::new(10, 10, 100, "30s", "2s", &[]);
    let daemon = setup.start();
    daemon.wait_collections(1, Duration::from_secs(180));
    let after_first = daemon.collections();
    let mut rss = Vec::new();
    for n in 1..=10 {
        daemon.wait_collections(after_first + n, Duration::from_secs(120));
        rss.push(daemon.status_mib("VmRSS:"));
    }
    let times = daemon.collection_ms();
    println!(
        "| collection | {} |",
        (1..=10)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---:|".repeat(10));
    println!(
        "| VmRSS MiB | {} |",
        rss.iter()
            .map(|m| format!("{m:.1}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!(
        "\nVmHWM {:.1} MiB, RssAnon {:.1} MiB, RssFile {:.1} MiB; collections (ms, the daemon's log): {:?}",
        daemon.status_mib("VmHWM:"),
        daemon.status_mib("RssAnon:"),
        daemon.status_mib("RssFile:"),
        &times[times.len().saturating_sub(10)..]
    );
    println!("smaps_rollup:\n{}", daemon.smaps_rollup());
    // As an operator measures it: curl /metrics without gzip, three times, then ps (the
    // hardening issue's item 6). Each scrape is read to its end; the 10 MiB text inflated.
    let client = reqwest::blocking::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    for _ in 0..3 {
        let text = client
            .get(format!("{}/metrics", daemon.base))
            .send()
            .and_then(|r| r.text())
            .expect("an uncompressed scrape");
        assert!(
            text.len() > 1_000_000,
            "the whole text: {} bytes",
            text.len()
        );
    }
    let plain = daemon.status_mib("VmRSS:");
    println!(
        "\nafter three uncompressed scrapes: VmRSS {plain:.1} MiB, VmHWM {:.1} MiB",
        daemon.status_mib("VmHWM:")
    );
    let last = (*rss.last().unwrap_or(&0.0)).max(plain);
    let node = node_exporter_rss();
    match node {
        Some(n) => println!(
            "\nprometheus-node-exporter, same run, after 10 scrapes: VmRSS {n:.1} MiB; carbonaut / node_exporter = {:.2}",
            last / n
        ),
        None => println!("\nprometheus-node-exporter not installed: no comparison"),
    }
    println!(
        "\n**F1: {last:.1} MiB after 10 collections and three uncompressed scrapes (goal <= 64 MiB{})**",
        node.map(|n| format!(", <= {:.1} MiB = 4 x node_exporter", 4.0 * n))
            .unwrap_or_default()
    );
    Steady {
        rss_mib: last,
        collection_ms: times,
        resources: 10_000,
    }
}

fn node_exporter_rss() -> Option<f64> {
    external::find_tool("prometheus-node-exporter")?;
    let node = external::NodeExporter::start(&[]);
    let url = format!("http://127.0.0.1:{}/metrics", node.port());
    let mut scraped = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while scraped < 10 && Instant::now() < deadline {
        if reqwest::blocking::get(&url).and_then(|r| r.text()).is_ok() {
            scraped += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (scraped == 10).then(|| status_mib(node.pid(), "VmRSS:"))
}

// ---------------------------------------------------------------------------------------
// F2

fn soak(minutes: u64) {
    println!(
        "\n## F2: soak, {minutes} min, 10 000 resources, overrun (100 ms) and normal (5 s) side by side\n"
    );
    let overrun = Setup::new(10, 10, 100, "30s", "100ms", &[]);
    let normal = Setup::new(10, 10, 100, "30s", "5s", &[]);
    let daemons = [overrun.start(), normal.start()];
    for d in &daemons {
        d.wait_collections(1, Duration::from_secs(180));
    }
    let started = Instant::now();
    let mut rows: Vec<(u64, [(f64, f64); 2])> = Vec::new();
    let end = Duration::from_secs(minutes * 60);
    let mut next = Duration::ZERO;
    while next <= end {
        while started.elapsed() < next {
            std::thread::sleep(Duration::from_millis(100));
        }
        let sample = [0, 1].map(|i| {
            let state = if i == 0 { &overrun } else { &normal };
            (daemons[i].status_mib("VmRSS:"), dir_mib(&state.state))
        });
        rows.push((next.as_secs(), sample));
        next += Duration::from_secs(10);
    }
    println!("| s | overrun VmRSS MiB | overrun state MiB | normal VmRSS MiB | normal state MiB |");
    println!("|---:|---:|---:|---:|---:|");
    for (s, [(r0, d0), (r1, d1)]) in &rows {
        if s % 60 == 0 {
            println!("| {s} | {r0:.1} | {d0:.1} | {r1:.1} | {d1:.1} |");
        }
    }
    for (i, name) in ["overrun", "normal"].iter().enumerate() {
        let at_minute = rows.iter().find(|(s, _)| *s >= 60).map(|(_, r)| r[i]);
        let after: Vec<(f64, f64)> = rows
            .iter()
            .filter(|(s, _)| *s >= 60)
            .map(|(_, r)| r[i])
            .collect();
        let (Some((rss1, dir1)), false) = (at_minute, after.is_empty()) else {
            continue;
        };
        let max_rss = after.iter().map(|r| r.0).fold(f64::MIN, f64::max);
        let max_dir = after.iter().map(|r| r.1).fold(f64::MIN, f64::max);
        let runs = daemons[i].collections();
        println!(
            "\n**F2 {name}: {runs} collections; VmRSS {rss1:.1} MiB at 1 min, at most {max_rss:.1} after: growth {:.1} MiB (goal <= 5); state {dir1:.1} MiB at 1 min, at most {max_dir:.1} after: {:.2}x (goal <= 2x)**",
            max_rss - rss1,
            max_dir / dir1.max(0.001)
        );
        // The same phase every time (just after a collection), a minute's median against the
        // first minute's: growth, without the spread between phases a timer's samples read.
        let after = daemons[i].rss_after_collections(started);
        let per_minute: Vec<f64> = (0..minutes)
            .filter_map(|m| {
                let mut in_minute: Vec<f64> = after
                    .iter()
                    .filter(|(t, _)| t.as_secs() / 60 == m)
                    .map(|(_, rss)| *rss)
                    .collect();
                in_minute.sort_by(f64::total_cmp);
                in_minute.get(in_minute.len() / 2).copied()
            })
            .collect();
        // The goal counts from the end of the first minute: minute 2 (60–120 s) is the base.
        if let Some((first, rest)) = per_minute.get(1..).and_then(<[f64]>::split_first) {
            let highest = rest.iter().copied().fold(*first, f64::max);
            println!(
                "\nF2 {name}, VmRSS just after each collection ({} read), median per minute (MiB): {}",
                after.len(),
                per_minute
                    .iter()
                    .map(|m| format!("{m:.1}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            println!(
                "**F2 {name} at a fixed phase: {first:.1} MiB in minute 2, at most {highest:.1} in a later one: growth {:.1} MiB (goal <= 5)**",
                highest - first
            );
        }
        let times = daemons[i].collection_ms();
        if !times.is_empty() {
            println!(
                "collection ms: median {} (of {})",
                median(&times),
                times.len()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// F4

fn scale(ten_k: Option<&Steady>) {
    println!("\n## F4: 100 accounts x 1 000 resources\n");
    let setup = Setup::new(100, 10, 100, "10m", "10s", &[]);
    let daemon = setup.start();
    let started = Instant::now();
    daemon.wait_collections(1, Duration::from_secs(600));
    println!(
        "first full collection {:.1} s after the start",
        started.elapsed().as_secs_f64()
    );
    let first = daemon.collections();
    daemon.wait_collections(first + 5, Duration::from_secs(600));
    let rss = daemon.status_mib("VmRSS:");
    let times = daemon.collection_ms();
    let tail = &times[times.len().saturating_sub(5)..];
    let med = median(tail);
    println!(
        "VmRSS {rss:.1} MiB (VmHWM {:.1}); collections (ms): {tail:?}, median {med}",
        daemon.status_mib("VmHWM:")
    );
    println!("smaps_rollup:\n{}", daemon.smaps_rollup());
    println!("\n**F4: collection median {med} ms (goal < 1000), VmRSS {rss:.1} MiB (goal < 400)**");
    if let Some(small) = ten_k {
        let small_ms = median(&small.collection_ms[small.collection_ms.len().saturating_sub(10)..]);
        let extra = (100_000 - small.resources) as f64;
        println!(
            "slope from 10 000 to 100 000 resources: {:.2} KiB and {:.3} ms per 1 000 resources... per resource {:.2} KiB, {:.1} µs",
            (rss - small.rss_mib) * MIB / extra * 1000.0,
            (med as f64 - small_ms as f64) / extra * 1000.0,
            (rss - small.rss_mib) * MIB / extra,
            (med as f64 - small_ms as f64) * 1000.0 / extra
        );
    }
}

// ---------------------------------------------------------------------------------------
// F7

fn labels() {
    println!("\n## F7: 50 000 resources with 20 labels of 200 characters, three syncs\n");
    let setup = Setup::new(
        5,
        10,
        1000,
        "45s",
        "30s",
        &[("extra_labels", "19"), ("label_bytes", "200")],
    );
    let daemon = setup.start();
    let healthz = format!("{}/healthz", daemon.base);
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let poller = {
        let (stop, latencies) = (stop.clone(), latencies.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client");
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = client
                    .get(&healthz)
                    .send()
                    .is_ok_and(|r| r.status().is_success());
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                latencies
                    .lock()
                    .expect("latencies")
                    .push(if ok { ms } else { f64::INFINITY });
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut after = Vec::new();
    for n in 1..=3 {
        daemon.wait_syncs(n, Duration::from_secs(600));
        after.push((daemon.status_mib("VmRSS:"), daemon.status_mib("VmHWM:")));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    let mut l = latencies.lock().expect("latencies").clone();
    l.sort_by(f64::total_cmp);
    let q = |q: f64| l[((q * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1];
    let syncs = daemon.sync_ms();
    println!("| after sync | VmRSS MiB | VmHWM MiB |\n|---:|---:|---:|");
    for (i, (rss, hwm)) in after.iter().enumerate() {
        println!("| {} | {rss:.1} | {hwm:.1} |", i + 1);
    }
    println!(
        "sync rounds (ms, the daemon's log): {syncs:?}; /healthz {} requests: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        l.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
    let growth = (after[2].0 / after[0].0 - 1.0) * 100.0;
    println!(
        "\n**F7: VmRSS after the third sync {:.1} MiB vs {:.1} after the first: {growth:+.1} % (goal <= +5 %); /healthz p99 {:.2} ms (goal < 50)**",
        after[2].0,
        after[0].0,
        q(0.99)
    );
}

// ---------------------------------------------------------------------------------------
// Set-up and the daemon

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new(
        accounts: usize,
        projects: usize,
        per_project: usize,
        sync: &str,
        samples: &str,
        extra: &[(&str, &str)],
    ) -> Setup {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugins dir");
        for plugin in [MOCK_CLOUD, MOCK_METER, MOCK_GRID] {
            let name = Path::new(plugin).file_name().expect("a file name");
            std::fs::copy(plugin, plugins.join(name)).expect("copy a mock plugin");
        }
        let state = dir.path().join("state");
        let extra: String = extra.iter().map(|(k, v)| format!(", {k} = {v}")).collect();
        let mut text = format!(
            "[paths]\nplugin_dir = {plugins:?}\nstate_dir = {state:?}\n\n[intervals]\n\
             topology_sync = \"{sync}\"\nresource_metrics = \"{samples}\"\nenvironment = \"1m\"\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n[providers.meter]\nplugin = \"mock-meter\"\n\
             [providers.grid]\nplugin = \"mock-grid\"\n\n[environment]\nprovider = \"grid\"\n"
        );
        for a in 0..accounts {
            text.push_str(&format!(
                "\n[accounts.account{a:03}]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
                 settings = {{ projects = {projects}, resources_per_project = {per_project}{extra} }}\n"
            ));
        }
        let config = dir.path().join("carbonaut.toml");
        std::fs::write(&config, text).expect("write the config");
        Setup {
            _dir: dir,
            config,
            state,
        }
    }

    fn start(&self) -> Daemon {
        Daemon::start(&self.config)
    }
}

/// `carbonaut run`, its log read for the address and the collector's timings; killed when
/// dropped.
struct Daemon {
    child: std::process::Child,
    base: String,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    collections: Vec<u64>,
    /// VmRSS (MiB) read as each collection's line arrives, and when: the same phase every
    /// time (just after a publish), where a sample on a timer lands at any phase.
    after_collection: Vec<(Instant, f64)>,
    syncs: Vec<u64>,
    tail: std::collections::VecDeque<String>,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = std::process::Command::new(CARBONAUT)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info,carbonaut::collect=debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("carbonaut starts");
        let stderr = child.stderr.take().expect("its stderr");
        let log = Arc::new(Mutex::new(Log::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let pid = child.id();
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
                let elapsed = line
                    .split("elapsed_ms=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok());
                let mut log = sink.lock().expect("the log");
                match elapsed {
                    Some(ms) if line.contains("samples collected") => {
                        log.collections.push(ms);
                        let rss = status_mib(pid, "VmRSS:");
                        log.after_collection.push((Instant::now(), rss));
                    }
                    Some(ms) if line.contains("sync round done") => log.syncs.push(ms),
                    _ => {}
                }
                log.tail.push_back(line);
                if log.tail.len() > 50 {
                    log.tail.pop_front();
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("carbonaut listens within 2 minutes");
        Daemon {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    fn collections(&self) -> usize {
        self.log.lock().expect("the log").collections.len()
    }

    /// VmRSS just after each collection since `since`, with its time after `since`.
    fn rss_after_collections(&self, since: Instant) -> Vec<(Duration, f64)> {
        let log = self.log.lock().expect("the log");
        log.after_collection
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|(at, rss)| (*at - since, *rss))
            .collect()
    }

    fn collection_ms(&self) -> Vec<u64> {
        self.log.lock().expect("the log").collections.clone()
    }

    fn sync_ms(&self) -> Vec<u64> {
        self.log.lock().expect("the log").syncs.clone()
    }

    fn wait_collections(&self, n: usize, timeout: Duration) {
        self.wait(timeout, |log| log.collections.len() >= n, "collections");
    }

    fn wait_syncs(&self, n: usize, timeout: Duration) {
        self.wait(timeout, |log| log.syncs.len() >= n, "syncs");
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Log) -> bool, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let log = self.log.lock().expect("the log");
                if done(&log) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "waited {timeout:?} for {what}; the log ends:\n{}",
                    log.tail.iter().cloned().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn status_mib(&self, field: &str) -> f64 {
        status_mib(self.child.id(), field)
    }

    fn smaps_rollup(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.child.id()))
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                [
                    "Rss:",
                    "Anonymous:",
                    "Private_Dirty:",
                    "Shared_Clean:",
                    "Private_Clean:",
                ]
                .iter()
                .any(|f| l.starts_with(f))
            })
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes of the files under `dir`, in MiB.
fn dir_mib(dir: &Path) -> f64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir) as f64 / MIB / MIB
}
