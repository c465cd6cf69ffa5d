//! `carbonaut plugin inspect`, run as a user would run it.

use std::process::Command;

use sha2::{Digest, Sha256};

use crate::support::*;

fn carbonaut(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args(args)
        .output()
        .expect("run carbonaut")
}

fn sha256_of(path: &str) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read plugin")))
}

#[test]
fn inspect_prints_what_the_plugin_is() {
    let out = carbonaut(&["plugin", "inspect", MOCK_METER]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(MOCK_METER).expect("size").len();
    let expected = format!(
        "name:        mock-meter\n\
         version:     0.1.0\n\
         description: Deterministic energy, power and CPU readings for any resource.\n\
         wit:         carbonaut:provider@0.3.0 (this host runs carbonaut:provider 0.1, 0.2, 0.3)\n\
         kinds:       resource-metrics\n\
         sha256:      {0}\n\
         file:        {MOCK_METER} ({size} bytes)\n\
         settings:\n  \
         mode (optional): `counter` (default), `power` (no energy counter) or `both`\n  \
         wrap_joules (optional): Wrap the energy counter at this many joules (default: never)\n\
         needs:       nothing (no network, files or key-value store)\n\
         pin it in the config (only this exact file will load):\n  \
         [plugins.mock-meter]\n  \
         sha256 = \"{0}\"\n",
        sha256_of(MOCK_METER)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn inspect_shows_the_capabilities_a_plugin_asks_for() {
    let hostile = env!("CARBONAUT_GUEST_HOSTILE");
    let out = carbonaut(&["plugin", "inspect", hostile]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "needs (granted only where the config allows them too):\n  \
             http:           *\n  \
             read-only dirs: /data\n  \
             key-value store\n"
        ),
        "{text}"
    );
    let out = carbonaut(&["plugin", "inspect", "--json", hostile]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["needs"],
        serde_json::json!({"http": ["*"], "read_only_dirs": ["/data"], "key_value": true})
    );
}

#[test]
fn inspect_json_is_machine_readable() {
    let out = carbonaut(&["plugin", "inspect", "--json", TRAPPING]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["name"], "trapping");
    assert_eq!(json["wit_version"], "0.3.0");
    assert_eq!(
        json["kinds"],
        serde_json::json!(["discovery", "environment", "resource-metrics"])
    );
    assert_eq!(json["sha256"], sha256_of(TRAPPING));
}

#[test]
fn inspect_fails_with_a_readable_message_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nope.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").expect("write");
    let out = carbonaut(&["plugin", "inspect", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}: a core WebAssembly module",
            path.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let out = carbonaut(&["plugin", "inspect", OTHER_WORLD]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("implements no known world"));
}
