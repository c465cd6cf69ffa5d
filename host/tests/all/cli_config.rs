//! `carbonaut check-config`, run as an operator runs it.

use std::process::Command;

use crate::support::*;

/// Runs check-config on `text`, where `PLUGINS` is a folder holding the quickstart's plugins
/// linux-host and prometheus (not every shipped plugin, so the messages that list them stay put).
fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    for p in [
        LINUX_HOST,
        MOCK_CLOUD,
        MOCK_GRID,
        MOCK_METER,
        PROMETHEUS,
        STATIC_GRID,
    ] {
        let name = std::path::Path::new(p).file_name().expect("name");
        std::fs::copy(p, plugins.join(name)).expect("copy");
    }
    let file = dir.path().join("carbonaut.toml");
    std::fs::write(
        &file,
        text.replace("PLUGINS", &plugins.display().to_string()),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["check-config", file.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr)
        .replace(&file.display().to_string(), "FILE")
        .replace(&plugins.display().to_string(), "PLUGINS");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn check_config_names_file_line_column_and_the_fix() {
    let (code, stdout, stderr) = check(
        "[paths]\nplugin_dir = \"PLUGINS\"\nstate_dir = \"state\"\n\n\
         [providers.cloud]\nplugin = \"mock-clod\"\n\n\
         [providers.grid]\nplugin = \"mock-grid\"\n\n\
         [accounts.acme]\ndiscovery = \"grid\"\nresource_metrics = \"cloud\"\n",
    );
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert_eq!(
        stderr,
        format!(
            "error: FILE:6:10: provider `cloud` uses plugin `mock-clod`, which is not loaded; use one of: \
             linux-host, mock-cloud, mock-grid, mock-meter, prometheus, static-grid, or add a plugin named `mock-clod` to PLUGINS\n\
             FILE:12:13: account `acme` uses provider `grid` for discovery, but its plugin `mock-grid` does \
             not implement discovery (it implements environment); define a provider with a plugin that \
             implements discovery: linux-host, mock-cloud, prometheus\n"
        )
    );
}

#[test]
fn check_config_checks_settings_against_what_the_plugins_declare() {
    let (code, stdout, stderr) = check(
        "[paths]\nplugin_dir = \"PLUGINS\"\nstate_dir = \"s\"\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\nsettings = { projetcs = 3 }\n\n\
         [providers.meter]\nplugin = \"mock-meter\"\nsettings = { mode = \"counter\" }\n\n\
         [accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
         settings = { resources_per_projet = 4, flavour = \"red\" }\n",
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stderr,
        "error: FILE:7:14: provider `cloud` sets `projetcs`, which its plugin `mock-cloud` does \
         not declare; did you mean `projects`? (declared: churn_period_secs, cloud, \
         extra_labels, label_bytes, projects, resources_per_project)\n\
         FILE:16:14: account `acme` sets `resources_per_projet`, which neither of its plugins \
         (mock-cloud, mock-meter) declares; did you mean `resources_per_project`? (declared: \
         churn_period_secs, cloud, extra_labels, label_bytes, mode, projects, \
         resources_per_project, wrap_joules)\n\
         FILE:16:40: account `acme` sets `flavour`, which neither of its plugins (mock-cloud, \
         mock-meter) declares; remove it (declared: churn_period_secs, cloud, extra_labels, \
         label_bytes, mode, projects, resources_per_project, wrap_joules)\n"
    );
}

#[test]
fn check_config_warns_about_grants_not_asked_for_and_needs_not_granted() {
    let (code, stdout, stderr) = check(
        "[paths]\nplugin_dir = \"PLUGINS\"\nstate_dir = \"s\"\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\n\n\
         [providers.meter]\nplugin = \"mock-meter\"\nallow_http = [\"https://api.example.com\"]\n\n\
         [providers.host]\nplugin = \"linux-host\"\n\n\
         [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\n\
         [accounts.b]\ndiscovery = \"host\"\nresource_metrics = \"host\"\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
    let file = "carbonaut.toml";
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert!(
        warnings.iter().any(|w| w.ends_with(&format!(
            "{file}: provider `meter`: allow_http `https://api.example.com` is configured, but \
             plugin `mock-meter` does not ask for it in its needs, so it is not granted; remove \
             it, or ask the plugin's author to declare it"
        ))),
        "{stdout}"
    );
    for need in [
        "the plugin asks to read `/proc` (needs.read-only-dirs), but read_only_dirs does not \
         grant it; its calls that need it will be refused until [providers.host] grants it",
        "the plugin asks for the key-value store (needs.key-value), but key_value is not true; \
         its calls that need it will be refused until [providers.host] grants it",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.ends_with(&format!("{file}: provider `host`: {need}"))),
            "{need} in:\n{stdout}"
        );
    }
    assert!(
        warnings.iter().all(|w| !w.contains("provider `cloud`")),
        "{stdout}"
    );
}

#[test]
fn check_config_refuses_unknown_keys() {
    let (code, _, stderr) =
        check("[paths]\nplugin_dir = \"PLUGINS\"\nstate_dir = \"s\"\nstat_dir = \"typo\"\n");
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: FILE:4:1: unknown field `stat_dir`, expected `plugin_dir` or `state_dir`; \
         remove it or correct its spelling\n"
    );
}

#[test]
fn check_config_accepts_the_quickstart() {
    let checked = check_example("quickstart.toml", &[]);
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (4 providers, 2 accounts, "),
        "{}",
        checked.stdout
    );
}

#[test]
fn check_config_refuses_bad_directory_grants() {
    let (code, _, stderr) = check(
        "[paths]\nplugin_dir = \"PLUGINS\"\nstate_dir = \"s\"\n\n\
         [providers.meter]\nplugin = \"mock-meter\"\nread_only_dirs = { \"relative\" = \"/tmp\", \"/gone\" = \"/no/such/dir\" }\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\n\n\
         [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("provider `meter` grants `/tmp` at guest path `relative`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("provider `meter` grants `/no/such/dir`, which is not a directory here"),
        "{stderr}"
    );
}

#[test]
fn check_config_refuses_bad_origins_and_provider_limits() {
    let (code, _, stderr) = check(
        "[paths]\nplugin_dir = \"PLUGINS\"\nstate_dir = \"s\"\n\n\
         [providers.meter]\nplugin = \"mock-meter\"\nallow_http = [\"https://ok.example.com\", \"api.example.com\", \"https://x.org/v3\"]\n\n\
         [providers.meter.limits]\nmemory_mib = 0\nmax_concurrent_calls = 1000\ncall_deadline = \"soon\"\n\n\
         [providers.cloud]\nplugin = \"mock-cloud\"\n\n\
         [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n",
    );
    assert_eq!(code, Some(1));
    let expected = [
        "FILE:7:41: provider `meter` allow_http: `api.example.com` is not an origin: it has no scheme",
        "FILE:7:60: provider `meter` allow_http: `https://x.org/v3` is not an origin: an origin has no path",
        "FILE:10:14: providers.meter.limits.memory_mib is 0; use a number from 1 to 4096 (default 128)",
        "FILE:11:24: providers.meter.limits.max_concurrent_calls is 1000; use a number from 1 to 256 (default 4)",
        "FILE:12:17: interval `providers.meter.limits.call_deadline` is `soon`, not a duration",
    ];
    for line in expected {
        assert!(stderr.contains(line), "missing {line:?} in:\n{stderr}");
    }
}

#[test]
fn check_config_accepts_the_kubernetes_example() {
    let checked = check_example("kubernetes.toml", &[]);
    assert!(checked.ok, "{}", checked.stderr);
}

/// The example runs on any Linux machine: it offers `/sys`, of which the plugin gets only the
/// powercap and cpu directories that exist here, so a machine without RAPL passes too.
#[test]
fn check_config_accepts_the_linux_host_example() {
    let checked = check_example("linux-host.toml", &[]);
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (2 providers, 1 accounts, "),
        "{}",
        checked.stdout
    );
}

#[test]
fn check_config_accepts_the_prometheus_example() {
    let checked = check_example("prometheus.toml", &[]);
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (2 providers, 1 accounts, "),
        "{}",
        checked.stdout
    );
    // The operator's allowlist is used, not reported as unused.
    assert!(!checked.stderr.contains("allow_http"), "{}", checked.stderr);
}

/// The example with the token it reads from the environment set, and then unset, which
/// check-config must name.
#[test]
fn check_config_accepts_the_hetzner_cloud_example() {
    let checked = check_example(
        "hetzner-cloud.toml",
        &[("HCLOUD_TOKEN", Some("example-token"))],
    );
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (3 providers, 1 accounts, "),
        "{}",
        checked.stdout
    );
    // The plugin asks for the origin the example allows: nothing is reported unused.
    assert!(!checked.stderr.contains("allow_http"), "{}", checked.stderr);

    let checked = check_example("hetzner-cloud.toml", &[("HCLOUD_TOKEN", None)]);
    assert!(!checked.ok);
    assert!(
        checked
            .stderr
            .contains("environment variable `HCLOUD_TOKEN` is not set (setting `token`"),
        "{}",
        checked.stderr
    );
}

/// The GCP example with the key's fields it reads from the environment, and then without the
/// private key, which check-config must name.
#[test]
fn check_config_accepts_the_gcp_example() {
    let key = [
        (
            "GCP_CLIENT_EMAIL",
            Some("reader@acme-prod.iam.gserviceaccount.com"),
        ),
        (
            "GCP_PRIVATE_KEY",
            Some("-----BEGIN PRIVATE KEY-----\nexample\n"),
        ),
        ("GCP_PRIVATE_KEY_ID", Some("0123456789abcdef")),
    ];
    let checked = check_example("gcp.toml", &key);
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (3 providers, 1 accounts, "),
        "{}",
        checked.stdout
    );
    // The plugin asks for the origins the example allows: nothing is reported unused.
    assert!(!checked.stderr.contains("allow_http"), "{}", checked.stderr);

    let checked = check_example("gcp.toml", &[key[0], ("GCP_PRIVATE_KEY", None), key[2]]);
    assert!(!checked.ok);
    assert!(
        checked
            .stderr
            .contains("environment variable `GCP_PRIVATE_KEY` is not set (setting `private_key`"),
        "{}",
        checked.stderr
    );
}

/// The Azure example with the service principal from the environment, and then without its
/// secret.
#[test]
fn check_config_accepts_the_azure_example() {
    let principal = [
        (
            "AZURE_TENANT_ID",
            Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        ),
        (
            "AZURE_CLIENT_ID",
            Some("01234567-89ab-cdef-0123-456789abcdef"),
        ),
        ("AZURE_CLIENT_SECRET", Some("example-secret")),
    ];
    let checked = check_example("azure.toml", &principal);
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (3 providers, 1 accounts, "),
        "{}",
        checked.stdout
    );
    assert!(!checked.stderr.contains("allow_http"), "{}", checked.stderr);

    let checked = check_example(
        "azure.toml",
        &[principal[0], principal[1], ("AZURE_CLIENT_SECRET", None)],
    );
    assert!(!checked.ok);
    assert!(
        checked.stderr.contains(
            "environment variable `AZURE_CLIENT_SECRET` is not set (setting `client_secret`"
        ),
        "{}",
        checked.stderr
    );
}

#[test]
fn check_config_accepts_the_kubernetes_kepler_combination() {
    let checked = check_example(
        "kubernetes-kepler.toml",
        &[
            ("ELECTRICITY_MAPS_TOKEN", Some("em")),
            ("K8S_TOKEN", Some("k8s")),
        ],
    );
    assert!(checked.ok, "{}", checked.stderr);
    assert!(
        checked.stdout.contains(": ok (3 providers, 1 accounts, "),
        "{}",
        checked.stdout
    );
    // The secrets come from the environment, and their absence is named.
    let checked = check_example(
        "kubernetes-kepler.toml",
        &[("ELECTRICITY_MAPS_TOKEN", None), ("K8S_TOKEN", None)],
    );
    assert!(!checked.ok);
    assert!(
        checked.stderr.contains("ELECTRICITY_MAPS_TOKEN") && checked.stderr.contains("K8S_TOKEN"),
        "{}",
        checked.stderr
    );
}
