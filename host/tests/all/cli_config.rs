//! `carbonaut check-config`, run as an operator runs it.

use std::process::Command;

use crate::support::*;

fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("carbonaut.toml");
    std::fs::write(
        &file,
        text.replace("PLUGINS", &plugin_dir().display().to_string()),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["check-config", file.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "FILE");
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
    let dir = plugin_dir().display().to_string();
    assert_eq!(
        stderr,
        format!(
            "error: FILE:6:10: provider `cloud` uses plugin `mock-clod`, which is not loaded; use one of: \
             mock-cloud, mock-grid, mock-meter, prometheus, static-grid, or add a plugin named `mock-clod` to {dir}\n\
             FILE:12:13: account `acme` uses provider `grid` for discovery, but its plugin `mock-grid` does \
             not implement discovery (it implements environment); define a provider with a plugin that \
             implements discovery: mock-cloud, prometheus\n"
        )
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
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(["check-config", quickstart])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(": ok (3 providers, 2 accounts, 5 plugins loaded")
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
fn check_config_accepts_the_prometheus_example() {
    // The example as shipped, pointed at the plugins this build made (its relative
    // `plugin_dir` assumes the default target directory).
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/prometheus.toml"
    ))
    .expect("read the example");
    assert!(example.contains("plugin_dir = \"../target/plugins\""));
    let (code, stdout, stderr) = check(&example.replace("../target/plugins", "PLUGINS"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(": ok (2 providers, 1 accounts, "),
        "{stdout}"
    );
    // The operator's allowlist is used, not reported as unused.
    assert!(!stderr.contains("allow_http"), "{stderr}");
}
