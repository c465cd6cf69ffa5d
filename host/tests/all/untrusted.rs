//! What plugins *say* is not trusted: the `liar` test guest returns absurd numbers, times in
//! the year 2200, several samples per resource, repeated and NUL-laden ids, broken mixes and
//! forged log lines, and the real binary must serve only finite, plausible numbers, count each
//! rejection by plugin and reason, log it once, and start again on the state it wrote.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

const LIAR: &str = env!("CARBONAUT_GUEST_LIAR");
const SLOW_METADATA: &str = env!("CARBONAUT_GUEST_SLOW_METADATA");

/// A plugin folder with `plugins` and a config of `body` under `[paths]` and fast intervals.
pub struct Bench {
    pub dir: tempfile::TempDir,
}

impl Bench {
    pub fn new(plugins: &[&str], body: &str) -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("plugins")).expect("plugins dir");
        for p in plugins {
            let name = Path::new(p).file_name().expect("name");
            std::fs::copy(p, dir.path().join("plugins").join(name)).expect("copy");
        }
        let bench = Bench { dir };
        bench.write(body);
        bench
    }

    pub fn write(&self, body: &str) {
        let text = format!(
            "[paths]\nplugin_dir = \"plugins\"\nstate_dir = \"state\"\n\n\
             [intervals]\ntopology_sync = \"1s\"\nresource_metrics = \"200ms\"\nenvironment = \"500ms\"\n\n{body}"
        );
        std::fs::write(self.config(), text).expect("write config");
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("carbonaut.toml")
    }

    pub fn start(&self) -> Daemon {
        Daemon::start(&["--config", &self.config().display().to_string()])
    }
}

/// Every sample line's value parses as a finite number.
fn assert_all_finite(text: &str) {
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap_or_default();
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        assert!(v.is_finite(), "a served number is not finite: {line}");
    }
}

/// Whether the log has a rejection line for `reason`.
fn logged(log: &str, reason: &str) -> bool {
    log.lines().any(|l| {
        l.contains("rejected by the host's checks") && l.contains(&format!("reason=\"{reason}\""))
    })
}

fn rejected(text: &str, reason: &str) -> f64 {
    metric_value(
        text,
        "carbonaut_plugin_rejected_items_total",
        &format!("plugin=\"liar\",reason=\"{reason}\""),
    )
    .unwrap_or(0.0)
}

fn energy(text: &str, account: &str) -> f64 {
    metric_value(
        text,
        "carbonaut_account_energy_joules_total",
        &format!("account=\"{account}\""),
    )
    .unwrap_or(0.0)
}

/// Each metrics lie in its own account (its own provider), one daemon, the real binary.
const METRIC_LIES: &[(&str, &str)] = &[
    ("huge-power", "power"),
    ("alternating-counter", "energy"),
    ("big-counter-jumps", "implausible-delta"),
    ("year-2200", "timestamp-future"),
    ("time-zero", "timestamp-past"),
    ("backwards", "timestamp-backwards"),
    ("several-samples", "duplicate"),
    ("bad-gauges", "not-asked"),
    ("bad-cpu-only", "utilization"),
];

fn metric_lies_config() -> String {
    let mut body = String::from(
        "[limits]\nmax_power_watts = 1000\n\n\
         [providers.truthful]\nplugin = \"liar\"\n\n[environment]\nprovider = \"truthful\"\n\n",
    );
    for (mode, _) in METRIC_LIES {
        body.push_str(&format!(
            "[providers.{mode}]\nplugin = \"liar\"\nsettings = {{ metrics = \"{mode}\" }}\n\n\
             [accounts.{mode}]\ndiscovery = \"truthful\"\nresource_metrics = \"{mode}\"\n\n"
        ));
    }
    body
}

#[test]
fn absurd_readings_are_refused_counted_logged_and_the_state_restarts() {
    let bench = Bench::new(&[LIAR], &metric_lies_config());
    let started = Instant::now();
    let daemon = bench.start();
    // Long enough for both halves of every alternating lie (they switch by the second).
    let text = daemon.wait_for("/metrics", 60, |t| {
        METRIC_LIES
            .iter()
            .all(|(_, reason)| rejected(t, reason) >= 1.0)
            && energy(t, "year-2200") > 0.0
    });
    std::thread::sleep(Duration::from_millis(2500));
    let text = daemon.get("/metrics").text().unwrap_or(text);
    let elapsed = started.elapsed().as_secs_f64();
    assert_all_finite(&text);
    // Four resources at the plausible maximum, over the run plus the minute the `backwards`
    // lie may claim for its first sample (a reading a minute old is within the window).
    let ceiling = 4.0 * 1000.0 * (elapsed + 60.0);
    for (mode, reason) in METRIC_LIES {
        let joules = energy(&text, mode);
        assert!(
            (0.0..=ceiling).contains(&joules),
            "{mode}: {joules} J in {elapsed:.1} s (ceiling {ceiling} J)"
        );
        assert!(
            rejected(&text, reason) >= 1.0,
            "{mode}: no `{reason}` rejection"
        );
    }
    assert_eq!(
        energy(&text, "huge-power"),
        0.0,
        "8e307 W is never integrated"
    );
    // Four resources at 100 W for about the run: well under the ceiling, but counted.
    let honest = energy(&text, "year-2200");
    assert!(
        honest > 0.0 && honest <= 4.0 * 100.0 * elapsed * 1.1,
        "{honest} J"
    );
    // A bad CPU figure costs only its field: power still served, utilisation 7 never.
    let bad_cpu = series(&text, "carbonaut_resource_cpu_utilization_ratio")
        .into_iter()
        .filter(|l| l.contains("account=\"bad-cpu-only\""))
        .count();
    assert_eq!(bad_cpu, 0, "utilisation 7 is not served");
    assert!(
        metric_value(
            &text,
            "carbonaut_resource_power_watts",
            "account=\"bad-cpu-only\""
        ) == Some(100.0)
    );
    for (_, reason) in METRIC_LIES {
        daemon.wait_for_log(10, |log| logged(log, reason));
    }
    let first = text.clone();
    let log = daemon.stop();
    // Logged once per reason (rate limited), not once per item.
    let lines = log
        .lines()
        .filter(|l| l.contains("rejected by the host's checks") && l.contains("reason=\"power\""))
        .count();
    assert_eq!(lines, 1, "{log}");

    // The state it wrote loads, and no total went down.
    let again = bench.start();
    let text = again.wait_for("/readyz", 30, |t| t.starts_with("ready"));
    drop(text);
    let text = again.get("/metrics").text().expect("metrics");
    assert_all_finite(&text);
    for (mode, _) in METRIC_LIES {
        assert!(
            energy(&text, mode) >= energy(&first, mode),
            "{mode} went down across a restart"
        );
    }
}

#[test]
fn broken_mixes_are_refused_and_the_exposition_stays_valid() {
    let promtool = require_tool("promtool");
    for (mode, reason) in [
        ("huge-intensity", "intensity"),
        ("nan-intensity", "intensity"),
        ("negative-intensity", "intensity"),
        ("bad-shares", "shares"),
        ("repeated-shares", "shares"),
        ("duplicate-mix", "duplicate"),
    ] {
        let bench = Bench::new(
            &[LIAR],
            &format!(
                "[providers.liar]\nplugin = \"liar\"\nsettings = {{ environment = \"{mode}\" }}\n\n\
                 [environment]\nprovider = \"liar\"\n\n\
                 [accounts.site]\ndiscovery = \"liar\"\nresource_metrics = \"liar\"\n"
            ),
        );
        let daemon = bench.start();
        // The rejection is counted when the answer arrives, the mix served once the
        // snapshot after it is published: wait for both.
        let kept = matches!(mode, "bad-shares" | "repeated-shares" | "duplicate-mix");
        let text = daemon.wait_for("/metrics", 30, |t| {
            rejected(t, reason) >= 1.0
                && (!kept
                    || metric_value(
                        t,
                        "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
                        "",
                    )
                    .is_some())
        });
        assert_all_finite(&text);
        let intensity = metric_value(
            &text,
            "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
            "",
        );
        match mode {
            "bad-shares" | "repeated-shares" => {
                assert_eq!(intensity, Some(300.0), "{mode}: the intensity is kept");
                assert!(series(&text, "carbonaut_location_energy_mix_ratio").is_empty());
            }
            "duplicate-mix" => assert_eq!(intensity, Some(300.0), "the first mix wins"),
            _ => assert_eq!(intensity, None, "{mode}: no intensity served"),
        }
        let emissions = metric_value(&text, "carbonaut_account_emissions_grams_total", "");
        assert!(
            emissions.is_some_and(f64::is_finite),
            "{mode}: {emissions:?}"
        );
        // The exposition is one Prometheus accepts whole.
        let file = bench.dir.path().join("metrics.txt");
        std::fs::write(&file, &text).expect("write");
        let out = std::process::Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).expect("open"))
            .output()
            .expect("promtool");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !said.contains("error") && !said.contains("duplicate"),
            "{mode}: promtool says {said}"
        );
        daemon.wait_for_log(10, |log| logged(log, reason));
    }
}

#[test]
fn repeated_and_nul_laden_ids_neither_collide_nor_churn() {
    let mut body = String::from("[providers.meter]\nplugin = \"liar\"\n\n");
    for mode in [
        "duplicate-project",
        "duplicate-resource",
        "nul-ids",
        "long-labels",
    ] {
        body.push_str(&format!(
            "[providers.{mode}]\nplugin = \"liar\"\nsettings = {{ discovery = \"{mode}\" }}\n\n\
             [accounts.{mode}]\ndiscovery = \"{mode}\"\nresource_metrics = \"meter\"\n\n"
        ));
    }
    let bench = Bench::new(&[LIAR], &body);
    let daemon = bench.start();
    // Three syncs at least (one a second).
    std::thread::sleep(Duration::from_millis(3500));
    let text = daemon.wait_for("/metrics", 30, |t| rejected(t, "invalid-id") >= 1.0);
    assert_all_finite(&text);
    let resources = |account: &str| {
        metric_value(
            &text,
            "carbonaut_topology_resources",
            &format!("account=\"{account}\""),
        )
    };
    assert_eq!(
        resources("duplicate-project"),
        Some(4.0),
        "p (first listing) and q"
    );
    assert_eq!(
        resources("duplicate-resource"),
        Some(4.0),
        "a and b in p and q"
    );
    assert_eq!(
        resources("nul-ids"),
        Some(1.0),
        "only N/a: x\\0y and N\\0x are refused"
    );
    assert_eq!(resources("long-labels"), Some(4.0));
    assert!(rejected(&text, "duplicate-id") >= 2.0);
    assert!(rejected(&text, "labels") >= 1.0);
    assert!(rejected(&text, "text") >= 1.0);
    // No sync after the first added or removed anything: a listing twice is not churn.
    let log = daemon.log();
    let churned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("topology synced"))
        .filter(|l| !l.contains("resources_added=0") || !l.contains("resources_removed=0"))
        .collect();
    assert_eq!(
        churned.len(),
        4,
        "one first sync per account, then none that churn:\n{log}"
    );
    // Labels of the long-labels resource are bounded in what is served.
    let info = series(&text, "carbonaut_resource_info")
        .into_iter()
        .find(|l| l.contains("account=\"long-labels\"") && l.contains("resource=\"a\""))
        .expect("info line");
    assert!(info.len() < 2000, "{} bytes", info.len());
    let first = text.clone();
    drop(daemon.stop());
    let again = bench.start();
    again.wait_for("/readyz", 30, |t| t.starts_with("ready"));
    let text = again.get("/metrics").text().expect("metrics");
    for account in [
        "duplicate-project",
        "duplicate-resource",
        "nul-ids",
        "long-labels",
    ] {
        assert!(
            energy(&text, account) >= energy(&first, account),
            "{account} went down across a restart"
        );
    }
}

#[test]
fn plugin_text_cannot_forge_log_records() {
    let bench = Bench::new(
        &[LIAR],
        "[providers.liar]\nplugin = \"liar\"\nsettings = { discovery = \"log-injection\" }\n\n\
         [accounts.site]\ndiscovery = \"liar\"\nresource_metrics = \"liar\"\n",
    );
    let daemon = bench.start();
    daemon.wait_for("/api/v1/status", 30, |t| t.contains("FORGED ERROR LINE"));
    std::thread::sleep(Duration::from_millis(300));
    let log = daemon.stop();
    assert!(
        log.contains("FORGED RECORD"),
        "the guest's line is logged:\n{log}"
    );
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-01-01") && !line.starts_with("ERROR FORGED"),
            "a forged record: {line}"
        );
        assert!(
            !line.contains('\x1b'),
            "an escape sequence reached the log: {line:?}"
        );
        assert!(line.len() < 8 * 1024, "a {} byte log line", line.len());
    }
}

#[test]
fn a_plugin_whose_metadata_never_returns_is_refused_once_and_holds_nothing_hostage() {
    let bench = Bench::new(
        &[MOCK_CLOUD, MOCK_METER, SLOW_METADATA],
        "[limits]\ncall_deadline = \"1s\"\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\n\n[providers.meter]\nplugin = \"mock-meter\"\n\n\
         [accounts.site]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\n\
         [[auth.tokens]]\nname = \"ops\"\nrole = \"admin\"\n\
         sha256 = \"16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01\"\n",
    );
    let daemon = bench.start();
    daemon.wait_for("/readyz", 30, |t| t.starts_with("ready"));
    assert!(
        daemon.log().contains("slow-metadata.wasm"),
        "{}",
        daemon.log()
    );
    // Two reloads with the same bytes: refused from memory, not run again.
    let client = reqwest::blocking::Client::new();
    for _ in 0..2 {
        let resp = client
            .post(daemon.url("/api/v1/reload"))
            .bearer_auth("admin-secret")
            .send()
            .expect("reload");
        assert!(resp.status().is_success(), "{:?}", resp.text());
    }
    let reloads = client
        .get(daemon.url("/api/v1/reloads"))
        .bearer_auth("admin-secret")
        .send()
        .and_then(|r| r.text())
        .expect("reloads");
    assert!(
        reloads.matches("refused before, not run again").count() >= 2,
        "{reloads}"
    );
    let ran = daemon
        .log()
        .lines()
        .filter(|l| l.contains("exceeded its deadline") && !l.contains("not run again"))
        .count();
    assert_eq!(ran, 1, "metadata ran once, at start:\n{}", daemon.log());
}

/// Every `_total` series of an exposition, by its full name and labels.
fn totals(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            let value: f64 = value.parse().ok()?;
            name.ends_with("_total").then(|| (series.to_owned(), value))
        })
        .collect()
}

/// Scrapes for `secs`, asserting that no `_total` series ever went down since `seen`.
fn scrape_monotonic(
    daemon: &Daemon,
    secs: u64,
    seen: &mut std::collections::BTreeMap<String, f64>,
) -> usize {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut scrapes = 0;
    while Instant::now() < until {
        if let Ok(text) = daemon.get("/metrics").text() {
            for (series, value) in totals(&text) {
                if let Some(before) = seen.get(&series) {
                    assert!(
                        value >= *before,
                        "{series} went down from {before} to {value} (scrape {scrapes})"
                    );
                }
                seen.insert(series, value);
            }
            scrapes += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    scrapes
}

#[test]
fn totals_never_go_down_under_churn_nor_across_a_kill() {
    let bench = Bench::new(
        &[MOCK_CLOUD, MOCK_METER, MOCK_GRID],
        "[providers.cloud]\nplugin = \"mock-cloud\"\n\
         settings = { projects = 2, resources_per_project = 10, churn_period_secs = 1 }\n\n\
         [providers.meter]\nplugin = \"mock-meter\"\n\n[providers.grid]\nplugin = \"mock-grid\"\n\n\
         [environment]\nprovider = \"grid\"\n\n\
         [accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
    );
    let mut seen = std::collections::BTreeMap::new();
    let daemon = bench.start();
    daemon.wait_for("/readyz", 30, |t| t.starts_with("ready"));
    let mut scrapes = scrape_monotonic(&daemon, 8, &mut seen);
    // The inventory churned: at least three syncs removed resources.
    daemon.wait_for_log(10, |log| {
        log.lines()
            .filter(|l| l.contains("topology synced") && !l.contains("resources_removed=0"))
            .count()
            >= 3
    });
    drop(daemon); // SIGKILL in the middle of collecting
    // The process's own counters (calls, failures) start again with the process, as
    // Prometheus expects; what carbonaut measured must not.
    seen.retain(|series, _| {
        series.contains("_energy_joules_total") || series.contains("_emissions_grams_total")
    });
    let again = bench.start();
    scrapes += scrape_monotonic(&again, 6, &mut seen);
    assert!(scrapes > 60, "{scrapes} scrapes");
    let account = seen
        .get("carbonaut_account_energy_joules_total{account=\"acme\"}")
        .copied()
        .unwrap_or_default();
    assert!(account > 0.0);
    // The account's total is every resource it ever had: at least what its live ones show.
    let text = again.get("/metrics").text().expect("metrics");
    let live: f64 = series(&text, "carbonaut_resource_energy_joules_total")
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        energy(&text, "acme") >= live,
        "account {} < live {live}",
        energy(&text, "acme")
    );
    assert!(
        energy(&text, "acme") > live,
        "removed resources still count in the total"
    );
}

#[test]
fn start_up_answers_probes_while_a_slow_plugin_loads() {
    use std::io::BufRead;
    let bench = Bench::new(
        &[MOCK_CLOUD, MOCK_METER, SLOW_METADATA],
        "[limits]\ncall_deadline = \"8s\"\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\n\n[providers.meter]\nplugin = \"mock-meter\"\n\n\
         [accounts.site]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
    );
    let mut child = Reaped(
        std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
            .args(["run", "--config", &bench.config().display().to_string()])
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    // Lines arrive on a channel, so a line that never comes fails the test instead of
    // blocking it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_line = |what: &str| -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with `{what}` within 60 s"),
            }
        }
    };
    let line = wait_line("loading plugins; /healthz");
    let addr = line
        .split("addr=")
        .nth(1)
        .map(|a| a.trim().to_owned())
        .expect("the early listener's address");
    let get = |path: &str| reqwest::blocking::get(format!("http://{addr}{path}")).expect("request");
    assert_eq!(get("/healthz").status(), 200, "alive while loading");
    let ready = get("/readyz");
    assert_eq!(ready.status(), 503);
    // While the slow plugin holds start-up (up to its 8 s deadline), every route says so,
    // naming no file to callers nobody has authenticated; the log names it. The quick plugins
    // may still be compiling on a loaded machine: the count is 1 or more.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get("/readyz").text().expect("body");
        if body.contains("1 file is still loading") || body.contains("files are still loading") {
            break;
        }
        assert!(
            Instant::now() < until,
            "never said what it waits for: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // On a busy machine a quick plugin may be named too; the slow one must be.
    while !wait_line("still loading after").contains("slow-metadata.wasm") {}
    let dir = bench.dir.path().display().to_string();
    for path in ["/readyz", "/api/v1/status", "/metrics"] {
        let response = get(path);
        assert_eq!(response.status(), 503, "{path}");
        let body = response.text().expect("body");
        assert!(body.contains("loading plugins"), "{path}: {body}");
        assert!(
            !body.contains("slow-metadata") && !body.contains(&dir) && !body.contains(".wasm"),
            "{path} names a server file: {body}"
        );
    }
    // Then the plugins that did load serve as usual.
    wait_line("listening on http://");
    let until = Instant::now() + Duration::from_secs(30);
    while get("/readyz").status() != 200 {
        assert!(Instant::now() < until, "never ready");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `text` base64-encoded (standard alphabet, padded).
fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn a_plugin_echoing_its_settings_serves_and_logs_no_secret() {
    const TOKEN: &str = "s3cr3t/tok+en=?x";
    const ACCOUNT_KEY: &str = "acct-key-0123456789";
    let bench = Bench::new(
        &[LIAR],
        "[providers.liar]\nplugin = \"liar\"\n\
         settings = { discovery = \"echo-settings\", token = \"Bearer ${ECHO_TOKEN}\" }\n\n\
         [accounts.site]\ndiscovery = \"liar\"\nresource_metrics = \"liar\"\n\
         settings = { key = \"${ECHO_ACCOUNT_KEY}\" }\n",
    );
    let daemon = Daemon::start_with_env(
        &["--config", &bench.config().display().to_string()],
        &[("ECHO_TOKEN", TOKEN), ("ECHO_ACCOUNT_KEY", ACCOUNT_KEY)],
    );
    let status = daemon.wait_for("/api/v1/status", 30, |t| t.contains("expected a number"));
    let plugins = daemon.get("/api/v1/plugins").text().expect("plugins");
    let plugin = daemon.get("/api/v1/plugins/liar").text().expect("plugin");
    std::thread::sleep(Duration::from_millis(300));
    let log = daemon.stop();
    // The error and the log lines arrived, with the secrets taken out.
    assert!(status.contains("got `***` for token"), "{status}");
    assert!(status.contains("got `***` for key"), "{status}");
    assert!(plugins.contains("expected a number"), "{plugins}");
    assert!(log.contains("read setting token: ***"), "{log}");
    // The guest's fields are each one quoted value: ` k3=x` is not a field of its own.
    assert!(
        log.lines()
            .any(|l| l.contains(r#"key="token" value="***" then=" k3=x""#)),
        "{log}"
    );
    for secret in [TOKEN, ACCOUNT_KEY] {
        let basic = base64(&format!("user:{secret}"));
        let forms = [
            secret.to_owned(),
            secret
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        char::from(b).to_string()
                    }
                    b => format!("%{b:02X}"),
                })
                .collect(),
            base64(secret),
            // The secret's own characters inside the Basic credential.
            basic[8..basic.len() - 4].to_owned(),
        ];
        for form in &forms {
            for (what, text) in [
                ("status", &status),
                ("plugins", &plugins),
                ("plugin", &plugin),
                ("log", &log),
            ] {
                assert!(
                    !text.contains(form.as_str()),
                    "{what} holds `{form}`:\n{text}"
                );
            }
        }
    }
}

/// A resource whose readings start being refused (issue 28: the last good power reading was
/// served on forever, and the status said nothing): its age grows, its gauges go after
/// `stale_after` (3) intervals, and `/api/v1/status` shows the provider's refusals.
#[test]
fn refused_readings_go_stale_visibly() {
    let config = |metrics: &str| {
        format!(
            "[providers.cloud]\nplugin = \"liar\"\n\n\
             [providers.meter]\nplugin = \"liar\"\nsettings = {{ metrics = \"{metrics}\" }}\n\n\
             [accounts.site]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
        )
    };
    let bench = Bench::new(&[LIAR], &config("ok"));
    let daemon = bench.start();
    let power = |t: &str| metric_value(t, "carbonaut_resource_power_watts", "account=\"site\"");
    let age = |t: &str| {
        metric_value(
            t,
            "carbonaut_resource_sample_age_seconds",
            "account=\"site\"",
        )
    };
    let text = daemon.wait_for("/metrics", 60, |t| power(t) == Some(100.0));
    // Read 200 ms apart at most, published right after the call.
    assert!(age(&text).is_some_and(|a| a < 0.6), "{text}");
    let status = json(&daemon, "/api/v1/status");
    assert_eq!(status["providers"]["meter"]["rejected"]["items"], 0);

    // Every reading refused from now on (8e307 W): the 100 W is not served past 3 intervals.
    bench.write(&config("huge-power"));
    let text = daemon.wait_for("/metrics", 30, |t| {
        power(t).is_none() && age(t).is_some_and(|a| a > 0.6)
    });
    assert!(
        series(&text, "carbonaut_resource_cpu_utilization_ratio")
            .iter()
            .all(|l| !l.contains("account=\"site\"")),
        "{text}"
    );
    assert!(
        metric_value(
            &text,
            "carbonaut_resource_energy_joules_total",
            "account=\"site\""
        )
        .is_some(),
        "the totals stay"
    );
    let status = json(&daemon, "/api/v1/status");
    let rejected = &status["providers"]["meter"]["rejected"];
    assert!(
        rejected["by_reason"]["power"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(
        rejected["last"]
            .as_str()
            .is_some_and(|l| l.starts_with("power: ")),
        "{status}"
    );
    assert!(rejected["last_at_ms"].as_u64().is_some(), "{status}");
    assert_eq!(status["providers"]["cloud"]["rejected"]["items"], 0);
    daemon.stop();
}

fn json(daemon: &Daemon, path: &str) -> serde_json::Value {
    daemon.get(path).json().expect("JSON")
}
