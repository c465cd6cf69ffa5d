//! Programs from outside this repository that tests and benches run, and what running them
//! takes: finding one on `PATH` (a missing one fails with the Debian package to install, never
//! skips), a free loopback port, a process killed when its holder is dropped. Debian's
//! `prometheus` and `prometheus-node-exporter` are started here and nowhere else: their flags,
//! their storage, when they are ready and how Prometheus' query API is asked.
//!
//! Benches include this file by `#[path]`, so it uses nothing of the test crate: only std,
//! tempfile, reqwest and serde_json.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A command that must exist on this machine (`.ci/run` installs it); a missing one fails the
/// test with what to install, never skips it.
pub fn require_tool(name: &str) -> PathBuf {
    require_tool_from(name, "prometheus")
}

/// [`require_tool`] for a command from Debian package `package`.
pub fn require_tool_from(name: &str, package: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: `apt-get install {package}` provides it (.ci/run does this)"
        )
    })
}

/// Where `name` is on `PATH`, if it is.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed when the test ends, passing or panicking.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The head of a Prometheus config that scrapes every second and evaluates rules as often,
/// so that a test waits seconds for data, not minutes; `scrape_configs` entries follow.
pub const EVERY_SECOND: &str = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  \
                                evaluation_interval: 1s\nscrape_configs:\n";

/// A `scrape_configs` entry: job `name` scraping `path` of each of `targets` (`host:port`).
pub fn job(name: &str, path: &str, targets: &[String]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "  - job_name: {name}\n    metrics_path: {path}\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

/// Debian's Prometheus on a free loopback port, its files in a temporary folder, killed when
/// dropped.
pub struct Prometheus {
    // Killed before the folder it writes to is removed.
    _process: Reaped,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with `config` as its `prometheus.yml` and waits until it is ready.
    pub fn start(config: &str) -> Prometheus {
        Prometheus::start_with(|_, _| config.to_owned())
    }

    /// Starts Prometheus with the config `prepare(folder, port)` returns, once it has put
    /// beside it what the config refers to (rule files; blocks in `folder/data`, the storage,
    /// are loaded). The config may name `port`, Prometheus' own. Waits until it is ready.
    pub fn start_with(prepare: impl FnOnce(&Path, u16) -> String) -> Prometheus {
        let binary = require_tool("prometheus");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, prepare(dir.path(), port)).expect("write prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let process = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create prometheus.log"))
            .spawn()
            .expect("start prometheus");
        let mut process = Reaped(process);
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        wait_serving(&mut process.0, &ready, "Prometheus", &log);
        Prometheus {
            _process: process,
            port,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v1/{path}` with `params`: the whole answer when its status is `success`,
    /// else why not (no answer, not JSON, or the answer itself).
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let json: serde_json::Value = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/{path}", self.url()))
            .query(params)
            .send()
            .and_then(|r| r.json())
            .map_err(|e| format!("no answer from Prometheus: {e}"))?;
        if json["status"] != "success" {
            return Err(format!("{path} failed: {json}"));
        }
        Ok(json)
    }

    /// The samples of the instant query `promql` now (each `{"metric", "value"}`).
    pub fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        result(self.api("query", &[("query", promql)])?)
    }

    /// The samples of the instant query `promql` at `at`, seconds since the epoch.
    pub fn query_at(&self, promql: &str, at: f64) -> Result<Vec<serde_json::Value>, String> {
        let at = format!("{at:.3}");
        result(self.api("query", &[("query", promql), ("time", &at)])?)
    }
}

fn result(json: serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
    json["data"]["result"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("no data.result in {json}"))
}

/// Debian's node_exporter on a free loopback port, killed when dropped.
pub struct NodeExporter {
    process: Reaped,
    port: u16,
    // Its stderr, shown if it does not start.
    _log: tempfile::NamedTempFile,
}

impl NodeExporter {
    /// Starts node_exporter with `args` (which collectors) and waits until it serves
    /// `/metrics`.
    pub fn start(args: &[&str]) -> NodeExporter {
        let binary = require_tool_from("prometheus-node-exporter", "prometheus-node-exporter");
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("temp file");
        let process = Command::new(binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("reopen the log"))
            .spawn()
            .expect("start node_exporter");
        let mut process = Reaped(process);
        let url = format!("http://127.0.0.1:{port}/metrics");
        wait_serving(&mut process.0, &url, "node_exporter", log.path());
        NodeExporter {
            process,
            port,
            _log: log,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    // Only the footprint bench measures it.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// Polls `url` until it answers 2xx; fails with `log` if `child` exits or 30 s pass.
fn wait_serving(child: &mut Child, url: &str, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = |why: String| -> ! {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        panic!("{what} did not start: {why}; its log:\n{log}")
    };
    loop {
        match reqwest::blocking::get(url) {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if Instant::now() > deadline => failed(format!("{url} answers {}", r.status())),
            Err(e) if Instant::now() > deadline => failed(format!("{url}: {e}")),
            _ => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            failed(format!("it exited with {status}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
