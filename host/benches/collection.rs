//! Collection and serving at 10 000 resources (issue 3): 10 accounts of 10 projects of 100
//! resources, from the mock plugins (mock-cloud, mock-meter, mock-grid).
//!
//! 1. In process: one `Collector::sync_topology` and one `collect_environment`, then
//!    `collect_samples` timed over many runs (min, median, p95). A collection is the plugin
//!    calls, the counter update, storing the counters in sled and publishing the snapshot
//!    (rendering the `/metrics` text). The same public steps are then timed one by one, so a
//!    missed goal says where the time goes. Goal: under 200 ms on 2 cores.
//! 2. `/metrics` served by `carbonaut::api::app` against a trivial axum route serving the same
//!    bytes with the same content type, each on a loopback port, each driven by 50 concurrent
//!    scrapers reading the full body, in alternating rounds. Goal: p99 at most 1.5x the static
//!    route's. The collector is idle meanwhile: this compares serving paths, not load.
//! 3. The `carbonaut` binary run on a config of the same topology (samples every 2 s): once
//!    `/metrics` has emissions for all 10 000 resources, VmRSS after each of the next 10
//!    collections, then VmHWM, RssAnon and RssFile from /proc. Goal: under 64 MiB resident.
//!    It runs twice: as is, and with `MALLOC_ARENA_MAX=1` (one glibc malloc arena instead of
//!    one per thread).
//! 4. Where that memory goes: live heap bytes, counted by a global allocator that wraps the
//!    system one, in child processes of this benchmark (so that nothing allocated before is
//!    freed during a count; counting is off in the main process). For the collector of 1:
//!    after each set-up stage and after 1 to 40 collections run back to back, the peak of one
//!    collection, the size of the topology, of one snapshot's maps and of the rendered text.
//!    For the plugin calls of a collection alone, and for a lone sled state store saving
//!    10 000 counters (new values each time) 1 to 40 times: what they keep.
//!
//! Run with `cargo bench -p carbonaut --bench collection` (which builds the binary too); the
//! figures and the machine are in BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use bytes::Bytes;
use carbonaut::api::{AppState, app};
use carbonaut::collect::{AccountPlan, Collector, Plan};
use carbonaut::config::Config;
use carbonaut::daemon::load_plugins;
use carbonaut::telemetry::Telemetry;
use carbonaut_model::{Account, ResourceInfo, ResourceSample};

use carbonaut::snapshot::{Snapshot, SnapshotCell, render_metrics};
use carbonaut_store::state::{Counters, LastReading, ResourceId, StateStore};
use tokio::task::JoinSet;

const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
/// The release binary, built by `cargo bench` along with this benchmark.
const CARBONAUT: &str = env!("CARGO_BIN_EXE_carbonaut");

const ACCOUNTS: usize = 10;
const PROJECTS: usize = 10;
const RESOURCES_PER_PROJECT: usize = 100;
const RESOURCES: usize = ACCOUNTS * PROJECTS * RESOURCES_PER_PROJECT;
/// The host's batch size (`daemon::plan` sets it; repeated here for the step-by-step timing).
const BATCH: usize = 1000;

/// Untimed collections before the timed ones.
const WARMUPS: usize = 2;
/// Timed collections.
const RUNS: usize = 20;
/// Rounds of the step-by-step timing.
const STEP_ROUNDS: usize = 10;

const SCRAPERS: usize = 50;
/// Rounds of the scrape comparison; each round loads `/metrics`, then the static route.
const SCRAPE_ROUNDS: usize = 5;
/// How long one side of one round runs: 10 s per side in all.
const SCRAPE_ROUND_TIME: Duration = Duration::from_secs(2);
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Collections the daemon runs, after its first full `/metrics`, before memory is read.
const DAEMON_CYCLES: u64 = 10;
const EMISSIONS: &str = "carbonaut_resource_emissions_grams_total{";
const METER_CALLS: &str = "carbonaut_plugin_calls_total{plugin=\"mock-meter\",operation=\"collect-samples\",outcome=\"ok\"}";

/// After how many collections the live heap is read.
const HEAP_COLLECTIONS: [usize; 4] = [1, 10, 20, 40];
/// After how many `save_counters` of every counter a lone store's heap is read.
const HEAP_SAVES: [usize; 4] = [1, 10, 20, 40];

const GOAL_COLLECTION: Duration = Duration::from_millis(200);
const GOAL_P99_RATIO: f64 = 1.5;
const GOAL_RSS_KIB: u64 = 64 * 1024;

fn main() {
    if let Ok(mode) = std::env::var(HEAP_MODE) {
        run_heap_child(&mode);
        return;
    }
    println!("load average (1, 5, 15 min) at the start: {}", loadavg());
    let heap = measure_heap();
    let tokio = tokio::runtime::Runtime::new().expect("a multi-thread tokio runtime");
    let (collection, steps, scrapes) = tokio.block_on(async {
        let mut fixture = Fixture::new().await;
        let collection = measure_collection(&mut fixture).await;
        let steps = measure_steps(&fixture).await;
        let scrapes = measure_scrapes(fixture.state.clone()).await;
        (collection, steps, scrapes)
    });
    drop(tokio);
    let memory = [
        measure_daemon_memory(&[]),
        measure_daemon_memory(&[("MALLOC_ARENA_MAX", "1")]),
    ];
    report(&collection, &steps, &scrapes, &memory, &heap);
}

// ---------------------------------------------------------------------------------------
// Set-up

/// A collector over the 10 000-resource config, after one sync and one energy mix.
struct Fixture {
    collector: Collector,
    state: AppState,
    store: Arc<StateStore>,
    /// A second plan of the same config, for calling the plugins outside the collector.
    plan: Plan,
    sync: Duration,
    /// Live heap bytes after each set-up stage (meaningful while counting, see [`heap`]).
    stages: Vec<(&'static str, isize)>,
    _dirs: [tempfile::TempDir; 2],
}

impl Fixture {
    async fn new() -> Fixture {
        let plugin_dir = plugin_dir();
        let state_dir = tempfile::tempdir().expect("a state folder");
        let text = config_text(plugin_dir.path(), state_dir.path());
        let config = Config::parse(&text, "collection.toml", Path::new("."), &|_| None)
            .expect("the benchmark config is valid");
        let runtime =
            Arc::new(carbonaut_plugins::new_runtime(config.limits).expect("the wasmtime runtime"));
        let plugins = load_plugins(&runtime, &config)
            .await
            .expect("the mock plugins load")
            .by_name();
        let mut stages = vec![("wasmtime runtime, 3 plugins loaded", heap::live())];
        let store = Arc::new(StateStore::open(&config.state_dir).expect("the state opens"));
        stages.push(("state store (sled) opened", heap::live()));
        let telemetry = Arc::new(Telemetry::default());
        let snapshot = Arc::new(SnapshotCell::default());
        let mut collector = Collector::new(
            Plan::from_config(&config, &plugins).expect("a plan"),
            plugins.values().cloned().collect(),
            store.clone(),
            telemetry.clone(),
            snapshot.clone(),
        )
        .expect("a collector");
        let started = Instant::now();
        collector.sync_topology().await;
        let sync = started.elapsed();
        stages.push(("topology synced", heap::live()));
        collector.collect_environment().await;
        stages.push(("energy mix collected", heap::live()));
        let resources = snapshot.get().topology.resource_count();
        assert_eq!(resources, RESOURCES, "the sync found every resource");
        Fixture {
            collector,
            state: AppState {
                snapshot,
                telemetry,
                reload: None,
                config: Arc::new(RwLock::new(carbonaut::config::ApiConfig::of(&config))),
                history: None,
                vitals: Default::default(),
            },
            store,
            plan: Plan::from_config(&config, &plugins).expect("a plan"),
            sync,
            stages,
            _dirs: [plugin_dir, state_dir],
        }
    }
}

/// A fresh folder holding the three mock plugins and nothing else.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a plugin folder");
    for plugin in [MOCK_CLOUD, MOCK_METER, MOCK_GRID] {
        let name = Path::new(plugin).file_name().expect("a file name");
        std::fs::copy(plugin, dir.path().join(name)).expect("copy a mock plugin");
    }
    dir
}

/// The config: `ACCOUNTS` accounts of `PROJECTS` x `RESOURCES_PER_PROJECT` resources.
fn config_text(plugin_dir: &Path, state_dir: &Path) -> String {
    let mut text = format!(
        r#"[paths]
plugin_dir = {:?}
state_dir = {:?}

[intervals]
topology_sync = "30s"
resource_metrics = "2s"
environment = "1m"

[providers.cloud]
plugin = "mock-cloud"
[providers.meter]
plugin = "mock-meter"
[providers.grid]
plugin = "mock-grid"

[environment]
provider = "grid"
"#,
        plugin_dir.display().to_string(),
        state_dir.display().to_string(),
    );
    for a in 0..ACCOUNTS {
        text.push_str(&format!(
            "\n[accounts.account{a:02}]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
             settings = {{ projects = {PROJECTS}, resources_per_project = {RESOURCES_PER_PROJECT} }}\n"
        ));
    }
    text
}

// ---------------------------------------------------------------------------------------
// 1. Collection

struct Collection {
    sync: Duration,
    runs: Vec<Duration>,
    metrics_bytes: usize,
}

async fn measure_collection(fixture: &mut Fixture) -> Collection {
    for _ in 0..WARMUPS {
        fixture.collector.collect_samples().await;
    }
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        fixture.collector.collect_samples().await;
        runs.push(started.elapsed());
    }
    runs.sort();
    let snapshot = fixture.state.snapshot.get();
    let text = snapshot.metrics.text().expect("the metrics text");
    let text = String::from_utf8_lossy(&text);
    assert_eq!(
        count_lines(&text, EMISSIONS),
        RESOURCES,
        "every resource has emissions after the collections"
    );
    Collection {
        sync: fixture.sync,
        runs,
        metrics_bytes: text.len(),
    }
}

/// Medians of the public steps a collection is made of, each timed on its own.
struct Steps {
    /// Grouping the topology's resources per account (cloned), as the collector does first.
    prepare: Duration,
    /// The resource-metrics calls: batches of 1000, accounts in parallel.
    plugin_calls: Duration,
    /// `Counters::advance` for every sample, with its location's carbon intensity.
    counters: Duration,
    /// `StateStore::save_counters` of every resource (JSON encoding, sled batch, flush).
    save: Duration,
    /// Copying the collector's maps into a new snapshot (a clone of the published one).
    snapshot_copy: Duration,
    /// `render_metrics` of the snapshot.
    render: Duration,
}

async fn measure_steps(fixture: &Fixture) -> Steps {
    let mut rounds: Vec<[Duration; 6]> = Vec::with_capacity(STEP_ROUNDS);
    for _ in 0..STEP_ROUNDS {
        let snapshot = fixture.state.snapshot.get();

        let started = Instant::now();
        let inputs = resources_per_account(&snapshot);
        let prepare = started.elapsed();

        let started = Instant::now();
        let samples = call_plugins(&fixture.plan, inputs).await;
        let plugin_calls = started.elapsed();
        assert_eq!(samples.len(), RESOURCES, "a sample for every resource");

        let mut counters = (*snapshot.counters).clone();
        let started = Instant::now();
        advance_counters(&snapshot, &mut counters, &samples);
        let advance = started.elapsed();

        // New values, as a collection stores; the collector's next save overwrites them.
        let started = Instant::now();
        let per_account = snapshot.topology.accounts.values().map(|a| {
            let of_account = a
                .projects
                .values()
                .flat_map(|p| p.resources.values())
                .filter_map(|r| counters.get(&r.id).map(|c| (&r.id, c)));
            (a.name.as_str(), of_account)
        });
        fixture
            .store
            .save_counters(per_account)
            .expect("the counters are stored");
        let save = started.elapsed();

        // What a collection copies for the next snapshot: the per-resource maps the served
        // one shares with the collector (copied at the collection's first change of each).
        let started = Instant::now();
        let copy = Snapshot {
            counters: Arc::new((*snapshot.counters).clone()),
            samples: Arc::new((*snapshot.samples).clone()),
            derived_power: Arc::new((*snapshot.derived_power).clone()),
            ..(*snapshot).clone()
        };
        let snapshot_copy = started.elapsed();

        let started = Instant::now();
        let text = render_metrics(&copy);
        let render = started.elapsed();
        assert!(!text.is_empty());

        rounds.push([prepare, plugin_calls, advance, save, snapshot_copy, render]);
    }
    let median_of = |i: usize| median(rounds.iter().map(|r| r[i]).collect());
    Steps {
        prepare: median_of(0),
        plugin_calls: median_of(1),
        counters: median_of(2),
        save: median_of(3),
        snapshot_copy: median_of(4),
        render: median_of(5),
    }
}

fn resources_per_account(snapshot: &Snapshot) -> HashMap<String, Vec<(ResourceId, ResourceInfo)>> {
    let mut out: HashMap<String, Vec<(ResourceId, ResourceInfo)>> = HashMap::new();
    for (a, _, r) in snapshot.topology.resources() {
        out.entry(a.name.clone())
            .or_default()
            .push((r.id.clone(), (*r.info).clone()));
    }
    out
}

/// What the collector asks the plugins: each account's resources in batches, accounts in
/// parallel tasks.
async fn call_plugins(
    plan: &Plan,
    mut inputs: HashMap<String, Vec<(ResourceId, ResourceInfo)>>,
) -> Vec<(ResourceId, ResourceSample)> {
    let mut tasks = JoinSet::new();
    for account in &plan.accounts {
        let resources = inputs.remove(&account.name).unwrap_or_default();
        tasks.spawn(call_account(account.clone(), resources));
    }
    let mut out = Vec::with_capacity(RESOURCES);
    while let Some(joined) = tasks.join_next().await {
        out.extend(joined.expect("an account task completes"));
    }
    out
}

async fn call_account(
    account: AccountPlan,
    resources: Vec<(ResourceId, ResourceInfo)>,
) -> Vec<(ResourceId, ResourceSample)> {
    let provider = &account.resource_metrics;
    let wit_account = Account {
        name: account.name.clone(),
        settings: account.settings.clone(),
    };
    let mut out = Vec::with_capacity(resources.len());
    for chunk in resources.chunks(BATCH) {
        let batch: Vec<ResourceInfo> = chunk.iter().map(|(_, info)| info.clone()).collect();
        let ids: HashMap<&str, &ResourceId> = chunk
            .iter()
            .map(|(id, info)| (info.id.as_str(), id))
            .collect();
        // Through the provider's health check and concurrency cap, as the collector calls.
        let samples = provider
            .guarded(async |plugin| {
                plugin
                    .collect_samples(&provider.grants, &provider.settings, &wit_account, &batch)
                    .await
            })
            .await
            .expect("mock-meter answers");
        for sample in samples.into_items() {
            if let Some(id) = ids.get(sample.resource_id.as_str()) {
                out.push(((*id).clone(), sample));
            }
        }
    }
    out
}

fn advance_counters(
    snapshot: &Snapshot,
    counters: &mut HashMap<ResourceId, Counters>,
    samples: &[(ResourceId, ResourceSample)],
) {
    for (id, sample) in samples {
        let intensity = snapshot
            .location_of
            .get(id)
            .and_then(|key| snapshot.locations.get(key))
            .and_then(|l| l.mix.as_ref())
            .map(|mix| mix.carbon_intensity);
        // The same refusals the collector makes (none with the mock's plausible readings).
        let _refused = counters.entry(id.clone()).or_default().advance(
            sample,
            intensity,
            carbonaut_runtime::Limits::DEFAULT.max_power_watts as f64,
            1.0,
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. Scrapes

struct Scrapes {
    metrics: Latencies,
    fixed: Latencies,
    metrics_bytes: usize,
    fixed_bytes: usize,
}

struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    fn new(mut all: Vec<Duration>) -> Self {
        all.sort();
        Latencies { sorted: all }
    }

    fn p(&self, q: f64) -> Duration {
        percentile(&self.sorted, q)
    }

    fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }
}

async fn measure_scrapes(state: AppState) -> Scrapes {
    // What Prometheus sends: both sides answer gzip, the static one with the bytes carbonaut
    // served once.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_ENCODING,
        reqwest::header::HeaderValue::from_static("gzip"),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client");
    let metrics_url = serve(app(state)).await;
    let first = client.get(&metrics_url).send().await.expect("a response");
    assert_eq!(
        first
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(b"gzip".as_slice()),
        "/metrics answers gzip"
    );
    let body = first.bytes().await.expect("a body");
    let fixed_body = body.clone();
    let fixed_url = serve(Router::new().route(
        "/metrics",
        get(move || {
            let body = fixed_body.clone();
            async move {
                (
                    [
                        (CONTENT_TYPE, METRICS_CONTENT_TYPE),
                        (axum::http::header::CONTENT_ENCODING, "gzip"),
                    ],
                    body,
                )
            }
        }),
    ))
    .await;
    let fixed_bytes = fetch(&client, &fixed_url).await.len();

    // Warm both (connections, allocator) before anything is recorded.
    for url in [&metrics_url, &fixed_url] {
        load(&client, url, Duration::from_secs(1)).await;
    }
    let (mut metrics, mut fixed) = (Vec::new(), Vec::new());
    for _ in 0..SCRAPE_ROUNDS {
        metrics.extend(load(&client, &metrics_url, SCRAPE_ROUND_TIME).await);
        fixed.extend(load(&client, &fixed_url, SCRAPE_ROUND_TIME).await);
    }
    Scrapes {
        metrics: Latencies::new(metrics),
        fixed: Latencies::new(fixed),
        metrics_bytes: body.len(),
        fixed_bytes,
    }
}

/// Serves `router` on a loopback port for the rest of the run; returns its `/metrics` URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/metrics")
}

async fn fetch(client: &reqwest::Client, url: &str) -> Bytes {
    let response = client.get(url).send().await.expect("a response");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().await.expect("a body")
}

/// `SCRAPERS` tasks fetching `url` back to back for `time`; the latency of each full body.
async fn load(client: &reqwest::Client, url: &str, time: Duration) -> Vec<Duration> {
    let deadline = Instant::now() + time;
    let mut tasks = JoinSet::new();
    for _ in 0..SCRAPERS {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let body = fetch(&client, &url).await;
                latencies.push(started.elapsed());
                assert!(!body.is_empty());
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.expect("a scraper completes"));
    }
    all
}

// ---------------------------------------------------------------------------------------
// 3. Memory of the real binary

struct Memory {
    /// Extra environment of the process, for the report.
    env: String,
    /// From start to a `/metrics` with emissions for every resource.
    first_full: Duration,
    /// VmRSS (KiB) after each of the collections that followed.
    rss_kib: Vec<u64>,
    /// VmHWM, RssAnon and RssFile (KiB) at the end.
    hwm_kib: u64,
    anon_kib: u64,
    file_kib: u64,
}

fn measure_daemon_memory(env: &[(&str, &str)]) -> Memory {
    let binary = PathBuf::from(CARBONAUT);
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo bench -p carbonaut --bench collection`, which builds it",
        binary.display()
    );
    let plugins = plugin_dir();
    let state = tempfile::tempdir().expect("a state folder");
    let config_dir = tempfile::tempdir().expect("a config folder");
    let config = config_dir.path().join("collection.toml");
    std::fs::write(&config, config_text(plugins.path(), state.path())).expect("write the config");

    let started = Instant::now();
    let daemon = Daemon::start(&binary, &config, env);
    let text = daemon.wait_for(Duration::from_secs(180), |text| {
        count_lines(text, EMISSIONS) == RESOURCES
    });
    let first_full = started.elapsed();
    let mut cycles = meter_calls(&text) / ACCOUNTS as u64;
    let mut rss_kib = Vec::new();
    for _ in 0..DAEMON_CYCLES {
        let text = daemon.wait_for(Duration::from_secs(60), |text| {
            meter_calls(text) / ACCOUNTS as u64 > cycles
        });
        cycles = meter_calls(&text) / ACCOUNTS as u64;
        rss_kib.push(daemon.status_kib("VmRSS:"));
    }
    let memory = Memory {
        env: env.iter().map(|(k, v)| format!("{k}={v} ")).collect(),
        first_full,
        rss_kib,
        hwm_kib: daemon.status_kib("VmHWM:"),
        anon_kib: daemon.status_kib("RssAnon:"),
        file_kib: daemon.status_kib("RssFile:"),
    };
    drop(daemon);
    memory
}

/// Completed resource-metrics calls, from the self-metrics.
fn meter_calls(text: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(METER_CALLS))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map_or(0, |n| n as u64)
}

/// `carbonaut run --config FILE --listen 127.0.0.1:0`, killed when dropped.
struct Daemon {
    child: std::process::Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(binary: &Path, config: &Path, env: &[(&str, &str)]) -> Daemon {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("carbonaut starts");
        let stderr = child.stderr.take().expect("its stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.to_owned());
                }
                sink.lock().expect("the log").push(line);
            }
        });
        let mut daemon = Daemon {
            child,
            url: String::new(),
            log,
        };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => daemon.url = format!("http://{addr}/metrics"),
            Err(_) => panic!(
                "carbonaut did not start listening; its log:\n{}",
                daemon.log()
            ),
        }
        daemon
    }

    /// Polls `/metrics` until `check` accepts it; returns that text.
    fn wait_for(&self, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(response) = reqwest::blocking::get(&self.url)
                && let Ok(text) = response.text()
                && check(&text)
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "/metrics never got there; the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A `/proc/PID/status` field in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).expect("/proc/PID/status is readable");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}"))
    }

    fn log(&self) -> String {
        self.log.lock().expect("the log").join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// 4. The heap in process

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

/// Live heap bytes, counted while `start` has been called: the system allocator plus two
/// relaxed atomic operations per allocation.
mod heap {
    use super::*;

    static COUNTING: AtomicBool = AtomicBool::new(false);
    static LIVE: AtomicIsize = AtomicIsize::new(0);
    static PEAK: AtomicIsize = AtomicIsize::new(0);

    pub struct Counting;

    fn grow(bytes: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
    }

    fn shrink(bytes: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(bytes as isize, Ordering::Relaxed);
        }
    }

    // GlobalAlloc is an unsafe trait; every method only forwards to `System`.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
            let ptr = unsafe { System.alloc(layout) };
            if !ptr.is_null() {
                grow(layout.size());
            }
            ptr
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as above.
            let ptr = unsafe { System.alloc_zeroed(layout) };
            if !ptr.is_null() {
                grow(layout.size());
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) };
            shrink(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as above.
            let new = unsafe { System.realloc(ptr, layout, new_size) };
            if !new.is_null() {
                shrink(layout.size());
                grow(new_size);
            }
            new
        }
    }

    /// Starts counting from zero. Memory allocated before is not counted, so call it before
    /// building what is to be measured.
    pub fn start() {
        LIVE.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
    }

    pub fn stop() {
        COUNTING.store(false, Ordering::Relaxed);
    }

    pub fn live() -> isize {
        LIVE.load(Ordering::Relaxed)
    }

    /// Sets the peak to the current live bytes and returns them.
    pub fn reset_peak() -> isize {
        let live = live();
        PEAK.store(live, Ordering::Relaxed);
        live
    }

    pub fn peak() -> isize {
        PEAK.load(Ordering::Relaxed)
    }

    /// The live bytes `make`'s value holds (measured while it is alive, then dropped).
    pub fn size_of<T>(make: impl FnOnce() -> T) -> isize {
        let before = live();
        let value = make();
        let size = live() - before;
        drop(value);
        size
    }
}

/// Set in the environment of the child processes that count the heap: `collector` or `sled`.
const HEAP_MODE: &str = "CARBONAUT_BENCH_HEAP";
/// How a child reports one figure: `heap: BYTES LABEL`.
const HEAP_LINE: &str = "heap: ";

/// Live heap bytes, each labelled, as a child process counted them.
struct Heap {
    collector: Vec<(String, isize)>,
    plugins: Vec<(String, isize)>,
    sled: Vec<(String, isize)>,
}

/// Each count runs in a fresh process that counts from its start, so nothing allocated
/// earlier (sled frees its garbage late, from any thread) is freed during the count.
fn measure_heap() -> Heap {
    Heap {
        collector: heap_child("collector"),
        plugins: heap_child("plugins"),
        sled: heap_child("sled"),
    }
}

fn heap_child(mode: &str) -> Vec<(String, isize)> {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let output = std::process::Command::new(exe)
        .env(HEAP_MODE, mode)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the heap count runs");
    assert!(output.status.success(), "the {mode} heap count failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(HEAP_LINE)?.split_once(' '))
        .map(|(bytes, label)| (label.to_owned(), bytes.parse().expect("a byte count")))
        .collect()
}

/// The child's side: counts, then prints each figure on a `HEAP_LINE`.
fn run_heap_child(mode: &str) {
    heap::start();
    let figures = match mode {
        "collector" => {
            let tokio = tokio::runtime::Runtime::new().expect("a multi-thread tokio runtime");
            tokio.block_on(collector_heap())
        }
        "sled" => sled_heap(),
        "plugins" => {
            let tokio = tokio::runtime::Runtime::new().expect("a multi-thread tokio runtime");
            tokio.block_on(plugins_heap())
        }
        other => panic!("{HEAP_MODE}={other}: expected collector, plugins or sled"),
    };
    heap::stop();
    for (label, bytes) in figures {
        println!("{HEAP_LINE}{bytes} {label}");
    }
}

/// Live bytes after each set-up stage and after collections, what one collection allocates
/// and frees again, and what one copy of each part of a snapshot holds.
async fn collector_heap() -> Vec<(String, isize)> {
    let mut fixture = Fixture::new().await;
    let mut out: Vec<(String, isize)> = fixture
        .stages
        .iter()
        .map(|(stage, bytes)| ((*stage).to_owned(), *bytes))
        .collect();
    let mut done = 0;
    for n in HEAP_COLLECTIONS {
        for _ in done..n {
            fixture.collector.collect_samples().await;
        }
        done = n;
        out.push((format!("after {n} collections"), heap::live()));
    }
    let before = heap::reset_peak();
    fixture.collector.collect_samples().await;
    out.push((
        "peak during one more collection, above live".to_owned(),
        heap::peak() - before,
    ));
    let snapshot = fixture.state.snapshot.get();
    let sizes = [
        (
            "one copy of the topology",
            heap::size_of(|| (*snapshot.topology).clone()),
        ),
        (
            "one copy of a snapshot's per-resource maps",
            heap::size_of(|| {
                (
                    (*snapshot.counters).clone(),
                    (*snapshot.samples).clone(),
                    (*snapshot.derived_power).clone(),
                )
            }),
        ),
        (
            "one rendered /metrics text",
            heap::size_of(|| render_metrics(&snapshot)),
        ),
    ];
    out.extend(sizes.map(|(label, bytes)| (label.to_owned(), bytes)));
    out
}

/// The plugin calls of a collection alone (no counters, no sled, no snapshot), repeated.
async fn plugins_heap() -> Vec<(String, isize)> {
    let fixture = Fixture::new().await;
    let snapshot = fixture.state.snapshot.get();
    let base = heap::live();
    let mut out = Vec::new();
    let mut done = 0;
    for n in HEAP_COLLECTIONS {
        for _ in done..n {
            let samples = call_plugins(&fixture.plan, resources_per_account(&snapshot)).await;
            assert_eq!(samples.len(), RESOURCES);
        }
        done = n;
        out.push((
            format!("after {n} rounds of plugin calls"),
            heap::live() - base,
        ));
    }
    out
}

/// A state store alone: opened empty, then `save_counters` of 10 000 counters (shaped as the
/// collector's: ids from `ResourceId::new`, every field set) again and again, as collections
/// do.
fn sled_heap() -> Vec<(String, isize)> {
    let dir = tempfile::tempdir().expect("a state folder");
    let mut counters = synthetic_counters();
    let base = heap::live();
    let store = StateStore::open(dir.path()).expect("the state opens");
    let mut out = vec![("sled store opened".to_owned(), heap::live() - base)];
    let mut done = 0;
    for n in HEAP_SAVES {
        for _ in done..n {
            // New values every time, as every collection advances every counter.
            for (_, c) in &mut counters {
                c.energy_joules_total += 1.5;
            }
            let names: Vec<String> = (0..ACCOUNTS).map(|a| format!("account-{a}")).collect();
            let per_account = counters
                .chunks(RESOURCES / ACCOUNTS)
                .zip(&names)
                .map(|(chunk, name)| (name.as_str(), chunk.iter().map(|(id, c)| (id, c))));
            store
                .save_counters(per_account)
                .expect("the counters are stored");
        }
        done = n;
        out.push((format!("after {n} saves"), heap::live() - base));
    }
    out
}

fn synthetic_counters() -> Vec<(ResourceId, Counters)> {
    let mut out = Vec::with_capacity(RESOURCES);
    for a in 0..ACCOUNTS {
        for p in 0..PROJECTS {
            for r in 0..RESOURCES_PER_PROJECT {
                let account = format!("account{a:02}");
                let project = format!("{account}-p{p}");
                let resource = format!("{project}-vm{r}");
                let counters = Counters {
                    energy_joules_total: 123_456.789_012 + r as f64,
                    emissions_grams_total: 12.345_678_901 + p as f64,
                    unattributed_joules: 0.0,
                    last: Some(LastReading {
                        energy_joules: Some(98_765_432.101_234),
                        power_watts: Some(42.424_242),
                        read_at_ms: 1_790_000_000_000,
                    }),
                    footprint: Default::default(),
                };
                out.push((ResourceId::new(&account, &project, &resource), counters));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Report

fn report(
    collection: &Collection,
    steps: &Steps,
    scrapes: &Scrapes,
    memory: &[Memory],
    heap: &Heap,
) {
    let runs = &collection.runs;
    let collection_median = median(runs.clone());
    println!("\n=== Collection and serving at {RESOURCES} resources ({ACCOUNTS} accounts) ===");
    println!("\n1. Collection (in process, {RUNS} runs after {WARMUPS} warm-ups)");
    println!("   topology sync (once):      {}", ms(collection.sync));
    println!(
        "   collect_samples:           min {}  median {}  p95 {}  max {}",
        ms(runs[0]),
        ms(collection_median),
        ms(percentile(runs, 0.95)),
        ms(runs[runs.len() - 1]),
    );
    println!(
        "   goal < {}: {}",
        ms(GOAL_COLLECTION),
        verdict(collection_median < GOAL_COLLECTION)
    );
    println!("   steps, each timed alone (median of {STEP_ROUNDS}):");
    let parts = [
        ("group resources per account", steps.prepare),
        ("plugin calls (10 x 1000, parallel)", steps.plugin_calls),
        ("counter update", steps.counters),
        ("sled save_counters (+ flush)", steps.save),
        ("snapshot copy", steps.snapshot_copy),
        ("render /metrics text", steps.render),
    ];
    for (name, d) in parts {
        println!("     {name:<36} {}", ms(d));
    }
    let sum: Duration = parts.iter().map(|(_, d)| *d).sum();
    println!("     {:<36} {}", "sum", ms(sum));
    println!(
        "   /metrics text: {} bytes ({} per resource)",
        collection.metrics_bytes,
        collection.metrics_bytes / RESOURCES
    );

    println!(
        "\n2. Scrapes with Accept-Encoding: gzip: {SCRAPERS} concurrent clients, {SCRAPE_ROUNDS} alternating rounds of {} s per side",
        SCRAPE_ROUND_TIME.as_secs()
    );
    for (name, l, bytes) in [
        (
            "/metrics (carbonaut)",
            &scrapes.metrics,
            scrapes.metrics_bytes,
        ),
        ("static bytes", &scrapes.fixed, scrapes.fixed_bytes),
    ] {
        println!(
            "   {name:<21} {:>6} requests  p50 {}  p99 {}  max {}  body {bytes} bytes (gzip)",
            l.sorted.len(),
            ms(l.p(0.50)),
            ms(l.p(0.99)),
            ms(l.max()),
        );
    }
    let ratio = scrapes.metrics.p(0.99).as_secs_f64() / scrapes.fixed.p(0.99).as_secs_f64();
    println!(
        "   p99 ratio {ratio:.2} (goal <= {GOAL_P99_RATIO}): {}",
        verdict(ratio <= GOAL_P99_RATIO)
    );

    println!("\n3. Memory of `carbonaut run` (samples every 2 s)");
    for m in memory {
        let rss: Vec<String> = m.rss_kib.iter().map(|k| mib(*k)).collect();
        let last = m.rss_kib.last().copied().unwrap_or_default();
        println!("   {}carbonaut run:", m.env);
        println!(
            "     first /metrics with {RESOURCES} emissions series after {:.1} s",
            m.first_full.as_secs_f64()
        );
        println!(
            "     VmRSS after each of the next {DAEMON_CYCLES} collections: {}",
            rss.join(", ")
        );
        println!(
            "     VmRSS {} (RssAnon {}, RssFile {})  VmHWM {}",
            mib(last),
            mib(m.anon_kib),
            mib(m.file_kib),
            mib(m.hwm_kib)
        );
        println!(
            "     goal < {}: VmRSS {}, VmHWM {}",
            mib(GOAL_RSS_KIB),
            verdict(last < GOAL_RSS_KIB),
            verdict(m.hwm_kib < GOAL_RSS_KIB)
        );
    }

    println!("\n4. Live heap, counted in fresh processes (counting allocator)");
    println!("   the collector of 1:");
    for (label, bytes) in &heap.collector {
        println!("     {label:<44} {}", mib_bytes(*bytes));
    }
    println!("   the plugin calls of a collection alone, above the set-up:");
    for (label, bytes) in &heap.plugins {
        println!("     {label:<44} {}", mib_bytes(*bytes));
    }
    println!("   a lone sled state store, saving {RESOURCES} counters each time:");
    for (label, bytes) in &heap.sled {
        println!("     {label:<44} {}", mib_bytes(*bytes));
    }
    println!("\nload average (1, 5, 15 min) at the end: {}", loadavg());
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn mib_bytes(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The first three fields of /proc/loadavg: other work on the machine skews every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

// ---------------------------------------------------------------------------------------
// Helpers

fn count_lines(text: &str, prefix: &str) -> usize {
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    percentile(&values, 0.5)
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
