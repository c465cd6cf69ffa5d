//! Serving while busy: `/healthz` and `/metrics` (gzip) latency and the resident memory of the
//! release `carbonaut` binary while collections of a label-heavy site run back to back
//! (issue "floors", item 5, and issue "hardening", item 5).
//!
//! The site: mock-cloud resources with 20 labels (`team` and 19 extra ones) of 200 characters
//! (19 of them; `team` is short), read by mock-meter, priced by mock-grid; `resource_metrics
//! = "100ms"`, shorter than a collection, so collections run back to back; a topology sync
//! every `topology_sync` (60 s by default), so the run also holds syncs of the same inventory.
//! Two layouts of the same 50 000 resources: `one` account of 50 projects × 1 000, or `five`
//! accounts of 10 × 1 000.
//!
//! Throughout (from the first answer of `/healthz` to the end): one client polls `/healthz`
//! every 20 ms, one scrapes `/metrics` with `Accept-Encoding: gzip` every 250 ms (reading the
//! whole body; every tenth body is inflated to check it is one valid gzip member), and with
//! `--plain` a third scrapes `/metrics` uncompressed every 2 s (the server inflates it). VmRSS
//! and VmHWM from `/proc/PID/status` every 500 ms. The daemon's own `samples collected` and
//! `sync round done` debug lines give the collections' and syncs' times.
//!
//! ```sh
//! cargo bench -p carbonaut --bench busy -- [one|five] [--seconds N] [--sync 60s] [--plain]
//! CARBONAUT_BIN=path/to/another/carbonaut cargo bench -p carbonaut --bench busy -- one
//! ```
//!
//! `CARBONAUT_BIN` runs another build of the binary (an older commit's, for a before/after)
//! with this build's plugins. Figures are in BENCHMARKS.md ("Serving while busy").

#[path = "support/process.rs"]
mod process;
use process::{loadavg, median, status_mib};

use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
const CARBONAUT: &str = env!("CARGO_BIN_EXE_carbonaut");
/// Labels of 200 characters beside `team`: 20 labels a resource.
const EXTRA_LABELS: usize = 19;
const LABEL_BYTES: usize = 200;
const RESOURCES: usize = 50_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let seconds: u64 = value("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let sync = value("--sync").unwrap_or_else(|| "60s".into());
    let plain = args.iter().any(|a| a == "--plain");
    let accounts = if args.iter().any(|a| a == "five") {
        5
    } else {
        1
    };
    let binary = std::env::var("CARBONAUT_BIN").unwrap_or_else(|_| CARBONAUT.into());
    println!(
        "# busy: {RESOURCES} resources in {accounts} account(s), {} labels of {LABEL_BYTES} characters, \
         collections back to back, sync every {sync}, {seconds} s; binary {binary}; load average {}",
        EXTRA_LABELS + 1,
        loadavg()
    );
    // The label text the plugin hands over: 19 values of 200 bytes and `team-N` (6), keys
    // `extra-K` (7-8) and `team` (4), per resource.
    let payload: usize = RESOURCES
        * ((0..EXTRA_LABELS)
            .map(|k| format!("extra-{k}").len() + LABEL_BYTES)
            .sum::<usize>()
            + 4
            + 6);
    println!(
        "label payload {:.1} MB ({payload} bytes)",
        payload as f64 / 1e6
    );

    let site = Site::new(accounts, &sync);
    let daemon = Daemon::start(&binary, &site.config);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let healthz = poll(
        started,
        &stop,
        format!("{}/healthz", daemon.base),
        false,
        Duration::from_millis(20),
    );
    let gzip = poll(
        started,
        &stop,
        format!("{}/metrics", daemon.base),
        true,
        Duration::from_millis(250),
    );
    let plain_poll = plain.then(|| {
        poll(
            started,
            &stop,
            format!("{}/metrics", daemon.base),
            false,
            Duration::from_secs(2),
        )
    });
    let rss = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, rss, pid) = (stop.clone(), rss.clone(), daemon.child.id());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let sample = (
                    started.elapsed().as_secs_f64(),
                    status_mib(pid, "VmRSS:"),
                    status_mib(pid, "VmHWM:"),
                );
                rss.lock().expect("rss").push(sample);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let healthz = healthz.join().expect("healthz poller");
    let gzip = gzip.join().expect("gzip poller");
    let plain = plain_poll.map(|p| p.join().expect("plain poller"));
    let _ = sampler.join();
    let log = daemon.log.lock().expect("log");
    let rss = rss.lock().expect("rss");

    println!("\n| route | requests | failed | p50 ms | p99 ms | max ms | body bytes |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, polled) in [("/healthz", Some(&healthz)), ("/metrics gzip", Some(&gzip))]
        .into_iter()
        .chain([("/metrics plain", plain.as_ref())])
    {
        if let Some(p) = polled {
            p.row(name);
        }
    }
    for (name, polled) in [("/healthz", &healthz), ("/metrics gzip", &gzip)] {
        let slow: Vec<String> = polled
            .slow
            .iter()
            .map(|(at, ms)| format!("{at:.1} s: {ms:.0} ms"))
            .collect();
        println!("{name} requests over 200 ms (sent at): {}", slow.join(", "));
    }
    println!(
        "daemon log, seconds from the start: syncs done at {:?}, first collection at {:?}",
        log.sync_at, log.first_collection_at
    );
    let after_first = rss
        .iter()
        .filter(|(at, _, _)| log.first_collection_at.is_some_and(|f| *at >= f))
        .collect::<Vec<_>>();
    let max_rss = rss.iter().map(|r| r.1).fold(0.0, f64::max);
    let hwm = rss.last().map_or(f64::NAN, |r| r.2);
    let mut steady: Vec<f64> = after_first.iter().map(|r| r.1).collect();
    steady.sort_by(f64::total_cmp);
    println!(
        "\nVmRSS MiB: max {max_rss:.1}, after the first collection min {:.1} / median {:.1} / max {:.1} \
         ({} samples); VmHWM {hwm:.1} MiB; last {:.1}",
        steady.first().copied().unwrap_or(f64::NAN),
        steady.get(steady.len() / 2).copied().unwrap_or(f64::NAN),
        steady.last().copied().unwrap_or(f64::NAN),
        steady.len(),
        rss.last().map_or(f64::NAN, |r| r.1),
    );
    println!(
        "VmHWM / label payload = {:.2} (goal <= 3)",
        hwm * 1024.0 * 1024.0 / payload as f64
    );
    println!(
        "first collection logged {:.1} s after the start; collections {} (ms: median {}, max {}); syncs (ms) {:?}",
        log.first_collection_at.unwrap_or(f64::NAN),
        log.collections.len(),
        median(&log.collections),
        log.collections.iter().max().copied().unwrap_or(0),
        log.syncs
    );
    println!("RSS every 10 s (s: VmRSS/VmHWM MiB):");
    let mut next = 0.0;
    let mut line = Vec::new();
    for (at, r, h) in rss.iter() {
        if *at >= next {
            line.push(format!("{at:.0}: {r:.0}/{h:.0}"));
            next += 10.0;
        }
    }
    println!("  {}", line.join(", "));
    println!("load average at the end: {}", loadavg());
    let failed = healthz.failed + gzip.failed + plain.as_ref().map_or(0, |p| p.failed);
    if failed > 0 {
        println!("\n{failed} failed requests; the daemon's log ends:");
        for l in &log.tail {
            println!("  {l}");
        }
    }
}

/// What one poller saw.
struct Polled {
    latencies_ms: Vec<f64>,
    /// (seconds from the start, ms) of requests that took longer than 200 ms.
    slow: Vec<(f64, f64)>,
    failed: usize,
    bytes: usize,
}

impl Polled {
    fn row(&self, name: &str) {
        let mut l = self.latencies_ms.clone();
        l.sort_by(f64::total_cmp);
        let q = |q: f64| {
            if l.is_empty() {
                return f64::NAN;
            }
            l[((q * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1]
        };
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            l.len() + self.failed,
            self.failed,
            q(0.5),
            q(0.99),
            q(1.0),
            self.bytes
        );
    }
}

/// Requests `url` until `stop`, pausing `pause` between requests; the latency of each to its
/// last body byte. Requests before the daemon first answers are not counted.
fn poll(
    since: Instant,
    stop: &Arc<AtomicBool>,
    url: String,
    gzip: bool,
    pause: Duration,
) -> std::thread::JoinHandle<Polled> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("a client");
        let mut polled = Polled {
            latencies_ms: Vec::new(),
            failed: 0,
            bytes: 0,
            slow: Vec::new(),
        };
        let mut answered = false;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            let mut request = client.get(&url);
            if gzip {
                request = request.header("accept-encoding", "gzip");
            }
            let body = request
                .send()
                .and_then(|r| r.error_for_status())
                .and_then(|r| r.bytes());
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            match body {
                Ok(body) => {
                    answered = true;
                    n += 1;
                    polled.latencies_ms.push(ms);
                    if ms > 200.0 {
                        polled
                            .slow
                            .push((since.elapsed().as_secs_f64() - ms / 1000.0, ms));
                    }
                    polled.bytes = body.len();
                    if gzip && n % 10 == 1 {
                        let mut text = Vec::new();
                        let valid = flate2::read::GzDecoder::new(body.as_ref())
                            .read_to_end(&mut text)
                            .is_ok();
                        if !valid {
                            eprintln!("busy: a gzip body did not inflate");
                            polled.failed += 1;
                        }
                    }
                }
                // Refused before the port is bound, or a 503 while plugins load.
                Err(_) if !answered => {}
                Err(error) => {
                    eprintln!("busy: {url}: {error}");
                    polled.failed += 1;
                }
            }
            std::thread::sleep(pause);
        }
        polled
    })
}

/// The config and plugin folder of one run, in a temp dir.
struct Site {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl Site {
    fn new(accounts: usize, sync: &str) -> Site {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugins dir");
        for plugin in [MOCK_CLOUD, MOCK_METER, MOCK_GRID] {
            let name = Path::new(plugin).file_name().expect("a file name");
            std::fs::copy(plugin, plugins.join(name)).expect("copy a mock plugin");
        }
        let state = dir.path().join("state");
        let projects = RESOURCES / 1000 / accounts;
        let mut text = format!(
            "[paths]\nplugin_dir = {plugins:?}\nstate_dir = {state:?}\n\n[intervals]\n\
             topology_sync = \"{sync}\"\nresource_metrics = \"100ms\"\nenvironment = \"1m\"\n\n\
             [providers.cloud]\nplugin = \"mock-cloud\"\n[providers.meter]\nplugin = \"mock-meter\"\n\
             [providers.grid]\nplugin = \"mock-grid\"\n\n[environment]\nprovider = \"grid\"\n"
        );
        for a in 0..accounts {
            text.push_str(&format!(
                "\n[accounts.account{a:03}]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
                 settings = {{ projects = {projects}, resources_per_project = 1000, \
                 extra_labels = {EXTRA_LABELS}, label_bytes = {LABEL_BYTES} }}\n"
            ));
        }
        let config = dir.path().join("carbonaut.toml");
        std::fs::write(&config, text).expect("write the config");
        Site { _dir: dir, config }
    }
}

/// `carbonaut run` on a free loopback port, its log read for the collector's timings; killed
/// when dropped.
struct Daemon {
    child: std::process::Child,
    base: String,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    collections: Vec<u64>,
    syncs: Vec<u64>,
    /// Seconds from the start to the first `samples collected` line.
    first_collection_at: Option<f64>,
    /// Seconds from the start to each `sync round done` line.
    sync_at: Vec<String>,
    tail: std::collections::VecDeque<String>,
}

impl Daemon {
    fn start(binary: &str, config: &Path) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let started = Instant::now();
        let mut child = std::process::Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info,carbonaut::collect=debug")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("carbonaut starts");
        let stderr = child.stderr.take().expect("its stderr");
        let log = Arc::new(Mutex::new(Log::default()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let elapsed = line
                    .split("elapsed_ms=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok());
                let mut log = sink.lock().expect("the log");
                match elapsed {
                    Some(ms) if line.contains("samples collected") => {
                        log.collections.push(ms);
                        if log.first_collection_at.is_none() {
                            log.first_collection_at = Some(started.elapsed().as_secs_f64());
                        }
                    }
                    Some(ms) if line.contains("sync round done") => {
                        log.syncs.push(ms);
                        let at = started.elapsed().as_secs_f64();
                        log.sync_at.push(format!("{at:.1}"));
                    }
                    _ => {}
                }
                log.tail.push_back(line);
                if log.tail.len() > 40 {
                    log.tail.pop_front();
                }
            }
        });
        Daemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
