//! What the prometheus_ingest tests run against: the fixture files served over HTTP, a
//! Prometheus scraping them and a node_exporter on loopback, and the plugin loaded into the
//! host.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use carbonaut_model::{
    Account, Hardware, Location, Project, ProviderError, ResourceInfo, ResourceKind, ResourceSample,
};
use carbonaut_plugins::{CallError, Plugin, load_file};
use carbonaut_runtime::Grants;

use crate::fake_api::{Upstream, reply};
use crate::support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prometheus");

/// Serves the fixture files, as an exporter serves /metrics.
pub fn file_server() -> SocketAddr {
    Upstream::start(|seen| {
        let name = seen.path.trim_start_matches('/');
        match std::fs::read_to_string(Path::new(FIXTURES).join(name)) {
            Ok(body) if !name.contains("..") => {
                reply(200, body).header("Content-Type", "text/plain; version=0.0.4")
            }
            _ => reply(404, "404 page not found\n".to_owned()),
        }
    })
    .addr
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
            cloud: None,
            grid_zone: None,
            country: None,
            region: None,
            zone: None,
            coordinates: None,
        },
        hardware: Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
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

/// How many series the instant query `promql` has now, or why there is no answer.
pub fn series_count(prometheus: &Prometheus, promql: &str) -> Result<usize, String> {
    prometheus.query(promql).map(|series| series.len())
}

/// Prometheus scraping the fixtures (jobs scaphandre, kepler, kepler-legacy) and a
/// node_exporter (job node) every second.
pub struct Stack {
    pub prometheus: u16,
    pub node: u16,
    pub files: SocketAddr,
    _servers: (Prometheus, NodeExporter),
}

pub fn start_stack() -> Stack {
    let files = file_server();
    // Only the CPU collector: it is what the plugin reads, and it keeps scrapes quick.
    let node = NodeExporter::start(&["--collector.disable-defaults", "--collector.cpu"]);
    let mut config = EVERY_SECOND.to_owned();
    for (name, path) in [
        ("scaphandre", "/scaphandre.prom"),
        ("kepler", "/kepler.prom"),
        ("kepler-legacy", "/kepler-legacy.prom"),
    ] {
        config.push_str(&job(name, path, &[files.to_string()]));
    }
    config.push_str(&job(
        "node",
        "/metrics",
        &[format!("127.0.0.1:{}", node.port())],
    ));
    let prometheus = Prometheus::start(&config);
    // Every target scraped once, and node_exporter twice (a rate needs two samples).
    wait_until(30, "the first scrapes", || {
        let up = series_count(&prometheus, "up == 1")?;
        let rated = series_count(
            &prometheus,
            "rate(node_cpu_seconds_total{mode=\"idle\"}[5s])",
        )?;
        if up == 4 && rated > 0 {
            Ok(())
        } else {
            Err(format!("{up} targets up, {rated} CPU rates"))
        }
    });
    Stack {
        prometheus: prometheus.port(),
        node: node.port(),
        files,
        _servers: (prometheus, node),
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
