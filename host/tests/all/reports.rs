//! History and reports against the real binary: the rollups a report sums agree with the
//! counters `/metrics` serves, across a reload and a restart; day, month and hour steps agree;
//! offsets in `from` name the same instants; the CLI reads a stopped daemon's state (and says
//! clearly when the daemon still runs) or asks the running one; its CSV opens in Python.

use std::time::Duration;

use carbonaut_store::history::format_instant;

use crate::reload::{ONE_ACCOUNT, READ_TOKEN, Site};
use crate::support::*;

const DAY_MS: u64 = 86_400_000;

const ACCOUNTS: &str = "[accounts.globex]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n";

fn accounts(reports: &str) -> String {
    format!("{ONE_ACCOUNT}{ACCOUNTS}\n[reports]\n{reports}")
}

pub fn fast(site: &Site) {
    let text = std::fs::read_to_string(site.config()).expect("read");
    let text = text.replace("resource_metrics = \"1s\"", "resource_metrics = \"300ms\"");
    std::fs::write(site.config(), text).expect("write");
}

pub fn get(daemon: &Daemon, path: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(daemon.url(path))
        .bearer_auth(READ_TOKEN)
        .send()
        .expect("request")
}

/// Polls `path` with the read token until `check` accepts its body (30 s at most).
pub fn wait_authed(daemon: &Daemon, path: &str, check: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !get(daemon, path).text().is_ok_and(|t| check(&t)) {
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: timed out; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn report(daemon: &Daemon, query: &str) -> serde_json::Value {
    let response = get(daemon, &format!("/api/v1/report?{query}"));
    assert_eq!(response.status(), 200, "{query}");
    response.json().expect("JSON")
}

/// Sum of every series of `metric` in the exposition `text`.
pub fn sum(text: &str, metric: &str) -> f64 {
    series(text, metric)
        .iter()
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .expect("value")
        })
        .sum()
}

/// Within 1e-9 relative, plus what the served totals round away: they are summed exactly in
/// micro-units (µJ, µg), each resource rounded down, so never more than 1e-6 per resource
/// (the tests run well under 100 resources).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(f64::MIN_POSITIVE) + 100.0 * 1e-6
}

pub fn dates() -> (String, String) {
    let now = carbonaut_model::clock::now_ms();
    let from = format_instant(now - DAY_MS)[..10].to_owned();
    let to = format_instant(now + 2 * DAY_MS)[..10].to_owned();
    (from, to)
}

/// The counters must not move while compared: the meter is configured to fail, so the
/// daemon serves the stored counters and the history as the previous run left them.
pub fn freeze_meter(site: &Site) {
    let text = std::fs::read_to_string(site.config()).expect("read");
    let text = text.replace(
        "plugin = \"mock-meter\"",
        "plugin = \"mock-meter\"\nsettings = { mode = \"frozen-for-the-test\" }",
    );
    std::fs::write(site.config(), text).expect("write");
}

#[test]
fn report_sums_equal_the_counters_across_a_reload_and_a_restart() {
    let site = Site::new(&accounts("label_keys = [\"team\"]\n"));
    fast(&site);
    let daemon = site.start();
    daemon.wait_for("/metrics", 30, |t| {
        metric_value(
            t,
            "carbonaut_account_emissions_grams_total",
            "account=\"globex\"",
        )
        .is_some_and(|g| g > 0.0)
    });
    std::thread::sleep(Duration::from_millis(1500));
    // A reload in the middle: fewer label values kept apart (mock-cloud has team-0..2).
    site.write_config(&accounts("label_keys = [\"team\"]\nmax_label_values = 2\n"));
    fast(&site);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reloads: serde_json::Value = get(&daemon, "/api/v1/reloads").json().expect("JSON");
        if reloads[0]["outcome"] == "applied" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reload: {reloads}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    daemon.stop();
    // A restart in the middle: the counters and the history continue from the state.
    let daemon = site.start();
    wait_authed(&daemon, "/api/v1/status", |t| {
        t.contains("\"last_collection_ms\":1")
    });
    std::thread::sleep(Duration::from_millis(1500));
    daemon.stop();

    freeze_meter(&site);
    let daemon = site.start();
    wait_authed(&daemon, "/api/v1/status", |t| {
        t.contains("frozen-for-the-test")
    });
    let metrics = get(&daemon, "/metrics").text().expect("metrics");
    let joules = sum(&metrics, "carbonaut_account_energy_joules_total");
    let grams = sum(&metrics, "carbonaut_account_emissions_grams_total");
    assert!(joules > 0.0 && grams > 0.0, "{metrics}");

    let (from, to) = dates();
    for group_by in ["account", "project", "location", "resource", "label:team"] {
        for step in ["hour", "day", "month"] {
            let r = report(
                &daemon,
                &format!("from={from}&to={to}&group_by={group_by}&step={step}"),
            );
            let t = &r["totals"];
            let kwh = t["energy_kwh"].as_f64().expect("energy");
            let kg = t["emissions_kgco2e"].as_f64().expect("emissions");
            assert!(
                close(kwh * 3.6e6, joules),
                "{group_by} by {step}: report {} J, counters {joules} J",
                kwh * 3.6e6
            );
            assert!(
                close(kg * 1000.0, grams),
                "{group_by} by {step}: report {} g, counters {grams} g",
                kg * 1000.0
            );
            let rows = r["rows"].as_array().expect("rows");
            let row_kwh: f64 = rows
                .iter()
                .map(|x| x["energy_kwh"].as_f64().expect("kWh"))
                .sum();
            assert!(
                close(row_kwh, kwh),
                "{group_by} by {step}: rows add up to the total"
            );
        }
    }
    // Per account, the report's rows match each account's counter.
    let r = report(
        &daemon,
        &format!("from={from}&to={to}&group_by=account&step=month"),
    );
    for account in ["acme", "globex"] {
        let counter = metric_value(
            &metrics,
            "carbonaut_account_energy_joules_total",
            &format!("account=\"{account}\""),
        )
        .expect("counter");
        let reported: f64 = r["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|x| x["group"] == account)
            .map(|x| x["energy_kwh"].as_f64().expect("kWh") * 3.6e6)
            .sum();
        assert!(
            close(reported, counter),
            "{account}: {reported} J vs {counter} J"
        );
    }
    // The reload capped `team` at two values: the third is `other` from then on.
    let r = report(
        &daemon,
        &format!("from={from}&to={to}&group_by=label:team&step=day"),
    );
    let groups: std::collections::BTreeSet<&str> = r["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|x| x["group"].as_str().expect("group"))
        .collect();
    assert!(groups.contains("other"), "{groups:?}");
    assert!(groups.contains("team-0"), "{groups:?}");
    assert!(r["notes"].to_string().contains("max_label_values"), "{r}");

    daemon.stop();
}

#[test]
fn offsets_steps_csv_and_the_cli() {
    let site = Site::new(&accounts("label_keys = [\"team\"]\n"));
    fast(&site);
    let daemon = site.start();
    daemon.wait_for("/metrics", 30, |t| {
        metric_value(
            t,
            "carbonaut_account_emissions_grams_total",
            "account=\"acme\"",
        )
        .is_some_and(|g| g > 0.0)
    });
    std::thread::sleep(Duration::from_millis(1000));
    daemon.stop();
    freeze_meter(&site);
    let daemon = site.start();
    wait_authed(&daemon, "/api/v1/status", |t| {
        t.contains("frozen-for-the-test")
    });
    let (from, to) = dates();

    // The same instant written with an offset gives the same report.
    let utc = report(
        &daemon,
        &format!("from={from}&to={to}&group_by=project&step=hour"),
    );
    let offset = report(
        &daemon,
        &format!("from={from}T01:00:00%2B01:00&to={to}T00:00:00Z&group_by=project&step=hour"),
    );
    assert_eq!(utc["rows"], offset["rows"]);
    assert_eq!(utc["from"], format!("{from}T00:00:00Z"));
    assert_eq!(
        offset["from"],
        format!("{from}T00:00:00Z"),
        "reported in UTC"
    );
    // Half an hour later: the first hour is no longer in the range; the note says so.
    let later = report(
        &daemon,
        &format!("from={from}T00:30:00Z&to={to}&group_by=project&step=hour"),
    );
    assert!(
        later["notes"]
            .to_string()
            .contains("not on UTC hour boundaries"),
        "{later}"
    );

    // A month from daily buckets is the sum of its days, per group; hours agree too.
    let by = |step: &str| {
        report(
            &daemon,
            &format!("from={from}&to={to}&group_by=project&step={step}"),
        )
    };
    let (hours, days, months) = (by("hour"), by("day"), by("month"));
    let per_group = |r: &serde_json::Value, field: &str| {
        let mut m = std::collections::BTreeMap::<String, f64>::new();
        for row in r["rows"].as_array().expect("rows") {
            *m.entry(row["group"].as_str().expect("group").to_owned())
                .or_default() += row[field].as_f64().expect("number");
        }
        m
    };
    for field in ["energy_kwh", "emissions_kgco2e", "resource_hours"] {
        let (h, d, m) = (
            per_group(&hours, field),
            per_group(&days, field),
            per_group(&months, field),
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), m.keys().collect::<Vec<_>>());
        for (group, month) in &m {
            assert!(
                close(*month, d[group]),
                "{field} {group}: month {month}, days {}",
                d[group]
            );
            assert!(
                close(h[group], d[group]),
                "{field} {group}: hours {}, days {}",
                h[group],
                d[group]
            );
        }
    }
    assert_eq!(
        days["rows"][0]["providers"],
        serde_json::json!(["grid", "meter"])
    );

    // CSV by Accept header and by format=csv; Python's csv module reads it.
    let csv = reqwest::blocking::Client::new()
        .get(daemon.url(&format!(
            "/api/v1/report?from={from}&to={to}&group_by=location&step=day"
        )))
        .bearer_auth(READ_TOKEN)
        .header("Accept", "text/csv")
        .send()
        .expect("request");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().expect("text");
    let same = get(
        &daemon,
        &format!("/api/v1/report?from={from}&to={to}&group_by=location&step=day&format=csv"),
    )
    .text()
    .expect("text");
    assert_eq!(csv, same);
    let json = report(
        &daemon,
        &format!("from={from}&to={to}&group_by=location&step=day"),
    );
    let python_total = python_csv_total(&csv);
    let kwh = json["totals"]["energy_kwh"].as_f64().expect("kWh");
    assert!(
        close(python_total, kwh),
        "python read {python_total} kWh, JSON says {kwh}"
    );

    // Bad queries are 400 with a reason.
    let bad = get(&daemon, "/api/v1/report?from=tomorrow");
    assert_eq!(bad.status(), 400);
    assert!(bad.text().expect("text").contains("neither a date"));

    // While the daemon runs, the state directory is locked: the CLI says to stop it or use --url.
    let state = site.dir.path().join("state");
    let out = cli(&[
        "report",
        "--state-dir",
        state.to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by a running carbonaut: stop it first"),
        "{stderr}"
    );
    // --url asks the running daemon.
    let url = format!("http://{}", daemon.addr);
    let out = cli(&[
        "report", "--url", &url, "--token", READ_TOKEN, "--from", &from, "--to", &to, "--by",
        "location", "--csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), csv);
    daemon.stop();

    // Stopped: the CLI reads the state directory itself, and agrees with the API.
    let out = cli(&[
        "report",
        "--state-dir",
        state.to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
        "--by",
        "location",
        "--csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), csv);
    let out = cli(&[
        "report",
        "--state-dir",
        state.to_str().expect("utf-8"),
        "--from",
        &from,
        "--to",
        &to,
        "--by",
        "project",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("start") && table.contains("acme/acme-p0") && table.contains("\ntotal"),
        "{table}"
    );
    let out = cli(&["report", "--state-dir", "/nonexistent/state"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a carbonaut state directory"));
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(args)
        .output()
        .expect("run carbonaut")
}

/// Reads `csv` with Python's csv module, checks the header the README documents, and returns
/// the sum of energy_kwh.
fn python_csv_total(csv: &str) -> f64 {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    let header = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("start,group,energy_kwh"))
        .expect("the README documents the CSV header");
    let script = format!(
        "import csv, sys\n\
         rows = list(csv.DictReader(sys.stdin))\n\
         assert rows, 'no rows'\n\
         assert list(rows[0].keys()) == {header:?}.split(','), list(rows[0].keys())\n\
         print(sum(float(r['energy_kwh']) for r in rows))\n"
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(csv.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn an_unknown_label_key_is_refused_and_an_empty_range_is_empty() {
    let site = Site::new(&accounts("label_keys = [\"team\", \"cost-center\"]\n"));
    fast(&site);
    let daemon = site.start();
    daemon.wait_for("/metrics", 30, |t| {
        metric_value(
            t,
            "carbonaut_account_energy_joules_total",
            "account=\"acme\"",
        )
        .is_some_and(|j| j > 0.0)
    });
    let (from, to) = dates();
    // `teams` for `team`: a typo, not a label every resource lacks.
    let typo = get(
        &daemon,
        &format!("/api/v1/report?from={from}&to={to}&group_by=label:teams"),
    );
    assert_eq!(typo.status(), 400);
    let body = typo.text().expect("body");
    assert!(
        body.contains("`teams` is not in [reports] label_keys")
            && body.contains("`team`, `cost-center`"),
        "{body}"
    );
    report(&daemon, &format!("from={from}&to={to}&group_by=label:team"));

    // [from, to) with from == to is empty: an empty answer, as a 1 ms range within an hour is.
    let at = "2026-11-01T10:20:00Z";
    let empty = report(&daemon, &format!("from={at}&to={at}"));
    assert_eq!(empty["rows"], serde_json::json!([]), "{empty}");
    assert_eq!(empty["totals"]["energy_kwh"], 0.0, "{empty}");
    assert!(empty["notes"].to_string().contains("empty"), "{empty}");
    let short = report(&daemon, &format!("from={at}&to=2026-11-01T10:20:00.001Z"));
    assert_eq!(short["rows"], serde_json::json!([]), "{short}");
    let backwards = get(
        &daemon,
        &format!("/api/v1/report?from=2026-11-02T00:00:00Z&to={at}"),
    );
    assert_eq!(backwards.status(), 400);
    assert!(backwards.text().expect("body").contains("is after to"));

    // A key dropped from the config keeps its history answerable, and says so.
    site.write_config(&accounts(""));
    fast(&site);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reloads: serde_json::Value = get(&daemon, "/api/v1/reloads").json().expect("JSON");
        if reloads[0]["outcome"] == "applied" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reload: {reloads}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let retired = report(&daemon, &format!("from={from}&to={to}&group_by=label:team"));
    assert!(
        retired["notes"]
            .to_string()
            .contains("no longer in [reports] label_keys"),
        "{retired}"
    );
    let typo = get(
        &daemon,
        &format!("/api/v1/report?from={from}&to={to}&group_by=label:teams"),
    );
    assert_eq!(typo.status(), 400);
    assert!(typo.text().expect("body").contains("(configured: none)"));
    daemon.stop();
}
