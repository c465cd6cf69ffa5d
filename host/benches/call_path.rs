//! The cost of the host's plugin call path against bare wasmtime doing the same work (issue 2).
//!
//! Every plugin call gets a fresh store and instance, so what the host adds on top of wasmtime
//! is paid on every call. This measures, on the same engine and linker (`Runtime::engine`,
//! `Runtime::linker`) and the same mock-meter component:
//!
//! - `collect/host/N`: `Plugin::collect_samples` for a batch of N resources (1, 100, 1000),
//!   against `collect/bare/N`: `Store::new`, `InstancePre::instantiate_async`,
//!   `GuestIndices::load` and `call_collect`, the minimum wasmtime itself needs for that call.
//! - `instantiate/host`: `Runtime::new_store` (memory limiter, deadline) plus
//!   `instantiate_async` from the pooling allocator, as the host instantiates for every call,
//!   against `instantiate/bare`: `Store::new`, an epoch deadline (instantiation runs guest
//!   start functions, which trap at once without one) and `instantiate_async`; no limiter.
//! - `metadata/host`: `Plugin::metadata` (instantiate plus the smallest call), against
//!   `metadata/bare`: the same with bare wasmtime; a check of the whole host path around a call
//!   whose guest work is negligible.
//!
//! After criterion's runs, a summary pass times host and bare alternately in short rounds
//! (so that load from other processes hits both alike) and prints each `host/bare ratio`.
//! The goal for later performance work is at most 1.3 for each ratio.
//!
//! Run with `cargo bench -p carbonaut --bench call_path`; figures are in BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use carbonaut_model::{Account, PluginMetadata, ResourceInfo, ResourceSample, Settings};
use carbonaut_plugins::{Plugin, load_file};
use carbonaut_runtime::{Grants, HostState, Runtime};
use criterion::{BenchmarkId, Criterion, Throughput};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, InstancePre};
use wit::{metadata, resource_metrics};

/// The contract's bindings generated apart from the host's (which are private to
/// `carbonaut-plugins`): the bare side uses wasmtime alone, as any embedder would.
#[path = "../tests/all/support/bare_wit.rs"]
mod wit;

/// The resource-metrics plugin under test.
const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
/// The inventory the batches are cut from.
const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
/// Resources per `collect` call.
const BATCHES: [usize; 3] = [1, 100, 1000];
/// The engine runs with epoch interruption, so a bare store needs a deadline before it runs
/// any guest code (instantiation included); this one never fires during a benchmark.
const NO_DEADLINE: u64 = u64::MAX / 2;
/// Rounds of the summary pass; each round times host and bare back to back.
const SUMMARY_ROUNDS: usize = 31;
/// Roughly how long one side of one summary round runs.
const SUMMARY_ROUND_TIME: Duration = Duration::from_millis(40);

/// Everything both paths share: the runtime, the loaded plugin and the call's arguments.
struct Fixture {
    tokio: tokio::runtime::Runtime,
    runtime: Arc<Runtime>,
    plugin: Plugin,
    bare: Bare,
    settings: Settings,
    account: Account,
    /// The largest batch; smaller batches are prefixes of it.
    resources: Vec<ResourceInfo>,
    /// The same, as the generated types the bare path passes.
    wit_account: wit::Account,
    wit_resources: Vec<wit::ResourceInfo>,
}

impl Fixture {
    fn new() -> Self {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread tokio runtime");
        let runtime = Arc::new(
            carbonaut_plugins::new_runtime(Default::default())
                .expect("the wasmtime runtime starts"),
        );
        let (plugin, resources) = tokio.block_on(async {
            let plugin = load_file(&runtime, Path::new(MOCK_METER))
                .await
                .expect("mock-meter loads");
            let resources = inventory(&runtime, BATCHES[BATCHES.len() - 1]).await;
            (plugin, resources)
        });
        let bare = Bare::new(&runtime, plugin.name());
        Fixture {
            tokio,
            runtime,
            plugin,
            bare,
            settings: Vec::new(),
            account: Account {
                name: "bench".into(),
                settings: Vec::new(),
            },
            wit_account: wit::Account {
                name: "bench".into(),
                settings: Vec::new(),
            },
            wit_resources: resources.iter().map(to_wit).collect(),
            resources,
        }
    }

    fn batch(&self, n: usize) -> &[ResourceInfo] {
        &self.resources[..n]
    }

    fn host_collect(&self, n: usize) -> Vec<ResourceSample> {
        self.tokio.block_on(async {
            self.plugin
                .collect_samples(&Grants::NONE, &self.settings, &self.account, self.batch(n))
                .await
                .expect("host collect succeeds")
                .into_items()
        })
    }

    fn bare_collect(&self, n: usize) -> Vec<wit::ResourceSample> {
        self.tokio.block_on(self.bare.collect(
            &self.settings,
            &self.wit_account,
            &self.wit_resources[..n],
        ))
    }

    /// The host's instantiate step: `Runtime::new_store` then the pooled `instantiate_async`.
    fn host_instantiate(&self) -> (Store<HostState>, Instance) {
        self.tokio.block_on(async {
            let mut store = self
                .runtime
                .new_store(self.bare.name.clone(), &Grants::NONE)
                .expect("store");
            let instance = self
                .bare
                .pre
                .instantiate_async(&mut store)
                .await
                .expect("host instantiation succeeds");
            (store, instance)
        })
    }

    fn bare_instantiate(&self) -> (Store<HostState>, Instance) {
        self.tokio.block_on(self.bare.instantiate())
    }

    fn host_metadata(&self) -> PluginMetadata {
        self.tokio.block_on(async {
            self.plugin
                .metadata()
                .await
                .expect("host metadata succeeds")
        })
    }

    fn bare_metadata(&self) -> wit::PluginMetadata {
        self.tokio.block_on(self.bare.metadata())
    }
}

/// `n` resources from mock-cloud, in one project.
async fn inventory(runtime: &Arc<Runtime>, n: usize) -> Vec<ResourceInfo> {
    let cloud = load_file(runtime, Path::new(MOCK_CLOUD))
        .await
        .expect("mock-cloud loads");
    let settings: Settings = vec![
        ("projects".into(), "1".into()),
        ("resources_per_project".into(), n.to_string()),
    ];
    let account = Account {
        name: "bench".into(),
        settings: Vec::new(),
    };
    let projects = cloud
        .list_projects(&Grants::NONE, &settings, &account)
        .await
        .expect("mock-cloud lists its projects");
    let project = projects.first().expect("mock-cloud returns one project");
    let resources = cloud
        .list_resources(&Grants::NONE, &settings, &account, project)
        .await
        .expect("mock-cloud lists its resources");
    assert_eq!(resources.len(), n, "mock-cloud returns the requested count");
    resources.into_items()
}

/// The generated type of a resource, for the bare path (the host converts in `plugins`).
fn to_wit(r: &ResourceInfo) -> wit::ResourceInfo {
    let kind = match r.kind {
        carbonaut_model::ResourceKind::Vm => wit::ResourceKind::Vm,
        carbonaut_model::ResourceKind::BareMetal => wit::ResourceKind::BareMetal,
        carbonaut_model::ResourceKind::Host => wit::ResourceKind::Host,
        carbonaut_model::ResourceKind::Container => wit::ResourceKind::Container,
        carbonaut_model::ResourceKind::Other => wit::ResourceKind::Other,
    };
    wit::ResourceInfo {
        id: r.id.clone(),
        name: r.name.clone(),
        kind,
        location: wit::Location {
            cloud: None,
            grid_zone: None,
            country: r.location.country.clone(),
            region: r.location.region.clone(),
            zone: r.location.zone.clone(),
            coordinates: r.location.coordinates.map(|c| wit::Coordinates {
                latitude: c.latitude,
                longitude: c.longitude,
            }),
        },
        hardware: wit::Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: r.hardware.vcpus,
            memory_bytes: r.hardware.memory_bytes,
            cpu_model: r.hardware.cpu_model.clone(),
        },
        labels: r.labels.clone(),
    }
}

/// The same component on the same engine and linker, called with nothing but wasmtime.
struct Bare {
    engine: wasmtime::Engine,
    pre: InstancePre<HostState>,
    collect: resource_metrics::GuestIndices,
    metadata: metadata::GuestIndices,
    name: Arc<str>,
    limits: carbonaut_runtime::Limits,
}

impl Bare {
    fn new(runtime: &Runtime, name: &str) -> Self {
        let component =
            Component::from_file(runtime.engine(), MOCK_METER).expect("mock-meter compiles");
        let pre = runtime
            .linker()
            .instantiate_pre(&component)
            .expect("mock-meter links");
        Bare {
            engine: runtime.engine().clone(),
            collect: resource_metrics::GuestIndices::new(&pre)
                .expect("mock-meter exports resource-metrics"),
            metadata: metadata::GuestIndices::new(&pre).expect("mock-meter exports metadata"),
            pre,
            name: Arc::from(name),
            limits: runtime.limits(),
        }
    }

    /// A fresh instance: a plain store (no memory limiter) and the pooled instantiation.
    /// Instantiating runs guest code (the component's start functions), and the engine has
    /// epoch interruption on, so even the bare store needs a deadline or it traps at once.
    async fn instantiate(&self) -> (Store<HostState>, Instance) {
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.name.clone(), &self.limits, &Grants::NONE, None).expect("state"),
        );
        store.set_epoch_deadline(NO_DEADLINE);
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .expect("bare instantiation succeeds");
        (store, instance)
    }

    async fn collect(
        &self,
        settings: &Settings,
        account: &wit::Account,
        resources: &[wit::ResourceInfo],
    ) -> Vec<wit::ResourceSample> {
        let (mut store, instance) = self.instantiate().await;
        let guest = self
            .collect
            .load(&mut store, &instance)
            .expect("bare load of resource-metrics succeeds");
        guest
            .call_collect(&mut store, settings, account, resources)
            .await
            .expect("bare collect does not trap")
            .expect("bare collect returns samples")
    }

    async fn metadata(&self) -> wit::PluginMetadata {
        let (mut store, instance) = self.instantiate().await;
        let guest = self
            .metadata
            .load(&mut store, &instance)
            .expect("bare load of metadata succeeds");
        guest
            .call_metadata(&mut store)
            .await
            .expect("bare metadata does not trap")
    }
}

fn bench_collect(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("collect");
    for n in BATCHES {
        assert_eq!(fx.host_collect(n).len(), n, "host returns one sample each");
        assert_eq!(fx.bare_collect(n).len(), n, "bare returns one sample each");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("host", n), &n, |b, &n| {
            b.iter(|| fx.host_collect(n))
        });
        group.bench_with_input(BenchmarkId::new("bare", n), &n, |b, &n| {
            b.iter(|| fx.bare_collect(n))
        });
    }
    group.finish();
}

fn bench_instantiate(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("instantiate");
    group.bench_function("host", |b| b.iter(|| fx.host_instantiate()));
    group.bench_function("bare", |b| b.iter(|| fx.bare_instantiate()));
    group.finish();
}

fn bench_metadata(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("metadata");
    let (host, bare) = (fx.host_metadata(), fx.bare_metadata());
    assert_eq!(
        (host.name, host.version),
        (bare.name, bare.version),
        "same answer"
    );
    group.bench_function("host", |b| b.iter(|| fx.host_metadata()));
    group.bench_function("bare", |b| b.iter(|| fx.bare_metadata()));
    group.finish();
}

/// Medians of one host/bare comparison from the summary pass.
struct Comparison {
    label: String,
    host: Duration,
    bare: Duration,
    /// The median of the per-round host/bare ratios.
    ratio: f64,
}

/// Mean time per call over `iters` calls.
fn time_per_call(f: &mut dyn FnMut(), iters: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed() / iters
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Times `host` and `bare` back to back for [`SUMMARY_ROUNDS`] rounds, alternating which goes
/// first, so both see the same machine.
fn compare(label: String, host: &mut dyn FnMut(), bare: &mut dyn FnMut()) -> Comparison {
    // Warm up both, and find how many calls fill a round.
    time_per_call(host, 10);
    let per_call = time_per_call(bare, 10).max(Duration::from_nanos(1));
    let iters = u32::try_from(SUMMARY_ROUND_TIME.as_nanos() / per_call.as_nanos())
        .unwrap_or(u32::MAX)
        .clamp(1, 1_000_000);
    let (mut hosts, mut bares, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..SUMMARY_ROUNDS {
        let (h, b) = if round % 2 == 0 {
            let h = time_per_call(host, iters);
            (h, time_per_call(bare, iters))
        } else {
            let b = time_per_call(bare, iters);
            (time_per_call(host, iters), b)
        };
        hosts.push(h.as_secs_f64());
        bares.push(b.as_secs_f64());
        ratios.push(h.as_secs_f64() / b.as_secs_f64());
    }
    Comparison {
        label,
        host: Duration::from_secs_f64(median(&mut hosts)),
        bare: Duration::from_secs_f64(median(&mut bares)),
        ratio: median(&mut ratios),
    }
}

fn summary(fx: &Fixture) {
    let mut rows = Vec::new();
    for n in BATCHES {
        rows.push(compare(
            format!("collect, batch of {n}"),
            &mut || {
                black_box(fx.host_collect(n));
            },
            &mut || {
                black_box(fx.bare_collect(n));
            },
        ));
    }
    rows.push(compare(
        "instantiate (fresh store + instance)".into(),
        &mut || {
            black_box(fx.host_instantiate());
        },
        &mut || {
            black_box(fx.bare_instantiate());
        },
    ));
    rows.push(compare(
        "metadata (instantiate + tiny call)".into(),
        &mut || {
            black_box(fx.host_metadata());
        },
        &mut || {
            black_box(fx.bare_metadata());
        },
    ));

    println!();
    println!(
        "Summary: host vs bare wasmtime, medians of {SUMMARY_ROUNDS} alternating rounds (goal: ratio <= 1.3)"
    );
    println!(
        "{:<38} {:>12} {:>12} {:>16}",
        "case", "host", "bare", "host/bare ratio"
    );
    for row in &rows {
        println!(
            "{:<38} {:>12} {:>12} {:>16.3}{}",
            row.label,
            format!("{:.2?}", row.host),
            format!("{:.2?}", row.bare),
            row.ratio,
            if row.ratio > 1.3 { "  > 1.3" } else { "" }
        );
    }
}

/// Whether criterion was asked to measure (`cargo bench`), rather than to run each benchmark
/// once (`cargo test --benches`) or to list them.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}

fn main() {
    let fx = Fixture::new();
    let mut c = Criterion::default().configure_from_args();
    bench_collect(&mut c, &fx);
    bench_instantiate(&mut c, &fx);
    bench_metadata(&mut c, &fx);
    c.final_summary();
    if benchmarking() {
        summary(&fx);
    }
}
