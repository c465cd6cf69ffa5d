//! The monitoring files in `deploy/` against the real tools: promtool checks the rules and
//! runs their unit tests, and a real Prometheus, configured from `deploy/prometheus/`,
//! scrapes the demo and answers every PromQL expression of the Grafana dashboard and every
//! recording rule with data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *{suffix} in {}", dir.display());
    files
}

fn promtool(args: &[&str], files: &[PathBuf]) {
    let out = Command::new(require_tool("promtool"))
        .args(args)
        .args(files)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_config_and_rules_and_their_unit_tests_pass() {
    let prom = deploy_dir().join("prometheus");
    promtool(&["check", "rules"], &files_in(&prom.join("rules"), ".yml"));
    promtool(&["check", "config"], &[prom.join("prometheus.yml")]);
    promtool(
        &["test", "rules"],
        &files_in(&prom.join("tests"), ".test.yml"),
    );
}

/// Every `"expr"` string anywhere in the dashboard, with its panel's title.
fn dashboard_exprs(value: &serde_json::Value, title: &str, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            let title = map.get("title").and_then(|t| t.as_str()).unwrap_or(title);
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(expr)) => {
                        out.push((title.to_owned(), expr.clone()));
                    }
                    _ => dashboard_exprs(v, title, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                dashboard_exprs(v, title, out);
            }
        }
        _ => {}
    }
}

/// Grafana's `label_values(SELECTOR, LABEL)` of each query variable, in dashboard order.
fn variable_queries(dashboard: &serde_json::Value) -> Vec<(String, String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let name = v["name"].as_str().expect("variable name").to_owned();
            let def = v["definition"].as_str().expect("variable definition");
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|d| d.strip_suffix(')'))
                .unwrap_or_else(|| panic!("variable {name}: not label_values(...): {def}"));
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("variable {name}: no label in {def}"));
            (name, selector.trim().to_owned(), label.trim().to_owned())
        })
        .collect()
}

/// Replaces Grafana's variables: the dashboard's own (longest name first, so `$account`
/// never eats `$accounts`) and the built-in intervals, sized for a test that has scraped
/// every second for under a minute.
fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        out = out.replace(&format!("${{{name}}}"), &vars[name]);
        out = out.replace(&format!("${name}"), &vars[name]);
    }
    assert!(!out.contains('$'), "unsubstituted variable in {out}");
    out
}

/// Prometheus run from `deploy/prometheus/prometheus.yml` and its rules, with the target
/// pointed at `target` and the intervals shortened to a second.
fn deployed_prometheus(target: std::net::SocketAddr) -> Prometheus {
    let prom = deploy_dir().join("prometheus");
    let mut config = std::fs::read_to_string(prom.join("prometheus.yml")).expect("read");
    for (from, to) in [
        ("scrape_interval: 30s", "scrape_interval: 1s".to_owned()),
        (
            "evaluation_interval: 30s",
            "evaluation_interval: 1s".to_owned(),
        ),
        ("scrape_timeout: 20s", "scrape_timeout: 1s".to_owned()),
        ("\"127.0.0.1:9464\"", format!("\"{target}\"")),
    ] {
        assert!(
            config.contains(from),
            "deploy/prometheus/prometheus.yml lost `{from}`: update this test"
        );
        config = config.replace(from, &to);
    }
    Prometheus::start_with(|dir, _| {
        std::fs::create_dir(dir.join("rules")).expect("rules dir");
        for rule in files_in(&prom.join("rules"), ".yml") {
            let name = rule.file_name().expect("file name");
            std::fs::copy(&rule, dir.join("rules").join(name)).expect("copy rules");
        }
        config
    })
}

/// The instant vector `expr` evaluates to now, or why there is none.
fn data(prometheus: &Prometheus, expr: &str) -> Result<Vec<serde_json::Value>, String> {
    let result = prometheus.query(expr)?;
    if result.is_empty() {
        return Err("no data".into());
    }
    for sample in &result {
        let value: f64 = sample["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        if !value.is_finite() {
            return Err(format!("a sample is not a finite number: {sample}"));
        }
    }
    Ok(result)
}

#[test]
fn every_dashboard_query_and_recording_rule_returns_data_from_the_demo() {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/carbonaut.json"))
            .expect("read deploy/grafana/carbonaut.json"),
    )
    .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard["panels"], "", &mut exprs);
    assert!(exprs.len() >= 15, "only {} expressions found", exprs.len());
    let variables = variable_queries(&dashboard);
    let records: Vec<String> = files_in(&deploy_dir().join("prometheus/rules"), ".yml")
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read rules")
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- record:"))
                .map(|r| r.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(records.len() >= 5, "recording rules: {records:?}");

    let state = tempfile::tempdir().expect("temp dir");
    let daemon = Daemon::start(&[
        "--config",
        QUICKSTART,
        "--state-dir",
        state.path().to_str().expect("utf-8"),
    ]);
    let prometheus = deployed_prometheus(daemon.addr);

    // Grafana's two ways to fill the variables: "All" (the regex .*), and one value each,
    // the first that the variable's own query offers (so the variable queries are run too).
    let all: BTreeMap<String, String> = variables
        .iter()
        .map(|(name, _, _)| (name.clone(), ".*".to_owned()))
        .collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut failures;
    let mut evaluated;
    loop {
        failures = Vec::new();
        let mut one = BTreeMap::new();
        for (name, selector, label) in &variables {
            let expr = format!("count by ({label}) ({})", substitute(selector, &one));
            match data(&prometheus, &expr) {
                Ok(result) => {
                    let mut values: Vec<&str> = result
                        .iter()
                        .filter_map(|s| s["metric"][label.as_str()].as_str())
                        .collect();
                    values.sort();
                    one.insert(name.clone(), values[0].to_owned());
                }
                Err(why) => {
                    failures.push(format!("variable {name}: {expr}: {why}"));
                    one.insert(name.clone(), ".*".to_owned());
                }
            }
        }
        for vars in [&all, &one] {
            for (title, expr) in &exprs {
                let expr = substitute(expr, vars);
                if let Err(why) = data(&prometheus, &expr) {
                    failures.push(format!("panel {title:?}: {expr}: {why}"));
                }
            }
        }
        for record in &records {
            if let Err(why) = data(&prometheus, record) {
                failures.push(format!("recording rule {record}: {why}"));
            }
        }
        // Every rule evaluates without error (a join that matches many-to-many would show
        // here), and the healthy demo sets off no alert. A rule is evaluated every second, so
        // it may still hold the first scrapes' view for a moment (CarbonautCountersStalled
        // pends while the counters wait for their second sample): its state counts once the
        // dashboard's queries return data, and is read again until then or the deadline.
        evaluated = 0;
        if failures.is_empty() {
            let rules = prometheus.api("rules", &[]).expect("GET /api/v1/rules");
            for group in rules["data"]["groups"].as_array().expect("rule groups") {
                for rule in group["rules"].as_array().expect("rules") {
                    evaluated += 1;
                    if rule["health"] != "ok" {
                        failures.push(format!("rule failed to evaluate: {rule}"));
                    } else if rule["type"] == "alerting" && rule["state"] != "inactive" {
                        failures.push(format!("alert on the healthy demo: {rule}"));
                    }
                }
            }
        }
        if failures.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        failures.is_empty(),
        "after 120 s, {} queries or rules still fail:\n{}\ncarbonaut log:\n{}",
        failures.len(),
        failures.join("\n"),
        daemon.log()
    );
    assert!(
        evaluated >= records.len() + 5,
        "only {evaluated} rules loaded"
    );
}
