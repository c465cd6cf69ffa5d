//! Compile cache and reload latency (issue 4): what the precompiled-component cache saves on a
//! restart, and how long a plugin file dropped into the watched folder takes to answer.
//!
//! 1. **Restart, cold against warm, per guest.** Cold: `Runtime::new` + `enable_cache` on an
//!    empty directory + `plugins::load_file` (compiles and fills the cache); a fresh directory
//!    for every cold run. Warm: a new `Runtime` with `enable_cache` on the filled directory +
//!    `load_file` (a cache hit, checked). The small mocks (~100 KB) are measured alongside two
//!    large guests built here: a componentize-py environment provider (~18 MB; a venv with
//!    componentize-py 0.25.1 is made in a temp dir, and the case is skipped with a note when
//!    that fails) and mock-meter built in the `dev` profile for wasm32-wasip2 (unoptimised,
//!    a few MB; built into `<target>/bench-cache-dev-guest` so that reruns are incremental).
//! 2. **Ready with 10 plugins.** In process: `Runtime::new` + `enable_cache` +
//!    `PluginSet::default().reload` of a folder with 10 distinctly named plugins (mock-cloud,
//!    mock-meter, mock-grid, trapping and six Python guests `py-grid-0`..`py-grid-5`), what
//!    `carbonaut run` does before it listens. Then the real binary on that folder: from
//!    spawning the process to its "listening on" log line and to `/readyz` answering `ready`,
//!    with a fresh state directory (cold) and with the one the previous run left (warm).
//!    Also for the 4 mocks alone, and (in process) for the 4 mocks plus one Python guest.
//! 3. **Reload latency.** The real binary with the three mocks (one account, `environment =
//!    "1s"`); mock-grid 0.2.0 and 0.1.0 are dropped in turn over `plugins/mock-grid.wasm` (write
//!    to a hidden temp name, then rename) and `GET /api/v1/plugins` is polled every 5 ms until
//!    the new version is listed. The reload records' `duration_ms` (`GET /api/v1/reloads`) say
//!    how long the reload itself took, and `at_ms` (its end) splits the wait into rename ->
//!    reload start, the reload, and reload end -> listed. For comparison, in process:
//!    `PluginSet::reload` after the same swap. Then the Python guest is dropped in as a new
//!    plugin and removed again, a few times: the same latency with an 18 MB compile in it.
//!
//! `CARBONAUT_BENCH_GUEST=path/to/plugin.wasm` adds any other component to the per-guest
//! table. `CARBONAUT_BENCH_QUICK=1` measures the warm figures only: one cold run each (it
//! fills the cache), no reload latency (part 3).
//!
//! Warm runs start 2.5 s after the cold runs: a file is known by its remembered stamp (not
//! hashed again) only once its ctime is 2 s old (`runtime/cache/stamps.rs`).
//!
//! Run with
//! `CARGO_TARGET_DIR=$PWD/target/bench-build nice -n 19 cargo bench -p carbonaut --bench cache`;
//! figures are in BENCHMARKS.md. `cargo test --benches` runs a one-shot smoke pass instead
//! (small guests only, no daemon, nothing built).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use carbonaut_plugins::{PluginSet, load_file};
use carbonaut_runtime::{CacheState, Limits, Runtime};
use sha2::{Digest, Sha256};

const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
const TRAPPING: &str = env!("CARBONAUT_GUEST_TRAPPING");
/// mock-grid reporting version 0.2.0.
const MOCK_GRID_NEXT: &str = env!("CARBONAUT_GUEST_MOCK_GRID_NEXT");
/// The release binary `cargo bench` builds next to the bench.
const CARBONAUT: &str = env!("CARGO_BIN_EXE_carbonaut");

const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// Python guests with distinct names, so that 4 small mocks + these make 10 plugins.
const PY_GUESTS: usize = 6;
const COLD_RUNS: usize = 3;
const SET_COLD_RUNS: usize = 2;
const WARM_RUNS: usize = 7;
const RELOAD_ROUNDS: usize = 10;
const PY_RELOAD_ROUNDS: usize = 3;
/// `carbonaut::reload::DEBOUNCE` (the module is private; the value is restated here).
const DEBOUNCE: Duration = Duration::from_millis(200);
const POLL: Duration = Duration::from_millis(5);

/// A componentize-py environment provider; `@NAME@` is replaced per guest.
const PY_APP: &str = r#"from typing import List, Tuple
from wit_world import exports
# wasi:http has a `types` interface too, so componentize-py names ours after its package.
from wit_world.imports import carbonaut_provider_types as types


class Metadata(exports.Metadata):
    def metadata(self) -> types.PluginMetadata:
        return types.PluginMetadata(
            name="@NAME@",
            version="0.1.0",
            description="A Python environment provider (benchmark guest).",
            kinds=[types.ProviderKind.ENVIRONMENT],
            settings=[],
            needs=types.CapabilityNeeds(http=[], read_only_dirs=[], key_value=False),
        )


class Environment(exports.Environment):
    def collect(
        self, settings: List[Tuple[str, str]], locations: List[types.LocationQuery]
    ) -> List[types.EnergyMix]:
        return [
            types.EnergyMix(
                location_id=q.id,
                carbon_intensity=300.0,
                emission_factor=types.EmissionFactorType.LIFECYCLE,
                shares=[],
                valid_at=0,
                estimated=True,
            )
            for q in locations
        ]
"#;

fn main() {
    let full = benchmarking();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let work = tempfile::tempdir().expect("a temp dir");
    println!("load average at start: {}", load_average());

    let mut guests: Vec<(String, PathBuf)> = [
        ("mock-cloud", MOCK_CLOUD),
        ("mock-meter", MOCK_METER),
        ("mock-grid", MOCK_GRID),
        ("trapping", TRAPPING),
        ("mock-grid 0.2.0", MOCK_GRID_NEXT),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_owned(), PathBuf::from(p)))
    .collect();
    let mut python: Vec<PathBuf> = Vec::new();
    if full {
        match python_guests(&work.path().join("python")) {
            Ok(built) => python = built,
            Err(why) => println!("NOTE: skipping the Python guests: {why}"),
        }
        if let Some(first) = python.first() {
            guests.push(("py-grid-0 (componentize-py)".into(), first.clone()));
        }
        match rust_dev_guest() {
            Ok(path) => guests.push(("mock-meter, dev profile".into(), path)),
            Err(why) => println!("NOTE: skipping the dev-profile Rust guest: {why}"),
        }
    }

    // Any other component, to compare: `CARBONAUT_BENCH_GUEST=path/to/plugin.wasm`.
    if let Some(extra) = std::env::var_os("CARBONAUT_BENCH_GUEST") {
        guests.push(("CARBONAUT_BENCH_GUEST".into(), PathBuf::from(extra)));
    }
    let (cold_runs, warm_runs) = match (full, quick()) {
        (true, false) => (COLD_RUNS, WARM_RUNS),
        (true, true) => (1, WARM_RUNS),
        (false, _) => (1, 1),
    };
    let set_cold_runs = if quick() { 1 } else { SET_COLD_RUNS };
    let mut rows = Vec::new();
    for (label, path) in &guests {
        rows.push(per_guest(
            &tokio,
            work.path(),
            label,
            path,
            cold_runs,
            warm_runs,
        ));
    }
    print_guest_table(&rows);

    let small = [MOCK_CLOUD, MOCK_METER, MOCK_GRID, TRAPPING].map(PathBuf::from);
    // Folders of distinctly named plugins (names must be unique in a PluginSet).
    let mut sets: Vec<(String, Vec<PathBuf>, usize)> =
        vec![("4 small mocks".into(), small.to_vec(), cold_runs)];
    if let Some(first) = python.first() {
        let mut files = small.to_vec();
        files.push(first.clone());
        sets.push(("4 small + 1 Python".into(), files, set_cold_runs));
    }
    if python.len() == PY_GUESTS {
        let files: Vec<PathBuf> = small.iter().chain(&python).cloned().collect();
        sets.push(("4 small + 6 Python".into(), files, set_cold_runs));
    }
    println!(
        "\n== ready: Runtime::new + enable_cache + PluginSet::default().reload of a folder =="
    );
    for (i, (label, files, cold)) in sets.iter().enumerate() {
        let dir = plugin_folder(&work.path().join(format!("set-{i}")), files.iter());
        let times = plugin_set(&tokio, work.path(), &dir, *cold, warm_runs);
        print_set(label, &times);
    }

    if !full {
        println!("smoke pass done (run with `cargo bench` for the figures)");
        return;
    }

    if !quick() {
        replace_in_process(&tokio, work.path());
    }
    for (label, files, _) in sets.iter().filter(|s| s.0 != "4 small + 1 Python") {
        restart_daemon(work.path(), label, files, set_cold_runs);
    }
    if !quick() {
        reload_latency(work.path(), python.first());
    }
    println!("\nload average at end: {}", load_average());
}

/// Whether `cargo bench` asked for measurements (rather than `cargo test --benches`).
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// Waits until the files the cold runs wrote count as settled
/// (`carbonaut_runtime::cache::stamps::SETTLED`, 2 s, restated): a restart follows the run
/// that compiled by more than that, and only then may a start skip hashing a file whose
/// stamp it remembers. The first warm run still hashes (and remembers); the list of runs
/// shows it.
fn settle() {
    // The smoke pass (`cargo test --benches`) measures nothing: no need to wait.
    if benchmarking() {
        std::thread::sleep(Duration::from_millis(2_500));
    }
}

/// `CARBONAUT_BENCH_QUICK=1`: warm figures only (one cold run each, no reload latency).
fn quick() -> bool {
    std::env::var_os("CARBONAUT_BENCH_QUICK").is_some_and(|v| v == "1")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------------------------------------
// Large guests

/// Builds `PY_GUESTS` componentize-py guests named `py-grid-N` in `dir`.
fn python_guests(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let venv = dir.join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        COMPONENTIZE_PY,
    ]))?;
    let tool = venv.join("bin/componentize-py");
    println!(
        "componentize-py installed in a venv in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The contract the guests target (wit/ holds one folder per supported version).
    let wit = workspace_root().join("wit/0.2.0");
    let mut built = Vec::new();
    let names: Vec<String> = (0..PY_GUESTS).map(|i| format!("py-grid-{i}")).collect();
    // Two at a time: the machine has few cores and each run is mostly single-threaded.
    for chunk in names.chunks(2) {
        let started = Instant::now();
        let mut children: Vec<(Child, PathBuf)> = Vec::new();
        for name in chunk {
            let app = dir.join(name);
            std::fs::create_dir_all(&app).map_err(|e| e.to_string())?;
            std::fs::write(app.join("app.py"), PY_APP.replace("@NAME@", name))
                .map_err(|e| e.to_string())?;
            let out = dir.join(format!("{name}.wasm"));
            let child = Command::new(&tool)
                .current_dir(&app)
                .arg("-d")
                .arg(&wit)
                .args(["-w", "environment-provider", "componentize", "app", "-o"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run componentize-py: {e}"))?;
            children.push((child, out));
        }
        for (child, out) in children {
            let output = child.wait_with_output().map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(format!(
                    "componentize-py failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            built.push(out);
        }
        println!(
            "componentize-py built {} in {:.1} s",
            chunk.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(built)
}

/// mock-meter built in the `dev` profile for wasm32-wasip2: unoptimised, several MB.
fn rust_dev_guest() -> Result<PathBuf, String> {
    let target_dir = target_root()?.join("bench-cache-dev-guest");
    let cargo = std::env::var("CARGO")
        .ok()
        .or_else(|| option_env!("CARGO").map(str::to_owned))
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", "mock-meter", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir);
    // As host/build.rs does: the outer build's settings must not leak into the guest build.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE")
            || key.starts_with("RUSTC")
            || key.starts_with("RUSTFLAGS")
            || key == "RUSTDOCFLAGS"
        {
            cmd.env_remove(key);
        }
    }
    let started = Instant::now();
    run(&mut cmd)?;
    println!(
        "dev-profile mock-meter built (or up to date) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(target_dir.join("wasm32-wasip2/debug/mock_meter.wasm"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(10).collect();
        Err(format!(
            "{cmd:?} failed ({}): {}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf()
}

/// The target directory: this executable is `<target>/<profile>/deps/cache-HASH`.
fn target_root() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cannot tell the target directory from {}", exe.display()))
}

// ---------------------------------------------------------------------------------------------
// Cold and warm loads in process

struct GuestRow {
    label: String,
    wasm_bytes: u64,
    cwasm_bytes: u64,
    cold: Vec<Duration>,
    cold_cpu: Vec<Duration>,
    compile: Vec<Duration>,
    warm: Vec<Duration>,
    runtime_new: Vec<Duration>,
    read: Vec<Duration>,
    sha: Vec<Duration>,
    hit: Vec<Duration>,
    read_cwasm: Vec<Duration>,
    sha_cwasm: Vec<Duration>,
}

/// One load: a new runtime caching in `cache`, then `load_file`. Returns the time, the time
/// `Runtime::new` alone took, and the runtime (dropped by the caller, outside the timing).
fn load_once(
    tokio: &tokio::runtime::Runtime,
    cache: &Path,
    path: &Path,
    expect: CacheState,
) -> (Duration, Duration, Arc<Runtime>) {
    let started = Instant::now();
    let mut runtime =
        carbonaut_plugins::new_runtime(Limits::default()).expect("the runtime starts");
    let runtime_new = started.elapsed();
    runtime
        .enable_cache(cache.to_path_buf())
        .expect("the cache directory");
    let runtime = Arc::new(runtime);
    let plugin = tokio
        .block_on(load_file(&runtime, path))
        .unwrap_or_else(|e| panic!("{} loads: {e}", path.display()));
    let took = started.elapsed();
    assert_eq!(plugin.info().cache, expect, "{}", path.display());
    (took, runtime_new, runtime)
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (10 ms ticks).
fn cpu_time() -> Duration {
    cpu_time_of("self")
}

/// CPU time (user + system) of process `pid` so far, all its threads.
fn cpu_time_of(pid: &str) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn cache_label(label: &str) -> String {
    label.replace([' ', ',', '(', ')'], "_")
}

fn per_guest(
    tokio: &tokio::runtime::Runtime,
    work: &Path,
    label: &str,
    path: &Path,
    cold_runs: usize,
    warm_runs: usize,
) -> GuestRow {
    let mut row = GuestRow {
        label: label.to_owned(),
        wasm_bytes: std::fs::metadata(path).expect("the guest file").len(),
        cwasm_bytes: 0,
        cold: Vec::new(),
        cold_cpu: Vec::new(),
        compile: Vec::new(),
        warm: Vec::new(),
        runtime_new: Vec::new(),
        read: Vec::new(),
        sha: Vec::new(),
        hit: Vec::new(),
        read_cwasm: Vec::new(),
        sha_cwasm: Vec::new(),
    };
    let bytes = std::fs::read(path).expect("read the guest");
    let sha = sha256_hex(&bytes);
    let mut cache = PathBuf::new();
    for run in 0..cold_runs {
        // The compile alone, as a reload does it: into an empty cache, on a ready runtime.
        let mut runtime =
            carbonaut_plugins::new_runtime(Limits::default()).expect("the runtime starts");
        runtime
            .enable_cache(work.join(format!("compile-{}-{run}", cache_label(label))))
            .expect("the cache directory");
        let started = Instant::now();
        let (_component, state) = runtime.compile(&sha, &bytes).expect("it compiles");
        row.compile.push(started.elapsed());
        assert_eq!(state, CacheState::Compiled);
        drop(runtime);

        cache = work.join(format!("cache-{}-{run}", cache_label(label)));
        let cpu = cpu_time();
        let (took, _, runtime) = load_once(tokio, &cache, path, CacheState::Compiled);
        row.cold_cpu.push(cpu_time().saturating_sub(cpu));
        row.cold.push(took);
        drop(runtime);
    }
    let cwasm = std::fs::read_dir(&cache)
        .expect("the cache directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a cache entry");
    row.cwasm_bytes = std::fs::metadata(&cwasm).expect("the cache entry").len();
    settle();
    for _ in 0..warm_runs {
        let (took, runtime_new, runtime) = load_once(tokio, &cache, path, CacheState::Hit);
        row.warm.push(took);
        row.runtime_new.push(runtime_new);
        // The pieces of a hit, timed again on the same runtime right after the load.
        let started = Instant::now();
        let bytes = std::fs::read(path).expect("read the guest");
        row.read.push(started.elapsed());
        let started = Instant::now();
        let sha = sha256_hex(&bytes);
        row.sha.push(started.elapsed());
        let started = Instant::now();
        let (_component, state) = runtime.compile(&sha, &bytes).expect("a cache hit");
        row.hit.push(started.elapsed());
        assert_eq!(state, CacheState::Hit);
        // Inside the hit: the cache reads the whole artifact and checks its sha256 before it
        // deserializes (mmaps) the file.
        let started = Instant::now();
        let artifact = std::fs::read(&cwasm).expect("read the cache entry");
        row.read_cwasm.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(sha256_hex(&artifact));
        row.sha_cwasm.push(started.elapsed());
        drop(runtime);
    }
    println!(
        "{label}: cold {} (runs: {}), warm {} (median of {warm_runs})",
        ms(median(&row.cold)),
        list(&row.cold),
        ms(median(&row.warm)),
    );
    row
}

fn print_guest_table(rows: &[GuestRow]) {
    println!("\n== restart, one guest: Runtime::new + enable_cache + load_file ==");
    println!(
        "| guest | .wasm | .cwasm | cold (median) | cold CPU (median) | compile alone (median) | warm (median) | cold/warm |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (cold, warm) = (median(&r.cold), median(&r.warm));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            mb(r.wasm_bytes),
            mb(r.cwasm_bytes),
            ms(cold),
            ms(median(&r.cold_cpu)),
            ms(median(&r.compile)),
            ms(warm),
            ratio(cold, warm),
        );
    }
    println!("\n== where a warm load goes (medians, each piece timed on its own) ==");
    println!(
        "| guest | warm | Runtime::new | read .wasm | sha256 .wasm | cache hit | of which read .cwasm | of which sha256 .cwasm | of which the rest (deserialize) | rest of load_file (inspect, link, metadata call) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let warm = median(&r.warm);
        let hit = median(&r.hit);
        let pieces = median(&r.runtime_new) + median(&r.read) + median(&r.sha) + hit;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            ms(warm),
            ms(median(&r.runtime_new)),
            ms(median(&r.read)),
            ms(median(&r.sha)),
            ms(hit),
            ms(median(&r.read_cwasm)),
            ms(median(&r.sha_cwasm)),
            ms(hit
                .saturating_sub(median(&r.read_cwasm))
                .saturating_sub(median(&r.sha_cwasm))),
            ms(warm.saturating_sub(pieces)),
        );
    }
}

struct SetTimes {
    plugins: usize,
    cold: Vec<Duration>,
    warm: Vec<Duration>,
}

/// A folder holding copies of `files` under their own names.
fn plugin_folder<'a>(dir: &Path, files: impl Iterator<Item = &'a PathBuf>) -> PathBuf {
    std::fs::create_dir_all(dir).expect("a plugin folder");
    for file in files {
        std::fs::copy(file, dir.join(file.file_name().expect("a file name"))).expect("copy");
    }
    dir.to_path_buf()
}

fn plugin_set(
    tokio: &tokio::runtime::Runtime,
    work: &Path,
    dir: &Path,
    cold_runs: usize,
    warm_runs: usize,
) -> SetTimes {
    let once = |cache: &Path, expect: CacheState| {
        let started = Instant::now();
        let mut runtime =
            carbonaut_plugins::new_runtime(Limits::default()).expect("the runtime starts");
        runtime
            .enable_cache(cache.to_path_buf())
            .expect("the cache directory");
        let runtime = Arc::new(runtime);
        let (set, change) = tokio
            .block_on(PluginSet::default().reload(&runtime, dir))
            .expect("the folder reads");
        let took = started.elapsed();
        assert!(change.refused.is_empty(), "a plugin was refused");
        assert!(set.plugins().all(|p| p.info().cache == expect));
        (took, set.plugins().count(), runtime)
    };
    let name = dir.file_name().expect("a name").to_string_lossy();
    let mut times = SetTimes {
        plugins: 0,
        cold: Vec::new(),
        warm: Vec::new(),
    };
    let mut cache = PathBuf::new();
    for run in 0..cold_runs {
        cache = work.join(format!("cache-{name}-{run}"));
        let (took, n, runtime) = once(&cache, CacheState::Compiled);
        times.cold.push(took);
        times.plugins = n;
        drop(runtime);
    }
    settle();
    for _ in 0..warm_runs {
        let (took, _, runtime) = once(&cache, CacheState::Hit);
        times.warm.push(took);
        drop(runtime);
    }
    times
}

fn print_set(label: &str, t: &SetTimes) {
    println!(
        "{label} ({} plugins): cold {} (runs: {}); warm median {} (min {}, max {}, {} runs: {}); cold/warm {}",
        t.plugins,
        ms(median(&t.cold)),
        list(&t.cold),
        ms(median(&t.warm)),
        ms(min(&t.warm)),
        ms(max(&t.warm)),
        t.warm.len(),
        list(&t.warm),
        ratio(median(&t.cold), median(&t.warm)),
    );
}

// ---------------------------------------------------------------------------------------------
// The real binary

/// A folder with `plugins/` (copies of `files`) and a config with one account on the mocks.
fn site(dir: &Path, files: &[PathBuf]) -> PathBuf {
    plugin_folder(&dir.join("plugins"), files.iter());
    let config = dir.join("carbonaut.toml");
    std::fs::write(
        &config,
        r#"[paths]
plugin_dir = "plugins"
state_dir = "state"

[intervals]
topology_sync = "2s"
resource_metrics = "1s"
environment = "1s"

[providers.cloud]
plugin = "mock-cloud"
settings = { projects = 2, resources_per_project = 3 }

[providers.meter]
plugin = "mock-meter"

[providers.grid]
plugin = "mock-grid"

[environment]
provider = "grid"

[accounts.acme]
discovery = "cloud"
resource_metrics = "meter"
"#,
    )
    .expect("write the config");
    config
}

/// `carbonaut run --config FILE --listen 127.0.0.1:0`, timed from the spawn.
struct Daemon {
    child: Child,
    addr: String,
    /// From the spawn to the "listening on" log line.
    listening: Duration,
    /// The process's CPU time (all threads) just after that line.
    cpu_at_listening: Duration,
    spawned: Instant,
    client: reqwest::blocking::Client,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let spawned = Instant::now();
        let mut child = Command::new(CARBONAUT)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start carbonaut");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send((addr.to_owned(), Instant::now()));
                }
            }
        });
        let (addr, at) = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("carbonaut starts listening");
        let cpu_at_listening = cpu_time_of(&child.id().to_string());
        Daemon {
            child,
            addr,
            listening: at - spawned,
            cpu_at_listening,
            spawned,
            client: reqwest::blocking::Client::new(),
        }
    }

    fn get(&self, path: &str) -> Option<reqwest::blocking::Response> {
        self.client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .ok()
    }

    fn json(&self, path: &str) -> serde_json::Value {
        self.get(path)
            .expect("the daemon answers")
            .json()
            .expect("JSON")
    }

    /// From the spawn to `/readyz` answering 200, polled every 5 ms.
    fn wait_ready(&self) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.get("/readyz").is_some_and(|r| r.status().is_success()) {
                return self.spawned.elapsed();
            }
            assert!(Instant::now() < deadline, "carbonaut never became ready");
            std::thread::sleep(POLL);
        }
    }

    fn plugins(&self) -> Vec<serde_json::Value> {
        self.json("/api/v1/plugins")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn reloads(&self) -> Vec<ReloadView> {
        serde_json::from_value(self.json("/api/v1/reloads")).expect("reload records")
    }

    /// SIGTERM and a clean exit (sled flushed, so the next start is a real warm restart).
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "carbonaut exited with {exit}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fields of a `carbonaut::reload::ReloadRecord` read back from the API.
#[derive(serde::Deserialize)]
struct ReloadView {
    at_ms: u64,
    outcome: String,
    items: Vec<String>,
    duration_ms: u64,
}

/// Restarts of the real binary on a folder of plugins: cold (fresh state directory, so an
/// empty cache and a new sled database) and warm (the state the previous run left).
fn restart_daemon(work: &Path, label: &str, files: &[PathBuf], cold_runs: usize) {
    // (spawn -> "listening on", spawn -> /readyz 200, CPU time used by "listening on")
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut config = PathBuf::new();
    for run in 0..cold_runs {
        config = site(&work.join(format!("restart-{}-{run}", files.len())), files);
        let daemon = Daemon::start(&config);
        let ready = daemon.wait_ready();
        cold.push([daemon.listening, ready, daemon.cpu_at_listening]);
        daemon.stop();
    }
    settle();
    for _ in 0..WARM_RUNS {
        let daemon = Daemon::start(&config);
        let ready = daemon.wait_ready();
        let plugins = daemon.plugins();
        assert_eq!(plugins.len(), files.len());
        assert!(plugins.iter().all(|p| p["cache"] == "hit"), "{plugins:?}");
        warm.push([daemon.listening, ready, daemon.cpu_at_listening]);
        daemon.stop();
    }
    let pick =
        |v: &[[Duration; 3]], i: usize| -> Vec<Duration> { v.iter().map(|p| p[i]).collect() };
    println!(
        "\n== restart of the real binary, {label} ({} plugins): spawn -> event ==",
        files.len()
    );
    for (what, i) in [
        ("\"listening on\" logged", 0),
        ("/readyz 200", 1),
        ("process CPU time at \"listening on\"", 2),
    ] {
        let (c, w) = (pick(&cold, i), pick(&warm, i));
        println!(
            "{what}: cold {} (runs: {}); warm median {} (min {}, max {}, {} runs: {}); cold/warm {}",
            ms(median(&c)),
            list(&c),
            ms(median(&w)),
            ms(min(&w)),
            ms(max(&w)),
            w.len(),
            list(&w),
            ratio(median(&c), median(&w)),
        );
    }
}

/// The plugin half of a reload, in process: `PluginSet::reload` on a runtime with a cache
/// after `mock-grid.wasm` was replaced (three files read and hashed, one compiled into the
/// cache), then `CompileCache::prune` as the reloader does, so the next swap compiles again.
fn replace_in_process(tokio: &tokio::runtime::Runtime, work: &Path) {
    let files = [MOCK_CLOUD, MOCK_METER, MOCK_GRID].map(PathBuf::from);
    let dir = plugin_folder(&work.join("replace"), files.iter());
    let mut runtime =
        carbonaut_plugins::new_runtime(Limits::default()).expect("the runtime starts");
    runtime
        .enable_cache(work.join("cache-replace"))
        .expect("the cache directory");
    let runtime = Arc::new(runtime);
    let (mut set, _) = tokio
        .block_on(PluginSet::default().reload(&runtime, &dir))
        .expect("the folder reads");
    let versions = [
        std::fs::read(MOCK_GRID_NEXT).expect("read"),
        std::fs::read(MOCK_GRID).expect("read"),
    ];
    let mut times = Vec::new();
    for round in 0..RELOAD_ROUNDS {
        std::fs::write(dir.join("mock-grid.wasm"), &versions[round % 2]).expect("write");
        let started = Instant::now();
        let (next, change) = tokio
            .block_on(set.reload(&runtime, &dir))
            .expect("the folder reads");
        times.push(started.elapsed());
        assert_eq!(change.replaced.len(), 1);
        let grid = next.by_name()["mock-grid"].info().cache;
        assert_eq!(grid, CacheState::Compiled);
        let keep = next.plugins().map(|p| p.info().sha256.clone()).collect();
        runtime.cache().expect("a cache").prune(&keep);
        set = next;
    }
    println!(
        "\n== in process: PluginSet::reload after mock-grid.wasm was replaced (+ prune) ==\nmin {} / median {} / max {} ({} rounds)",
        ms(min(&times)),
        ms(median(&times)),
        ms(max(&times)),
        times.len()
    );
}

/// One file dropped into the watched folder, seen from outside.
struct Round {
    /// From the rename to the API listing the new plugin.
    answered: Duration,
    /// The reload record's own time.
    duration: Duration,
    /// From the rename to the reload starting (`at_ms - duration_ms`, wall clock, ms).
    to_start: Duration,
    /// From the reload ending (`at_ms`) to the API listing it.
    after_end: Duration,
}

impl Round {
    fn new(answered: Duration, written_ms: u64, record: &ReloadView) -> Round {
        let start_ms = record.at_ms.saturating_sub(record.duration_ms);
        let end = Duration::from_millis(record.at_ms.saturating_sub(written_ms));
        Round {
            answered,
            duration: Duration::from_millis(record.duration_ms),
            to_start: Duration::from_millis(start_ms.saturating_sub(written_ms)),
            after_end: answered.saturating_sub(end),
        }
    }

    fn print(&self, round: usize, what: &str, cache: &serde_json::Value) {
        println!(
            "round {round}: {what}: {} (minus debounce {}); rename -> reload start {}; reload duration_ms {}; reload end -> listed {}; cache {cache}",
            ms(self.answered),
            ms(self.answered.saturating_sub(DEBOUNCE)),
            ms(self.to_start),
            ms(self.duration),
            ms(self.after_end),
        );
    }
}

/// Drops new versions into the watched folder and times until the API lists them.
fn reload_latency(work: &Path, python: Option<&PathBuf>) {
    let dir = work.join("reload");
    let config = site(
        &dir,
        &[MOCK_CLOUD, MOCK_METER, MOCK_GRID].map(PathBuf::from),
    );
    let plugins = dir.join("plugins");
    let daemon = Daemon::start(&config);
    daemon.wait_ready();
    // Let the first collection round settle.
    std::thread::sleep(Duration::from_secs(2));

    let versions = [
        ("0.2.0", std::fs::read(MOCK_GRID_NEXT).expect("read")),
        ("0.1.0", std::fs::read(MOCK_GRID).expect("read")),
    ];
    let mut rounds = Vec::new();
    let mut extra_records = 0;
    println!(
        "\n== reload latency: mock-grid.wasm replaced (written -> listed by /api/v1/plugins) =="
    );
    for round in 0..RELOAD_ROUNDS {
        let (version, bytes) = &versions[round % 2];
        let before = daemon.reloads().len();
        let (took, written_ms, listed) = drop_file(&plugins, "mock-grid.wasm", bytes, || {
            daemon
                .plugins()
                .into_iter()
                .find(|p| p["name"] == "mock-grid" && p["version"] == *version)
        });
        let record = wait_record(&daemon, before, |r| {
            r.outcome == "applied" && r.items.iter().any(|i| i.contains("plugin replaced"))
        });
        // Give trailing events time to make (or not make) another reload, then count them.
        std::thread::sleep(Duration::from_millis(500));
        extra_records += daemon.reloads().len() - before - 1;
        let r = Round::new(took, written_ms, &record);
        r.print(round, &format!("-> {version}"), &listed["cache"]);
        rounds.push(r);
    }
    summarize_reloads("mock-grid replaced", &rounds);
    println!("reload records besides the expected ones: {extra_records}");

    if let Some(python) = python {
        let bytes = std::fs::read(python).expect("read the Python guest");
        let mut rounds = Vec::new();
        println!("\n== reload latency: py-grid-0.wasm (18 MB) added (written -> listed) ==");
        for round in 0..PY_RELOAD_ROUNDS {
            let before = daemon.reloads().len();
            let (took, written_ms, listed) = drop_file(&plugins, "py-grid-0.wasm", &bytes, || {
                daemon
                    .plugins()
                    .into_iter()
                    .find(|p| p["name"] == "py-grid-0")
            });
            let record = wait_record(&daemon, before, |r| {
                r.items
                    .iter()
                    .any(|i| i.contains("plugin added: py-grid-0"))
            });
            let r = Round::new(took, written_ms, &record);
            r.print(round, "added", &listed["cache"]);
            rounds.push(r);
            std::fs::remove_file(plugins.join("py-grid-0.wasm")).expect("remove");
            poll(Duration::from_secs(30), || {
                daemon
                    .plugins()
                    .iter()
                    .all(|p| p["name"] != "py-grid-0")
                    .then_some(())
            });
            std::thread::sleep(Duration::from_millis(500));
        }
        summarize_reloads("py-grid-0 added", &rounds);
    }
    daemon.stop();
}

/// Writes `bytes` to a hidden temp name in `dir`, renames it to `name`, and polls `listed`
/// every 5 ms. Returns the time from the rename, the rename's wall-clock time (ms since the
/// epoch, as in reload records) and what `listed` found.
fn drop_file<T>(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    listed: impl Fn() -> Option<T>,
) -> (Duration, u64, T) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).expect("write the temp file");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
    let written = Instant::now();
    let written_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let found = poll(Duration::from_secs(60), listed);
    (written.elapsed(), written_ms, found)
}

fn poll<T>(limit: Duration, check: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out polling the daemon");
        std::thread::sleep(POLL);
    }
}

/// The newest reload record added since there were `before`, that `wanted` accepts.
fn wait_record(daemon: &Daemon, before: usize, wanted: impl Fn(&ReloadView) -> bool) -> ReloadView {
    poll(Duration::from_secs(10), || {
        let records = daemon.reloads();
        let new = records.len().saturating_sub(before);
        records.into_iter().take(new).find(|r| wanted(r))
    })
}

fn summarize_reloads(what: &str, rounds: &[Round]) {
    let pick = |f: fn(&Round) -> Duration| rounds.iter().map(f).collect::<Vec<_>>();
    let answered = pick(|r| r.answered);
    let beyond = pick(|r| r.answered.saturating_sub(DEBOUNCE));
    let rest = pick(|r| {
        r.answered
            .saturating_sub(DEBOUNCE)
            .saturating_sub(r.duration)
    });
    for (label, v) in [
        ("written -> answering", answered),
        ("  minus the 200 ms debounce", beyond),
        ("  rename -> reload start", pick(|r| r.to_start)),
        ("  reload duration_ms", pick(|r| r.duration)),
        ("  reload end -> listed", pick(|r| r.after_end)),
        ("  answering - debounce - duration_ms", rest),
    ] {
        println!(
            "{what}: {label}: min {} / median {} / max {} ({} rounds)",
            ms(min(&v)),
            ms(median(&v)),
            ms(max(&v)),
            v.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Figures

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn min(v: &[Duration]) -> Duration {
    v.iter().min().copied().unwrap_or_default()
}

fn max(v: &[Duration]) -> Duration {
    v.iter().max().copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `cold/warm` as `80x`, or `n/a` when the warm figure is below the clock's resolution.
fn ratio(cold: Duration, warm: Duration) -> String {
    if warm.is_zero() {
        "n/a".into()
    } else {
        format!("{:.0}x", cold.as_secs_f64() / warm.as_secs_f64())
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn list(v: &[Duration]) -> String {
    v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
}
