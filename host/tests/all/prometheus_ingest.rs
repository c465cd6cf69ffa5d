//! The prometheus plugin against a real Prometheus server (Debian's package) that scrapes a
//! real node_exporter and Scaphandre- and Kepler-shaped exposition files served by the test,
//! all on loopback with temporary storage; its direct-scrape mode against the same files; and
//! its errors against a server that answers what a broken Prometheus would.

mod gpus;
mod harness;
mod stock_interval;

use carbonaut_model::ProviderError;
use carbonaut_runtime::Grants;

use crate::fake_api::{Reply, Upstream, reply};
use crate::support::*;
use harness::*;

// The fixtures' numbers, and what the plugin must make of them.
/// scaphandre.prom: `scaph_host_energy_microjoules 7345123456789`, in µJ.
const SCAPH_JOULES: f64 = 7_345_123_456_789.0 / 1e6;
/// scaphandre.prom: `scaph_host_power_microwatts 38215000`, in µW.
const SCAPH_WATTS: f64 = 38_215_000.0 / 1e6;
/// scaphandre.prom: `scaph_host_cpu_frequency 2893`, in MHz.
const SCAPH_HERTZ: f64 = 2893.0 * 1e6;
/// kepler.prom: package (two sockets) + dram (two sockets); core, uncore and psys left out.
const KEPLER_JOULES: f64 = 51234.5 + 49876.25 + 8765.125 + 8123.5;
const KEPLER_WATTS: f64 = 61.5 + 58.25 + 7.75 + 7.25;
/// kepler-legacy.prom: package and dram, dynamic + idle each; core, uncore, platform left out.
const KEPLER_LEGACY_JOULES: f64 = 1520.25 + 3110.5 + 120.125 + 410.0;
/// kepler-0.7-estimated.prom: package and dram, dynamic + idle each.
const KEPLER_ESTIMATED_JOULES: f64 = 812.5 + 2400.0 + 60.25 + 301.0;
/// kepler-hwmon.prom: package, gpu and the unlabelled platform sensor; core is in the package.
const KEPLER_HWMON_JOULES: f64 = 90000.0 + 84960.0 + 14400.0;
const KEPLER_HWMON_WATTS: f64 = 125.0 + 118.0 + 20.0;
/// Cloud Carbon Footprint's AWS coefficients, watts per vCPU.
const MIN_W: f64 = 0.74;
const MAX_W: f64 = 3.5;

#[test]
fn query_mode_reads_scaphandre_kepler_and_node_exporter_through_a_real_prometheus() {
    let stack = start_stack();
    let h = Harness::new();
    let grants = origin(format!("127.0.0.1:{}", stack.prometheus));
    let url = format!("http://127.0.0.1:{}", stack.prometheus);
    let files = stack.files;
    let node = format!("node/127.0.0.1:{}", stack.node);
    let base = [
        ("url", url.as_str()),
        ("resource_template", "{job}/{instance}"),
        ("rate_window", "5s"),
        ("min_watts_per_vcpu", "0.74"),
        ("max_watts_per_vcpu", "3.5"),
    ];
    let started = now_ms();
    let resources = [
        resource(&format!("scaphandre/{files}"), "box-a", None),
        resource(&format!("kepler/{files}"), "box-b", None),
        // Matched by name when the id is the inventory's own.
        resource("i-0abc", &format!("kepler-legacy/{files}"), None),
        resource(&node, "box-d", None),
        resource("nobody", "nothing scrapes this", None),
    ];
    let samples = h.collect(&grants, &base, &resources).expect("collect");
    assert_eq!(
        samples.len(),
        4,
        "the unknown resource is left out: {samples:#?}"
    );

    let scaph = by_id(&samples, &format!("scaphandre/{files}"));
    assert!(close(scaph.energy_joules, SCAPH_JOULES), "{scaph:?}");
    assert!(close(scaph.power_watts, SCAPH_WATTS), "{scaph:?}");
    assert!(close(scaph.cpu_frequency_hertz, SCAPH_HERTZ), "{scaph:?}");
    assert!(!scaph.estimated);
    // The time Prometheus scraped the value, not the time of the query.
    assert!(
        scaph.read_at <= now_ms() && scaph.read_at + 120_000 > started,
        "{scaph:?}"
    );

    let kepler = by_id(&samples, &format!("kepler/{files}"));
    assert!(close(kepler.energy_joules, KEPLER_JOULES), "{kepler:?}");
    assert!(close(kepler.power_watts, KEPLER_WATTS), "{kepler:?}");
    assert_eq!(kepler.cpu_utilization_ratio, Some(0.375));

    let legacy = by_id(&samples, "i-0abc");
    assert!(
        close(legacy.energy_joules, KEPLER_LEGACY_JOULES),
        "{legacy:?}"
    );
    assert_eq!(legacy.power_watts, None);
    // Prometheus keeps Kepler 0.7's own `instance` as `exported_instance`: the same template
    // names the node in both modes.
    let by_node = h
        .collect(
            &grants,
            &[
                ("url", url.as_str()),
                ("resource_template", "{exported_instance}"),
                ("sources", "kepler"),
            ],
            &[resource("kepler-node-1", "n1", None)],
        )
        .expect("collect");
    assert!(
        close(by_node[0].energy_joules, KEPLER_LEGACY_JOULES),
        "{by_node:?}"
    );

    // node_exporter alone: utilisation measured live, power estimated from it.
    let est = by_id(&samples, &node);
    let u = est.cpu_utilization_ratio.expect("utilisation");
    assert!((0.0..=1.0).contains(&u), "{est:?}");
    assert!(est.estimated && est.energy_joules.is_none(), "{est:?}");
    let cpus = cpu_count();
    assert!(
        close(est.power_watts, cpus * (MIN_W + u * (MAX_W - MIN_W))),
        "{cpus} CPUs: {est:?}"
    );
    assert!(est.power_watts >= Some(cpus * MIN_W) && est.power_watts <= Some(cpus * MAX_W));
    // The inventory's vCPU count wins over the CPUs the exporter sees.
    let two = h
        .collect(&grants, &base, &[resource(&node, "box-d", Some(2))])
        .expect("collect");
    let u2 = two[0].cpu_utilization_ratio.expect("utilisation");
    assert!(close(
        two[0].power_watts,
        2.0 * (MIN_W + u2 * (MAX_W - MIN_W))
    ));

    // `{instance:host}`: every exporter on 127.0.0.1 is one machine. Energy comes from the
    // first source that has it, utilisation from node_exporter, nothing is estimated.
    let host = [
        ("url", url.as_str()),
        ("resource_template", "{instance:host}"),
        ("rate_window", "5s"),
    ];
    let merged = h
        .collect(&grants, &host, &[resource("127.0.0.1", "lab", None)])
        .expect("collect");
    assert_eq!(merged.len(), 1);
    assert!(close(merged[0].energy_joules, SCAPH_JOULES), "{merged:?}");
    assert!(!merged[0].estimated);
    let u = merged[0].cpu_utilization_ratio.expect("utilisation");
    assert!(
        (0.0..=1.0).contains(&u) && u != 0.375,
        "node_exporter's, not Kepler's: {u}"
    );
    let kepler_first = with(&host, "sources", "kepler,node_exporter");
    let merged = h
        .collect(
            &grants,
            &kepler_first,
            &[resource("127.0.0.1", "lab", None)],
        )
        .expect("collect");
    assert!(close(merged[0].energy_joules, KEPLER_JOULES), "{merged:?}");

    // Discovery: one project per job, one resource per target.
    let projects = h.projects(&grants, &base);
    let ids: Vec<&str> = projects.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["kepler", "kepler-legacy", "node", "scaphandre"]);
    let only = with(&with(&base, "jobs", "node, scaphandre"), "country", "de");
    let projects = h.projects(&grants, &only);
    assert_eq!(projects.len(), 2);
    let found = h.resources(&grants, &only, &projects[0]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, node);
    assert_eq!(found[0].location.country.as_deref(), Some("DE"));
    assert!(
        found[0]
            .labels
            .contains(&("job".to_owned(), "node".to_owned()))
    );
    assert!(
        found[0]
            .labels
            .contains(&("instance".to_owned(), format!("127.0.0.1:{}", stack.node)))
    );
    // What discovery finds, the same provider measures.
    let samples = h.collect(&grants, &only, &found).expect("collect");
    assert_eq!(samples.len(), 1);

    // A query Prometheus refuses is the operator's to fix, in Prometheus's words.
    let bad = with(&base, "selector", "job=~\"(\"");
    let ProviderError::BadConfig(message) = provider_error(h.collect(&grants, &bad, &resources))
    else {
        panic!("not BadConfig")
    };
    assert!(
        message.contains("400") && message.contains("bad_data") && message.contains("regexp"),
        "{message}"
    );

    // Without the operator's allow_http the host refuses the request.
    let err = provider_error(h.collect(&Grants::NONE, &base, &resources));
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("allow_http")),
        "{err:?}"
    );

    daemon_serves_what_prometheus_has(&stack);
}

/// `carbonaut run` with the plugin for discovery and metrics, granted the server by its
/// config's `allow_http`, serves the fixtures' numbers on /metrics.
fn daemon_serves_what_prometheus_has(stack: &Stack) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonaut.toml");
    let server = format!("http://127.0.0.1:{}", stack.prometheus);
    std::fs::write(
        &config,
        format!(
            "[paths]\nplugin_dir = \"{}\"\nstate_dir = \"state\"\n\n\
             [intervals]\ntopology_sync = \"1s\"\nresource_metrics = \"1s\"\n\n\
             [providers.prom]\nplugin = \"prometheus\"\nallow_http = [\"{server}\"]\n\
             settings = {{ url = \"{server}\", resource_template = \"{{job}}/{{instance}}\", \
             rate_window = \"5s\", min_watts_per_vcpu = 0.74, max_watts_per_vcpu = 3.5 }}\n\n\
             [accounts.lab]\ndiscovery = \"prom\"\nresource_metrics = \"prom\"\n",
            plugin_dir().display()
        ),
    )
    .expect("write the config");
    let daemon = Daemon::start(&["--config", config.to_str().expect("utf-8")]);
    let files = stack.files;
    let scaph = format!("resource=\"scaphandre/{files}\"");
    let kepler = format!("resource=\"kepler/{files}\"");
    let node = format!("resource=\"node/127.0.0.1:{}\"", stack.node);
    let text = daemon.wait_for("/metrics", 30, |text| {
        [&scaph, &kepler, &node]
            .iter()
            .all(|r| metric_value(text, "carbonaut_resource_power_watts", r).is_some())
    });
    let power = |r: &str| metric_value(&text, "carbonaut_resource_power_watts", r);
    assert!(close(power(&scaph), SCAPH_WATTS), "{text}");
    assert!(close(power(&kepler), KEPLER_WATTS), "{text}");
    let cpus = cpu_count();
    let estimated = power(&node).expect("estimated power");
    assert!(
        (cpus * MIN_W..=cpus * MAX_W).contains(&estimated),
        "{estimated} W for {cpus} CPUs"
    );
    assert!(close(
        metric_value(&text, "carbonaut_resource_cpu_frequency_hertz", &scaph),
        SCAPH_HERTZ
    ));
    daemon.stop();
}

#[test]
fn scrape_mode_reads_exporters_without_a_prometheus() {
    let h = Harness::new();
    let files = file_server();
    let grants = origin(files);
    let me = [resource(&files.to_string(), "box", None)];
    let scrape = |path: &str, extra: &[(&'static str, &'static str)]| {
        let url = format!("http://{files}{path}");
        let mut pairs = vec![("mode", "scrape"), ("url", url.as_str())];
        pairs.extend_from_slice(extra);
        h.collect(&grants, &pairs, &me)
    };
    let before = now_ms();
    let s = scrape("/scaphandre.prom", &[]).expect("scrape");
    assert_eq!(s.len(), 1);
    assert!(close(s[0].energy_joules, SCAPH_JOULES), "{s:?}");
    assert!(close(s[0].power_watts, SCAPH_WATTS), "{s:?}");
    assert!(close(s[0].cpu_frequency_hertz, SCAPH_HERTZ), "{s:?}");
    assert!(s[0].read_at >= before && s[0].read_at <= now_ms());

    let s = scrape("/kepler.prom", &[]).expect("scrape");
    assert!(close(s[0].energy_joules, KEPLER_JOULES), "{s:?}");
    assert!(close(s[0].power_watts, KEPLER_WATTS), "{s:?}");
    assert_eq!(s[0].cpu_utilization_ratio, Some(0.375));

    // Kepler 0.7 writes the node's name in its own `instance` label: kept as
    // `exported_instance`, as Prometheus keeps it, so the endpoint still names the resource.
    let s = scrape("/kepler-legacy.prom", &[]).expect("scrape");
    assert_eq!(s.len(), 1, "keyed by the endpoint, as in query mode: {s:?}");
    assert!(close(s[0].energy_joules, KEPLER_LEGACY_JOULES), "{s:?}");
    assert!(!s[0].estimated, "RAPL measured it: {s:?}");
    let legacy_url = format!("http://{files}/kepler-legacy.prom");
    let s = h
        .collect(
            &grants,
            &[
                ("mode", "scrape"),
                ("url", legacy_url.as_str()),
                ("instance_label", "exported_instance"),
            ],
            &[resource("kepler-node-1", "n1", None)],
        )
        .expect("scrape");
    assert!(close(s[0].energy_joules, KEPLER_LEGACY_JOULES), "{s:?}");

    // What Kepler 0.7 says a model estimated is estimated.
    let s = scrape("/kepler-0.7-estimated.prom", &[]).expect("scrape");
    assert!(close(s[0].energy_joules, KEPLER_ESTIMATED_JOULES), "{s:?}");
    assert!(s[0].estimated, "source=\"trained_power_model\": {s:?}");

    // Kepler 0.11's hwmon zones: the package and the sensors outside it, not its core.
    let s = scrape("/kepler-hwmon.prom", &[]).expect("scrape");
    assert!(close(s[0].energy_joules, KEPLER_HWMON_JOULES), "{s:?}");
    assert!(close(s[0].power_watts, KEPLER_HWMON_WATTS), "{s:?}");
    assert_eq!(s[0].cpu_utilization_ratio, Some(0.25));
    assert!(!s[0].estimated);

    // Kepler's own node_name label can name the resource instead of the endpoint.
    let kepler_url = format!("http://{files}/kepler.prom");
    let s = h
        .collect(
            &grants,
            &[
                ("mode", "scrape"),
                ("url", kepler_url.as_str()),
                ("instance_label", "node_name"),
            ],
            &[resource("worker-1", "w1", None)],
        )
        .expect("scrape");
    assert!(close(s[0].energy_joules, KEPLER_JOULES), "{s:?}");

    // One endpoint down does not hide another's readings; all down is Unavailable.
    let closed = free_port();
    let both = Grants {
        http: vec![
            format!("http://{files}").parse().expect("origin"),
            format!("http://127.0.0.1:{closed}")
                .parse()
                .expect("origin"),
        ],
        ..Grants::NONE
    };
    let urls = format!("http://{files}/kepler.prom, http://127.0.0.1:{closed}/metrics");
    let s = h
        .collect(&both, &[("mode", "scrape"), ("url", urls.as_str())], &me)
        .expect("the reachable endpoint");
    assert!(close(s[0].energy_joules, KEPLER_JOULES));
    let down = format!("http://127.0.0.1:{closed}/metrics");
    let err = provider_error(h.collect(&both, &[("mode", "scrape"), ("url", down.as_str())], &me));
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");

    let err = provider_error(scrape("/missing.prom", &[]));
    assert!(
        matches!(&err, ProviderError::BadConfig(m) if m.contains("404")),
        "{err:?}"
    );
    let err = provider_error(scrape("/scaphandre.prom", &[("sources", "node_exporter")]));
    assert!(matches!(err, ProviderError::BadConfig(_)), "{err:?}");
}

#[test]
fn a_malformed_exposition_names_the_line() {
    let h = Harness::new();
    let addr = Upstream::start(|_| {
        reply(
            200,
            "# TYPE scaph_host_energy_microjoules counter\nscaph_host_energy_microjoules{x=\"1\" 5\n"
                .to_owned(),
        )
    })
    .addr;
    let url = format!("http://{addr}/metrics");
    let err = provider_error(h.collect(
        &origin(addr),
        &[("mode", "scrape"), ("url", url.as_str())],
        &[resource(&addr.to_string(), "box", None)],
    ));
    let ProviderError::Other(message) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains("line 2"), "{message}");
}

/// A server that answers every request as `answer` says, and what the plugin makes of it.
fn query_error(
    answer: impl Fn(&[(String, String)]) -> Reply + Send + Sync + 'static,
    extra: &[(&str, &str)],
) -> ProviderError {
    let h = Harness::new();
    let addr = Upstream::start(move |seen| answer(&seen.headers)).addr;
    let url = format!("http://{addr}");
    let mut pairs = vec![("url", url.as_str())];
    pairs.extend_from_slice(extra);
    provider_error(h.collect(&origin(addr), &pairs, &[resource("a", "a", None)]))
}

fn json(status: u16, body: &str) -> Reply {
    reply(status, body.to_owned()).header("Content-Type", "application/json")
}

#[test]
fn server_errors_map_to_provider_errors() {
    // Prometheus still replaying its write-ahead log, with a hint when to come back.
    let err = query_error(
        |_| {
            json(
                503,
                r#"{"status":"error","errorType":"unavailable","error":"TSDB not ready"}"#,
            )
            .header("Retry-After", "7")
        },
        &[],
    );
    let ProviderError::Unavailable(u) = err else {
        panic!("{err:?}")
    };
    assert_eq!(u.retry_after_ms, Some(7000));
    assert!(u.message.contains("TSDB not ready"), "{}", u.message);

    let err = query_error(|_| json(500, "internal error"), &[]);
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");

    // Behind a proxy that wants a token: refused without, sent when set.
    let guarded = |headers: &[(String, String)]| {
        let authorised = headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer s3cret");
        if authorised {
            json(
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            )
        } else {
            reply(401, "Unauthorized".to_owned())
        }
    };
    let err = query_error(guarded, &[]);
    assert!(matches!(err, ProviderError::Unauthorized(_)), "{err:?}");
    let h = Harness::new();
    let addr = Upstream::start(move |seen| guarded(&seen.headers)).addr;
    let url = format!("http://{addr}");
    let samples = h
        .collect(
            &origin(addr),
            &[("url", url.as_str()), ("bearer_token", "s3cret")],
            &[resource("a", "a", None)],
        )
        .expect("authorised");
    assert!(samples.is_empty());

    // Malformed answers name what was wrong.
    let err = query_error(|_| json(200, "<html>maintenance</html>"), &[]);
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("not the API's JSON") && m.contains("maintenance")),
        "{err:?}"
    );
    let err = query_error(
        |_| {
            json(
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1700000000.5,"lots"]}]}}"#,
            )
        },
        &[("sources", "node_exporter")],
    );
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("`lots`") && m.contains("not a number")),
        "{err:?}"
    );
    let err = query_error(
        |_| {
            json(
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"}}]}}"#,
            )
        },
        &[("sources", "node_exporter")],
    );
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("data.result") && m.contains("value")),
        "{err:?}"
    );
    let err = query_error(
        |_| {
            json(
                200,
                r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}"#,
            )
        },
        &[],
    );
    assert!(
        matches!(&err, ProviderError::Other(m) if m.contains("scalar")),
        "{err:?}"
    );

    // Nobody listening: try again later.
    let h = Harness::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let err = provider_error(h.collect(
        &origin(format!("127.0.0.1:{port}")),
        &[("url", url.as_str())],
        &[resource("a", "a", None)],
    ));
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
}

#[test]
fn settings_are_checked_before_any_request() {
    let h = Harness::new();
    for (pairs, expected) in [
        (vec![], "`url` is required"),
        (
            vec![("url", "127.0.0.1:9090")],
            "must start with http:// or https://",
        ),
        (
            vec![("url", "http://127.0.0.1:9"), ("mode", "push")],
            "`mode`",
        ),
        (
            vec![("url", "http://127.0.0.1:9"), ("resource_template", "{job")],
            "`resource_template`",
        ),
        (
            vec![("url", "http://127.0.0.1:9"), ("sources", "rapl")],
            "`rapl` is not one of",
        ),
        (
            vec![("url", "http://127.0.0.1:9"), ("min_watts_per_vcpu", "1")],
            "go together",
        ),
        (
            vec![("url", "http://127.0.0.1:9"), ("rate_window", "a while")],
            "`rate_window` is `a while`: write a Prometheus duration",
        ),
        (
            vec![
                ("url", "http://127.0.0.1:9"),
                ("min_watts_per_vcpu", "4"),
                ("max_watts_per_vcpu", "1"),
            ],
            "is above",
        ),
    ] {
        let err = provider_error(h.collect(&Grants::NONE, &pairs, &[resource("a", "a", None)]));
        assert!(
            matches!(&err, ProviderError::BadConfig(m) if m.contains(expected)),
            "{pairs:?}: {err:?}"
        );
    }
}
