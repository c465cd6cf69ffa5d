//! Pinned and signed plugins against the real binary: a file with another digest than its
//! pin, a tampered byte, a signature by an untrusted key and a missing signature are each
//! refused at start, at reload and at upload, named in /api/v1/reloads and counted, while
//! the last good version keeps serving; `carbonaut_plugin_info` says what runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use reqwest::blocking::Client;

use crate::reload::{
    ADMIN_TOKEN, ONE_ACCOUNT, Site, json, last_reload, plugin_version, wait_until,
};
use crate::support::*;

const MOCK_GRID_NEXT: &str = env!("CARBONAUT_GUEST_MOCK_GRID_NEXT");

fn sha256_of(path: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

fn carbonaut(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(args)
        .output()
        .expect("run carbonaut")
}

/// `carbonaut plugin keygen`: the key files' prefix and the public key line it prints.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let prefix = dir.join(name);
    let out = carbonaut(&["plugin", "keygen", "--out", prefix.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("keys = [\"")?.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("no key line in {stdout}"))
        .to_owned();
    (prefix.with_extension("key"), line)
}

/// `carbonaut plugin sign --key KEY FILE`, returning the signature's text.
fn sign(key: &Path, file: &Path) -> String {
    let out = carbonaut(&[
        "plugin",
        "sign",
        "--key",
        key.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(format!("{}.minisig", file.display())).expect("signature")
}

fn upload(site_daemon: &Daemon, name: &str, bytes: Vec<u8>, sig: Option<&str>) -> (u16, String) {
    let mut request = Client::new()
        .put(site_daemon.url(&format!("/api/v1/plugins/{name}")))
        .bearer_auth(ADMIN_TOKEN)
        .body(bytes);
    if let Some(sig) = sig {
        request = request.header(
            "X-Carbonaut-Signature",
            base64::engine::general_purpose::STANDARD.encode(sig),
        );
    }
    let response = request.send().expect("upload");
    (
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    )
}

fn rolled_back(daemon: &Daemon) -> f64 {
    let text = daemon.get("/metrics").text().expect("metrics");
    metric_value(&text, "carbonaut_reloads_total", "outcome=\"rolled-back\"").unwrap_or(0.0)
}

/// Waits for the newest reload to be rolled back with a reason containing `needle`.
fn refused_with(daemon: &Daemon, needle: &str) -> String {
    wait_until(needle, daemon, || {
        let r = last_reload(daemon);
        r["outcome"] == "rolled-back" && r["reason"].as_str().is_some_and(|s| s.contains(needle))
    });
    last_reload(daemon)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_pinned_plugin_refuses_other_builds_at_start_reload_and_upload() {
    let grid = sha256_of(MOCK_GRID);
    let next = sha256_of(MOCK_GRID_NEXT);
    let pin = |digest: &str| format!("{ONE_ACCOUNT}\n[plugins.mock-grid]\nsha256 = \"{digest}\"\n");

    // At start: the pin names another build; the daemon does not start, naming both digests.
    let site = Site::new(&pin(&next));
    let out = carbonaut(&[
        "run",
        "--config",
        site.config().to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started with a mismatched pin: {stderr}"
    );
    assert!(
        stderr.contains(&format!("pinned to sha256 {next}"))
            && stderr.contains(&format!("this file's sha256 is {grid}")),
        "{stderr}"
    );

    // The right pin: it starts, and the metric shows the digest that runs.
    site.write_config(&pin(&grid));
    let daemon = site.start();
    let metrics = daemon.wait_for("/metrics", 60, |t| t.contains("carbonaut_plugin_info{"));
    assert!(
        metrics.contains(&format!(
            "carbonaut_plugin_info{{plugin=\"mock-grid\",version=\"0.1.0\",wit_version=\"0.3.0\",sha256=\"{grid}\",signed=\"false\"}} 1"
        )),
        "{}",
        series(&metrics, "carbonaut_plugin_info").join("\n")
    );

    // At reload: another build dropped over the file is refused; 0.1.0 keeps serving.
    let before = rolled_back(&daemon);
    std::fs::copy(MOCK_GRID_NEXT, site.plugins().join("mock-grid.wasm")).expect("replace");
    let reason = refused_with(&daemon, "is pinned to sha256");
    assert!(reason.contains(&grid) && reason.contains(&next), "{reason}");
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.1.0")
    );

    // At upload: refused before it is written, listed and counted like a reload.
    let (status, body) = upload(
        &daemon,
        "mock-grid",
        std::fs::read(MOCK_GRID_NEXT).expect("read"),
        None,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains(&grid) && body.contains(&next), "{body}");
    let record = last_reload(&daemon);
    assert_eq!(record["trigger"], "upload", "{record}");
    assert!(
        record["reason"].as_str().is_some_and(|r| r.contains(&next)),
        "{record}"
    );
    assert!(rolled_back(&daemon) >= before + 2.0);
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.1.0")
    );

    // Re-pinning to the new build (a config edit) lets the file on disk load.
    site.write_config(&pin(&next));
    wait_until("mock-grid 0.2.0", &daemon, || {
        plugin_version(&daemon, "mock-grid").as_deref() == Some("0.2.0")
    });
    daemon.stop();
}

#[test]
fn required_signatures_refuse_tampered_untrusted_and_unsigned_plugins() {
    let keys = tempfile::tempdir().expect("temp dir");
    let (ours, ours_line) = keygen(keys.path(), "ops");
    let (theirs, _) = keygen(keys.path(), "stranger");
    let trust = |extra: &str| {
        format!(
            "{ONE_ACCOUNT}\n[trust]\nkeys = [\"{ours_line}\"]\nrequire_signatures = true\n{extra}"
        )
    };
    let site = Site::new(&trust(""));
    for plugin in ["mock-cloud", "mock-meter"] {
        sign(&ours, &site.plugins().join(format!("{plugin}.wasm")));
    }
    let grid = site.plugins().join("mock-grid.wasm");

    // At start: mock-grid is unsigned, so the daemon refuses to start, saying why.
    let out = carbonaut(&[
        "run",
        "--config",
        site.config().to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("mock-grid.wasm: no signature"), "{stderr}");

    let good_sig = sign(&ours, &grid);
    let daemon = site.start();
    let metrics = daemon.wait_for("/metrics", 60, |t| t.contains("carbonaut_plugin_info{"));
    assert_eq!(
        series(&metrics, "carbonaut_plugin_info")
            .iter()
            .filter(|l| l.contains("signed=\"true\""))
            .count(),
        3,
        "{metrics}"
    );
    let plugins = json(&daemon, "/api/v1/plugins");
    let signer = plugins[0]["signed_by"]
        .as_str()
        .expect("signed_by")
        .to_owned();
    assert_eq!(signer.len(), 16, "{plugins}");

    // A tampered file (another build under the old signature): refused, 0.1.0 keeps serving.
    std::fs::copy(MOCK_GRID_NEXT, &grid).expect("replace");
    let reason = refused_with(&daemon, "does not match the file's contents");
    assert!(reason.contains("mock-grid.wasm"), "{reason}");
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.1.0")
    );

    // Signed by a key nobody trusts: refused, naming the key.
    let staging = keys.path().join("mock-grid.wasm");
    std::fs::copy(MOCK_GRID_NEXT, &staging).expect("copy");
    let stranger_sig = sign(&theirs, &staging);
    std::fs::write(format!("{}.minisig", grid.display()), &stranger_sig).expect("sig");
    refused_with(&daemon, "which is not one of the trusted keys");
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.1.0")
    );

    // Only the .minisig changes, to a good signature: that alone reloads the plugin.
    let next_sig = sign(&ours, &staging);
    std::fs::write(format!("{}.minisig", grid.display()), &next_sig).expect("sig");
    wait_until("mock-grid 0.2.0", &daemon, || {
        plugin_version(&daemon, "mock-grid").as_deref() == Some("0.2.0")
    });

    // A new unsigned plugin dropped in: refused.
    std::fs::copy(STATIC_GRID, site.plugins().join("static-grid.wasm")).expect("drop");
    refused_with(&daemon, "static-grid.wasm: no signature");

    // Uploads: the signature travels in a header; each bad one is refused, listed, counted.
    let old = std::fs::read(MOCK_GRID).expect("read");
    let before = rolled_back(&daemon);
    for (sig, expected) in [
        (None, "no signature"),
        (
            Some(next_sig.as_str()),
            "does not match the file's contents",
        ),
        (Some(stranger_sig.as_str()), "not one of the trusted keys"),
    ] {
        let (status, body) = upload(&daemon, "mock-grid", old.clone(), sig);
        assert_eq!(status, 422, "{body}");
        assert!(body.contains(expected), "{expected}: {body}");
        let record = last_reload(&daemon);
        assert!(
            record["trigger"] == "upload"
                && record["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains(expected)),
            "{record}"
        );
    }
    assert!(rolled_back(&daemon) >= before + 3.0);
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.2.0")
    );
    // With its signature, the upload is written with it and serves.
    let (status, body) = upload(&daemon, "mock-grid", old, Some(&good_sig));
    assert_eq!(status, 200, "{body}");
    wait_until("mock-grid 0.1.0 back", &daemon, || {
        plugin_version(&daemon, "mock-grid").as_deref() == Some("0.1.0")
    });
    assert_eq!(
        std::fs::read_to_string(format!("{}.minisig", grid.display())).expect("sig"),
        good_sig
    );
    daemon.stop();
}

#[test]
fn inspect_prints_the_pin_to_paste_and_bad_trust_config_is_refused() {
    let out = carbonaut(&["plugin", "inspect", MOCK_GRID]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "[plugins.mock-grid]\n  sha256 = \"{}\"",
            sha256_of(MOCK_GRID)
        )),
        "{stdout}"
    );
    let site = Site::new(&format!(
        "{ONE_ACCOUNT}\n[plugins.mock-grid]\nsha256 = \"abc\"\n\n[trust]\nkeys = [\"not-a-key\"]\n"
    ));
    let out = carbonaut(&["check-config", site.config().to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("[plugins.mock-grid] sha256 is not 64 hexadecimal digits"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[trust] key `not-a-key` is not a minisign public key"),
        "{stderr}"
    );
}
