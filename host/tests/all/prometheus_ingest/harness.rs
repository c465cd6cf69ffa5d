//! What the prometheus_ingest tests run against: a small HTTP server for fixture files and
//! scripted answers, a Prometheus and a node_exporter on loopback, and the plugin loaded
//! into the host.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carbonaut_model::{
    Account, Hardware, Location, Project, ProviderError, ResourceInfo, ResourceKind, ResourceSample,
};
use carbonaut_plugins::{CallError, Plugin, load_file};
use carbonaut_runtime::Grants;

use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prometheus");

pub type Answer =
    dyn Fn(&str, &[(String, String)]) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync;

/// A small HTTP/1.1 server on loopback: `answer(path, headers)` gives status, headers, body.
pub fn serve(answer: Arc<Answer>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || respond(stream, &*answer));
        }
    });
    addr
}

pub fn respond(mut stream: TcpStream, answer: &Answer) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, extra, body) = answer(path, &headers);
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// Serves the fixture files, as an exporter serves /metrics.
pub fn file_server() -> SocketAddr {
    serve(Arc::new(|path, _| {
        let name = path.trim_start_matches('/');
        match std::fs::read(Path::new(FIXTURES).join(name)) {
            Ok(body) if !name.contains("..") => (
                200,
                vec![("Content-Type", "text/plain; version=0.0.4".to_owned())],
                body,
            ),
            _ => (404, vec![], b"404 page not found\n".to_vec()),
        }
    }))
}

pub fn origin(addr: impl std::fmt::Display) -> Grants {
    Grants {
        http: vec![format!("http://{addr}").parse().expect("an origin")],
        ..Grants::NONE
    }
}

pub fn account() -> Account {
    Account {
        name: "lab".into(),
        settings: vec![],
    }
}

pub fn resource(id: &str, name: &str, vcpus: Option<u32>) -> ResourceInfo {
    ResourceInfo {
        id: id.into(),
        name: name.into(),
        kind: ResourceKind::Host,
        location: Location {
            country: None,
            region: None,
            zone: None,
            coordinates: None,
        },
        hardware: Hardware {
            vcpus,
            memory_bytes: None,
            cpu_model: None,
        },
        labels: vec![],
    }
}

/// `pairs` with `key` set to `value`, replacing an earlier value (the first one counts).
pub fn with<'a>(
    pairs: &[(&'a str, &'a str)],
    key: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<_> = pairs.iter().copied().filter(|(k, _)| *k != key).collect();
    out.push((key, value));
    out
}

pub fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() <= 1e-9 * expected.abs())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

pub fn by_id<'a>(samples: &'a [ResourceSample], id: &str) -> &'a ResourceSample {
    samples
        .iter()
        .find(|s| s.resource_id == id)
        .unwrap_or_else(|| panic!("no sample for {id} in {samples:#?}"))
}

pub struct Harness {
    rt: tokio::runtime::Runtime,
    plugin: Plugin,
}

impl Harness {
    pub fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let plugin = rt
            .block_on(load_file(&runtime(), PROMETHEUS.as_ref()))
            .expect("the prometheus plugin loads");
        Harness { rt, plugin }
    }

    pub fn collect(
        &self,
        grants: &Grants,
        pairs: &[(&str, &str)],
        resources: &[ResourceInfo],
    ) -> Result<Vec<ResourceSample>, CallError> {
        self.rt
            .block_on(
                self.plugin
                    .collect_samples(grants, &settings(pairs), &account(), resources),
            )
            .map(carbonaut_plugins::Checked::into_items)
    }

    pub fn projects(&self, grants: &Grants, pairs: &[(&str, &str)]) -> Vec<Project> {
        self.rt
            .block_on(
                self.plugin
                    .list_projects(grants, &settings(pairs), &account()),
            )
            .expect("projects")
            .into_items()
    }

    pub fn resources(
        &self,
        grants: &Grants,
        pairs: &[(&str, &str)],
        project: &Project,
    ) -> Vec<ResourceInfo> {
        self.rt
            .block_on(
                self.plugin
                    .list_resources(grants, &settings(pairs), &account(), project),
            )
            .expect("resources")
            .into_items()
    }
}

pub fn provider_error(result: Result<Vec<ResourceSample>, CallError>) -> ProviderError {
    let err = result.expect_err("the call fails");
    err.provider_error()
        .cloned()
        .unwrap_or_else(|| panic!("not a provider error: {err}"))
}

/// Polls `check` every 200 ms for at most `secs` seconds; panics with `what` and the last
/// answer when it never holds.
pub fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(Instant::now() < deadline, "{what} never happened: {last}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn query_result_len(port: u16, promql: &str) -> Result<usize, String> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let json: serde_json::Value = reqwest::blocking::Client::new()
        .get(url)
        .query(&[("query", promql)])
        .send()
        .and_then(|r| r.json())
        .map_err(|e| e.to_string())?;
    json["data"]["result"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| json.to_string())
}

/// Prometheus scraping the fixtures (jobs scaphandre, kepler, kepler-legacy) and a
/// node_exporter (job node) every second.
pub struct Stack {
    pub prometheus: u16,
    pub node: u16,
    pub files: SocketAddr,
    _processes: Vec<Reaped>,
    _dir: tempfile::TempDir,
}

pub fn start_stack() -> Stack {
    let prometheus = require_tool("prometheus");
    let node_exporter = require_tool_from("prometheus-node-exporter", "prometheus-node-exporter");
    let files = file_server();
    let dir = tempfile::tempdir().expect("temp dir");

    let node = free_port();
    // Only the CPU collector: it is what the plugin reads, and it keeps scrapes quick.
    let node_process = Command::new(node_exporter)
        .arg(format!("--web.listen-address=127.0.0.1:{node}"))
        .args(["--collector.disable-defaults", "--collector.cpu"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let node_process = Reaped(node_process);

    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for (job, path) in [
        ("scaphandre", "/scaphandre.prom"),
        ("kepler", "/kepler.prom"),
        ("kepler-legacy", "/kepler-legacy.prom"),
    ] {
        config.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: {path}\n    static_configs:\n      - targets: ['{files}']\n"
        ));
    }
    config.push_str(&format!(
        "  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node}']\n"
    ));
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).expect("write prometheus.yml");
    let port = free_port();
    let server = Command::new(prometheus)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let server = Reaped(server);

    wait_until(30, "Prometheus ready", || {
        let url = format!("http://127.0.0.1:{port}/-/ready");
        match reqwest::blocking::get(url) {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(r.status().to_string()),
            Err(e) => Err(e.to_string()),
        }
    });
    // Every target scraped once, and node_exporter twice (a rate needs two samples).
    wait_until(30, "the first scrapes", || {
        let up = query_result_len(port, "up == 1")?;
        let rated = query_result_len(port, "rate(node_cpu_seconds_total{mode=\"idle\"}[5s])")?;
        if up == 4 && rated > 0 {
            Ok(())
        } else {
            Err(format!("{up} targets up, {rated} CPU rates"))
        }
    });
    Stack {
        prometheus: port,
        node,
        files,
        _processes: vec![server, node_process],
        _dir: dir,
    }
}

/// The CPUs node_exporter reports: one `cpuN` line each in /proc/stat.
pub fn cpu_count() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count() as f64
}
