//! Sharding with the real parts: carbonaut instances with one config, each started as a shard,
//! scraped by a real Prometheus; their PromQL sums match one unsharded instance, and adding a
//! shard moves few accounts without resetting the others' counters.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use carbonaut::cluster::Shard;

use crate::support::*;

const ACCOUNTS: usize = 30;
/// Resources per account (one project): 90 in all.
const PER_ACCOUNT: usize = 3;
/// The resource-metrics interval of the test config, in seconds.
const SAMPLE_SECS: f64 = 1.0;

fn account_names() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("acct-{i:02}")).collect()
}

/// 30 accounts on mock-cloud, mock-meter and static-grid; `cluster` is appended as written.
fn write_config(dir: &Path, cluster: &str) -> std::path::PathBuf {
    let mut text = format!(
        "[paths]\nplugin_dir = {:?}\nstate_dir = \"state\"\n\n\
         [intervals]\ntopology_sync = \"30s\"\nresource_metrics = \"1s\"\nenvironment = \"1m\"\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\n\
         settings = {{ projects = 1, resources_per_project = {PER_ACCOUNT} }}\n\
         [providers.meter]\nplugin = \"mock-meter\"\n\
         [providers.grid]\nplugin = \"static-grid\"\n\
         [environment]\nprovider = \"grid\"\n\n{cluster}\n",
        plugin_dir().display().to_string()
    );
    for name in account_names() {
        text.push_str(&format!(
            "[accounts.{name}]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
        ));
    }
    let path = dir.join("carbonaut.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn start(config: &Path, state: &Path, shard: Option<(u32, u32)>) -> Daemon {
    let mut args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "--state-dir".to_owned(),
        state.display().to_string(),
    ];
    if let Some((ordinal, total)) = shard {
        args.extend([
            "--shard".to_owned(),
            ordinal.to_string(),
            "--total-shards".to_owned(),
            total.to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(&args);
    daemon.wait_for("/readyz", 60, |body| body.starts_with("ready"));
    daemon
}

fn status(daemon: &Daemon) -> serde_json::Value {
    daemon.get("/api/v1/status").json().expect("status JSON")
}

fn served_accounts(daemon: &Daemon) -> BTreeSet<String> {
    status(daemon)["accounts"]
        .as_object()
        .expect("accounts")
        .keys()
        .cloned()
        .collect()
}

/// Account → `carbonaut_account_energy_joules_total`, once every account of the shard has a
/// non-zero total (the first collections have run).
fn account_energy(daemon: &Daemon, accounts: &BTreeSet<String>) -> BTreeMap<String, f64> {
    let text = daemon.wait_for("/metrics", 60, |text| {
        accounts.iter().all(|a| {
            metric_value(
                text,
                "carbonaut_account_energy_joules_total",
                &format!("account=\"{a}\""),
            )
            .is_some_and(|v| v > 0.0)
        })
    });
    accounts
        .iter()
        .map(|a| {
            let v = metric_value(
                &text,
                "carbonaut_account_energy_joules_total",
                &format!("account=\"{a}\""),
            )
            .expect("served");
            (a.clone(), v)
        })
        .collect()
}

/// A real Prometheus scraping each job's targets every second.
fn scraping(jobs: &[(&str, Vec<String>)]) -> Prometheus {
    let mut config = EVERY_SECOND.to_owned();
    for (name, targets) in jobs {
        config.push_str(&job(name, "/metrics", targets));
    }
    Prometheus::start(&config)
}

/// The single value of an instant query at `at` (seconds since the epoch), if it has one.
fn scalar(prometheus: &Prometheus, query: &str, at: f64) -> Option<f64> {
    match prometheus.query_at(query, at).ok()?.as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// Waits until `query` has a value at the current time that `check` accepts.
fn wait(prometheus: &Prometheus, query: &str, secs: u64, check: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = scalar(prometheus, query, now_secs())
            && check(v)
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never gave an acceptable value for {query}; last: {:?}",
            scalar(prometheus, query, now_secs())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[test]
fn three_shards_own_disjoint_accounts_and_add_up_to_one_instance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "");
    let single = start(&config, &dir.path().join("single"), None);
    let shards: Vec<Daemon> = (0..3)
        .map(|i| start(&config, &dir.path().join(format!("s{i}")), Some((i, 3))))
        .collect();

    // Each shard serves exactly the accounts the hash gives it; together, every account once.
    let mut union = BTreeSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let served = served_accounts(shard);
        let expected: BTreeSet<String> = account_names()
            .into_iter()
            .filter(|a| Shard::owner_of(a, 3) == i as u32)
            .collect();
        assert_eq!(served, expected, "shard {i} serves the accounts it owns");
        assert!(!served.is_empty(), "shard {i} owns some of 30 accounts");
        assert!(
            union.is_disjoint(&served),
            "shard {i} serves another's account"
        );
        union.extend(served);
        let s = status(shard);
        assert_eq!(s["shard"]["ordinal"], i);
        assert_eq!(s["shard"]["total"], 3);
        assert_eq!(s["shard"]["configured_accounts"], ACCOUNTS);
        assert_eq!(
            s["shard"]["owned_accounts"],
            expected.len(),
            "the status counts owned accounts"
        );
        let text = shard.get("/metrics").text().expect("metrics");
        assert!(text.contains(&format!("\ncarbonaut_shard_ordinal {i}\n")));
        assert!(text.contains("\ncarbonaut_total_shards 3\n"));
        // Only owned accounts' resources are served.
        let resources = series(&text, "carbonaut_resource_info");
        assert_eq!(resources.len(), expected.len() * PER_ACCOUNT);
        assert!(resources.iter().all(|l| {
            expected
                .iter()
                .any(|a| l.contains(&format!("account=\"{a}\"")))
        }));
    }
    assert_eq!(union, account_names().into_iter().collect());
    assert_eq!(served_accounts(&single).len(), ACCOUNTS);
    let text = single.get("/metrics").text().expect("metrics");
    assert!(
        text.contains("\ncarbonaut_shard_ordinal 0\n")
            && text.contains("\ncarbonaut_total_shards 1\n")
    );

    let prometheus = scraping(&[
        (
            "sharded",
            shards.iter().map(|d| d.addr.to_string()).collect(),
        ),
        ("single", vec![single.addr.to_string()]),
    ]);
    let total = (ACCOUNTS * PER_ACCOUNT) as f64;
    for job in ["sharded", "single"] {
        wait(
            &prometheus,
            &format!("count(carbonaut_resource_info{{job=\"{job}\"}})"),
            90,
            |n| n == total,
        );
    }
    // Let every instance have its carbon intensity and a window of steady samples.
    let window = 20;
    wait(
        &prometheus,
        "count(carbonaut_resource_emissions_grams_total > 0)",
        90,
        |n| n == 2.0 * total,
    );
    std::thread::sleep(Duration::from_secs(window + 5));
    let at = now_secs() - 2.0;

    let sum = |query: &str, job: &str| {
        scalar(&prometheus, &query.replace("JOB", job), at)
            .unwrap_or_else(|| panic!("no value for {query} of {job}"))
    };
    let resources = "sum(carbonaut_topology_resources{job=\"JOB\"})";
    assert_eq!(sum(resources, "sharded"), sum(resources, "single"));
    assert_eq!(sum(resources, "sharded"), total);

    // One sample of every resource: the tolerance the issue allows.
    let watts = sum(
        "sum(rate(carbonaut_resource_energy_joules_total{job=\"JOB\"}[10s]))",
        "single",
    );
    assert!(watts > 0.0);
    let grams_per_joule = sum(
        "sum(rate(carbonaut_resource_emissions_grams_total{job=\"JOB\"}[10s]))",
        "single",
    ) / watts;
    for (what, metric, one_sample) in [
        (
            "energy",
            "carbonaut_resource_energy_joules_total",
            watts * SAMPLE_SECS,
        ),
        (
            "emissions",
            "carbonaut_resource_emissions_grams_total",
            watts * SAMPLE_SECS * grams_per_joule,
        ),
    ] {
        let query = format!("sum(increase({metric}{{job=\"JOB\"}}[{window}s]))");
        let sharded = sum(&query, "sharded");
        let unsharded = sum(&query, "single");
        assert!(
            (sharded - unsharded).abs() <= one_sample,
            "{what}: the shards add up to {sharded}, one instance to {unsharded}, \
             more than one sample ({one_sample}) apart"
        );
        assert!(unsharded > 5.0 * one_sample, "{what} grew over the window");
    }
}

#[test]
fn going_from_three_to_four_shards_moves_few_accounts_and_resets_no_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "");
    let states: Vec<_> = (0..4).map(|i| dir.path().join(format!("s{i}"))).collect();
    let names: BTreeSet<String> = account_names().into_iter().collect();

    // Three shards run, then stop.
    let mut before: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    let three: Vec<Daemon> = (0..3)
        .map(|i| start(&config, &states[i as usize], Some((i, 3))))
        .collect();
    for (i, shard) in three.iter().enumerate() {
        let owned = served_accounts(shard);
        for (account, joules) in account_energy(shard, &owned) {
            before.insert(account, (i as u32, joules));
        }
    }
    for shard in three {
        shard.stop();
    }
    assert_eq!(before.keys().cloned().collect::<BTreeSet<_>>(), names);

    // Four shards on the same states (shard 3's is new).
    let four: Vec<Daemon> = (0..4)
        .map(|i| start(&config, &states[i as usize], Some((i, 4))))
        .collect();
    let mut moved = BTreeSet::new();
    for (i, shard) in four.iter().enumerate() {
        let owned = served_accounts(shard);
        // Read right away: the totals loaded from the state, before new samples.
        let text = shard.get("/metrics").text().expect("metrics");
        for account in &owned {
            let (old_owner, old_joules) = before[account];
            if old_owner == i as u32 {
                let now = metric_value(
                    &text,
                    "carbonaut_account_energy_joules_total",
                    &format!("account=\"{account}\""),
                )
                .unwrap_or(0.0);
                assert!(
                    now >= old_joules,
                    "{account} stayed on shard {i}, but its total went from {old_joules} to {now}"
                );
            } else {
                assert_eq!(
                    i, 3,
                    "{account} moved from shard {old_owner} to an old shard {i}"
                );
                moved.insert(account.clone());
            }
        }
    }
    assert!(
        moved.len() * 10 <= ACCOUNTS * 4,
        "{} of {ACCOUNTS} accounts moved, more than 40 %: {moved:?}",
        moved.len()
    );
    let served: usize = four.iter().map(|d| served_accounts(d).len()).sum();
    assert_eq!(served, ACCOUNTS, "every account is served once");
    for shard in four {
        shard.stop();
    }

    // The old owners left the moved accounts' state in place...
    for account in &moved {
        let (old_owner, _) = before[account];
        let store =
            carbonaut_store::state::StateStore::open(&states[old_owner as usize]).expect("open");
        let topology = store.load_topology().expect("topology").0;
        assert!(
            topology.accounts.contains_key(account),
            "shard {old_owner} kept {account}'s state"
        );
    }
    let stopped = Instant::now();

    // Back to three shards: a moved account resumes its old totals on its old owner, from its
    // next sample, not counting the energy its interim owner measured.
    let account = moved
        .iter()
        .next()
        .expect("with these 30 names, some accounts move to shard 3");
    let (old_owner, old_joules) = before[account];
    std::thread::sleep(Duration::from_secs(30).saturating_sub(stopped.elapsed()));
    let returned = start(&config, &states[old_owner as usize], Some((old_owner, 3)));
    let energy = |daemon: &Daemon| {
        let text = daemon.get("/metrics").text().expect("metrics");
        metric_value(
            &text,
            "carbonaut_account_energy_joules_total",
            &format!("account=\"{account}\""),
        )
        .expect("the account is served again")
    };
    let first = energy(&returned);
    let read_at = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let second = energy(&returned);
    let watts = (second - first) / read_at.elapsed().as_secs_f64();
    assert!(
        first >= old_joules,
        "{account} resumed from {first}, below {old_joules}"
    );
    assert!(watts > 0.0, "{account} is collected again");
    assert!(
        first - old_joules < watts * 10.0,
        "{account} added {} J on its return, {} s of its power: the energy of its 30 s away \
         was counted twice",
        first - old_joules,
        (first - old_joules) / watts
    );
    returned.stop();

    // Four shards again, with a retention of 1 s: the old owner deletes the account's state.
    let short = write_config(
        dir.path(),
        "[cluster]\nshard = 0\ntotal_shards = 4\nunowned_retention = \"1s\"\n",
    );
    let shard = start(&short, &states[old_owner as usize], Some((old_owner, 4)));
    shard.wait_for_log(30, |log| log.contains("deleted the stored state"));
    shard.stop();
    let store =
        carbonaut_store::state::StateStore::open(&states[old_owner as usize]).expect("open");
    let topology = store.load_topology().expect("topology").0;
    assert!(
        !topology.accounts.contains_key(account),
        "{account}'s state is gone after the retention"
    );
    assert!(
        topology
            .accounts
            .keys()
            .all(|a| Shard::owner_of(a, 4) == old_owner),
        "only the shard's own accounts remain"
    );
}
