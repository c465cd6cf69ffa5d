//! History rollups (issue 14) at 10 000 resources: 10 accounts of 100 projects of 10
//! resources, each labelled with one of 3 teams, over 5 grid locations.
//!
//! 1. Write cost per collection: `Recorder::record` for every resource (one sample each, 10 s
//!    after the previous one, priced), then `Recorder::persist` (one sled batch, the pruning
//!    step), timed per collection over 120 collections (20 minutes of samples, so one crosses
//!    an hour boundary and reads the new hour's buckets from sled). Reported: min, median, p95
//!    and max, for record and persist separately.
//! 2. Size: a state directory filled as a full retention leaves it (daily buckets for 400
//!    days, hourly for 14, per resource for 3 days), written directly as buckets like the
//!    recorder writes them: the number of buckets, the key + value bytes, and the directory's
//!    size on disk after a flush.
//! 3. Report latency over a 400-day range on that store, `Report::build` (median of several
//!    runs): by account per day and per month, by project per month, by label per month.
//!
//! 4. `history growth [HOURS]` alone: resident memory across changes of hour. The recorder
//!    and the state store as the collector drives them (every resource recorded, then the
//!    history written with the counters in one transaction), one collection per simulated
//!    minute for HOURS hours (default 24), the heap trimmed and VmRSS / RssAnon read at the
//!    end of each hour, with the state directory's size. What a daemon under faketime shows
//!    per hour, without plugins, HTTP or faketime.
//!
//! Run with `cargo bench -p carbonaut --bench history`; the figures are in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carbonaut::config::ReportsConfig;
use carbonaut_model::{Hardware, Location, Project, ResourceInfo, ResourceKind};
use carbonaut_store::history::{
    Advance, Bucket, DAY_MS, HOUR_MS, HistoryStore, Recorder, Report, ReportQuery, bucket_key,
};
use carbonaut_store::state::{
    AccountNode, Counters, ProjectNode, ResourceId, ResourceRecord, StateStore, Topology,
};

const ACCOUNTS: usize = 10;
const PROJECTS: usize = 100;
const RESOURCES_PER_PROJECT: usize = 10;
const LOCATIONS: [&str; 5] = ["DE", "FR", "US-MIDA-PJM", "SE", "PL"];
const TEAMS: usize = 3;

fn topology() -> Topology {
    let mut t = Topology::default();
    for a in 0..ACCOUNTS {
        let name = format!("account-{a}");
        let mut account = AccountNode {
            name: name.clone(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            provider: "cloud".into(),
            projects: Default::default(),
        };
        for p in 0..PROJECTS {
            let pid = format!("{name}-p{p}");
            let mut project = ProjectNode {
                project: Project {
                    id: pid.clone(),
                    name: pid.clone(),
                    labels: vec![],
                },
                first_seen_ms: 0,
                last_seen_ms: 0,
                provider: "cloud".into(),
                resources: Default::default(),
            };
            for r in 0..RESOURCES_PER_PROJECT {
                let rid = format!("{pid}-vm{r}");
                let record = ResourceRecord {
                    id: ResourceId::new(&name, &pid, &rid),
                    info: std::sync::Arc::new(ResourceInfo {
                        id: rid.clone(),
                        name: rid.clone(),
                        kind: ResourceKind::Vm,
                        location: Location {
                            cloud: None,
                            grid_zone: None,
                            country: Some(LOCATIONS[r % LOCATIONS.len()].into()),
                            region: None,
                            zone: None,
                            coordinates: None,
                        },
                        hardware: Hardware {
                            instance_type: None,
                            gpu_count: None,
                            gpu_model: None,
                            vcpus: Some(4),
                            memory_bytes: None,
                            cpu_model: None,
                        },
                        labels: vec![("team".into(), format!("team-{}", r % TEAMS))],
                    }),
                    first_seen_ms: 0,
                    last_seen_ms: 0,
                    provider: "cloud".into(),
                };
                project.resources.insert(rid, record);
            }
            account.projects.insert(pid, project);
        }
        t.accounts.insert(name, account);
    }
    t
}

fn settings() -> ReportsConfig {
    ReportsConfig {
        label_keys: vec!["team".into()],
        ..ReportsConfig::default()
    }
}

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: min {:.2} ms, median {:.2} ms, p95 {:.2} ms, max {:.2} ms ({} runs)",
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[v.len() * 95 / 100]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

/// A fresh state directory with its recorder, the topology and each resource's location.
struct Estate {
    dir: tempfile::TempDir,
    state: StateStore,
    recorder: Recorder,
    topology: Arc<Topology>,
    resources: Vec<(ResourceId, &'static str)>,
    settings: ReportsConfig,
}

impl Estate {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = StateStore::open(dir.path()).expect("state");
        let recorder = Recorder::new(
            HistoryStore::new(state.history_tree().expect("tree")),
            settings(),
        );
        let topology = Arc::new(topology());
        let resources = topology
            .resources()
            .enumerate()
            .map(|(i, (_, _, r))| (r.id.clone(), LOCATIONS[i % LOCATIONS.len()]))
            .collect();
        Estate {
            dir,
            state,
            recorder,
            topology,
            resources,
            settings: settings(),
        }
    }

    /// Records one priced sample of every resource, read at `at` and `interval_ms` after the
    /// previous one; `each` sees every advance recorded.
    fn record_all(&mut self, at: u64, interval_ms: u64, mut each: impl FnMut(&Advance<'_>)) {
        for (i, (id, location)) in self.resources.iter().enumerate() {
            let joules = 500.0 + i as f64;
            let advance = Advance {
                resource: id,
                location: Some(location),
                provider: "meter",
                priced_by: Some("grid"),
                previous_ms: Some(at - interval_ms),
                read_at_ms: at,
                joules,
                grams: joules / 3.6e6 * 300.0,
                intensity: Some(300.0),
                estimated: i % 10 == 0,
            };
            each(&advance);
            self.recorder
                .record(&self.topology, &self.settings, advance);
        }
    }
}

fn write_cost() {
    let mut estate = Estate::new();
    // 2026-11-01T00:50:00Z: the 60th collection crosses into the next hour.
    let start = 1_793_491_200_000 + 50 * 60_000;
    let (mut record_times, mut persist_times) = (Vec::new(), Vec::new());
    for c in 0..120u64 {
        let at = start + c * 10_000;
        let began = Instant::now();
        estate.record_all(at, 10_000, |_| {});
        let recorded = Instant::now();
        estate.recorder.persist(at);
        // The collector's counter save flushes the database right after; time it with us.
        estate.state.flush().expect("flush");
        persist_times.push(recorded.elapsed());
        record_times.push(recorded - began);
    }
    println!(
        "== write cost per collection, {} resources",
        estate.resources.len()
    );
    stats("record (all resources)", record_times.clone());
    stats("persist + flush", persist_times.clone());
    let total: Vec<Duration> = record_times
        .iter()
        .zip(&persist_times)
        .map(|(a, b)| *a + *b)
        .collect();
    stats("record + persist + flush", total);
}

/// Reads `VmRSS` and `RssAnon` (MiB) from /proc/self/status.
fn resident() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

fn growth(hours: u64) {
    let mut estate = Estate::new();
    let mut counters: std::collections::HashMap<ResourceId, Counters> = estate
        .resources
        .iter()
        .map(|(id, _)| (id.clone(), Counters::default()))
        .collect();
    println!(
        "== resident across changes of hour, {} resources, a collection per simulated minute",
        estate.resources.len()
    );
    println!("hour  VmRSS MiB  RssAnon MiB  state MiB  last collection ms");
    // 2026-11-01T00:00:00Z
    let start = 1_793_491_200_000;
    for minute in 0..hours * 60 {
        let at = start + (minute + 1) * 60_000;
        let began = Instant::now();
        estate.record_all(at, 60_000, |a| {
            if let Some(c) = counters.get_mut(a.resource) {
                c.energy_joules_total += a.joules;
                c.emissions_grams_total += a.grams;
            }
        });
        let write = estate.recorder.prepare_write(at);
        let batch = StateStore::counter_batch(estate.topology.accounts.values().map(|account| {
            let ids = account
                .projects
                .values()
                .flat_map(|p| p.resources.values())
                .filter_map(|r| counters.get_key_value(&r.id));
            (account.name.as_str(), ids)
        }));
        let written = write.apply_with_counters(&estate.state, batch);
        estate.recorder.finish_write(at, written.is_ok());
        written.expect("history and counters written");
        if (minute + 1) % 60 == 0 {
            carbonaut::memory::release_free_heap();
            let (rss, anon) = resident();
            println!(
                "{:>4}  {rss:>9.1}  {anon:>11.1}  {:>9.1}  {:>18.1}",
                (minute + 1) / 60,
                dir_bytes(estate.dir.path()) as f64 / f64::from(1 << 20),
                began.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}

fn bucket(joules: f64, hours: u32, providers: &[&str]) -> Bucket {
    Bucket {
        energy_joules: joules,
        emissions_grams: joules / 3.6e6 * 300.0,
        priced_joules: joules,
        estimated_joules: joules / 10.0,
        resource_seconds: 36_000.0,
        hours,
        providers: providers.iter().map(|p| (*p).to_owned()).collect(),
        embodied_grams: 0.0,
    }
}

/// The groups of each dimension (the resource dimension is the hourly tier's largest).
fn groups() -> Vec<(&'static str, Vec<String>)> {
    let t = topology();
    let accounts = t.accounts.keys().cloned().collect();
    let projects = t
        .accounts
        .values()
        .flat_map(|a| a.projects.keys().map(move |p| format!("{}/{p}", a.name)))
        .collect();
    let locations = LOCATIONS.iter().map(|l| (*l).to_owned()).collect();
    let teams = (0..TEAMS).map(|i| format!("team-{i}")).collect();
    vec![
        ("account", accounts),
        ("project", projects),
        ("location", locations),
        ("label:team", teams),
    ]
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn size_and_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = StateStore::open(dir.path()).expect("state");
    let tree = state.history_tree().expect("tree");
    let store = HistoryStore::new(tree.clone());
    let config = settings();
    let now = 1_793_491_200_000 + 30 * DAY_MS; // 2026-12-01
    let providers = ["grid", "meter"];
    let groups = groups();
    let written = std::cell::Cell::new(0usize);
    let put =
        |tier: carbonaut_store::history::Tier, dim: &str, start: u64, group: &str, b: &Bucket| {
            let key = bucket_key(tier, dim, start, group);
            tree.insert(key, b.encode()).expect("insert");
            written.set(written.get() + 1);
        };
    let started = Instant::now();
    let days = config.daily_retention.as_millis() as u64 / DAY_MS;
    for d in 0..days {
        let start = now - (d + 1) * DAY_MS;
        for (dim, names) in &groups {
            for g in names {
                put(
                    carbonaut_store::history::Tier::Daily,
                    dim,
                    start,
                    g,
                    &bucket(1.0e7, 0xFF_FFFF, &providers),
                );
            }
        }
    }
    let daily = written.get();
    let hours = config.hourly_retention.as_millis() as u64 / HOUR_MS;
    for h in 0..hours {
        let start = now - (h + 1) * HOUR_MS;
        for (dim, names) in &groups {
            for g in names {
                put(
                    carbonaut_store::history::Tier::Hourly,
                    dim,
                    start,
                    g,
                    &bucket(4.0e5, 1 << ((start % DAY_MS) / HOUR_MS), &providers),
                );
            }
        }
    }
    let hourly = written.get() - daily;
    let t = topology();
    let ids: Vec<String> = t.resources().map(|(_, _, r)| r.id.to_string()).collect();
    let resource_hours = config.resource_retention.as_millis() as u64 / HOUR_MS;
    for h in 0..resource_hours {
        let start = now - (h + 1) * HOUR_MS;
        for id in &ids {
            put(
                carbonaut_store::history::Tier::Hourly,
                "resource",
                start,
                id,
                &bucket(400.0, 1 << ((start % DAY_MS) / HOUR_MS), &providers),
            );
        }
    }
    let per_resource = written.get() - daily - hourly;
    state.flush().expect("flush");
    let (count, payload) = store.payload_bytes().expect("payload");
    println!("== size ({:.1} s to fill)", started.elapsed().as_secs_f64());
    println!(
        "buckets: {daily} daily ({days} days), {hourly} hourly ({hours} h), {per_resource} per resource ({resource_hours} h); {count} in the tree"
    );
    let one = bucket(1.0, 1, &providers).encode().len();
    println!(
        "value bytes per bucket: {one}; key + value bytes: {payload} ({:.1} per bucket)",
        payload as f64 / count as f64
    );
    println!(
        "state directory on disk after flush: {:.1} MiB",
        dir_bytes(dir.path()) as f64 / (1 << 20) as f64
    );
    println!("== report latency, 400-day range");
    let from = carbonaut_store::history::format_instant(now - 400 * DAY_MS);
    let to = carbonaut_store::history::format_instant(now);
    for (by, step) in [
        ("account", "day"),
        ("account", "month"),
        ("project", "month"),
        ("label:team", "month"),
        ("location", "day"),
    ] {
        let query =
            ReportQuery::parse(Some(&from), Some(&to), Some(by), Some(step), now).expect("query");
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..7 {
            let began = Instant::now();
            let r = Report::build(&store, &query, None).expect("report");
            times.push(began.elapsed());
            rows = r.rows.len();
        }
        stats(&format!("group_by={by} step={step} ({rows} rows)"), times);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("growth") {
        let hours = args
            .get(1)
            .map_or(24, |h| h.parse().expect("HOURS: a number"));
        growth(hours);
        return;
    }
    write_cost();
    size_and_reports();
}
