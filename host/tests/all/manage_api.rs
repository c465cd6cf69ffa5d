//! The plugin management API against the real binary: the auth matrix, uploads (good, badly
//! named, mislabelled, oversized), enable/disable persisted across a restart, and the cache.

use reqwest::Method;
use reqwest::blocking::Client;

use crate::reload::{ADMIN_TOKEN, ONE_ACCOUNT, READ_TOKEN, Site};
use crate::support::*;

const MOCK_GRID_NEXT: &str = env!("CARBONAUT_GUEST_MOCK_GRID_NEXT");

fn call(
    daemon: &Daemon,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = Client::new().request(method, daemon.url(path)).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// `DELETE /api/v1/plugins/{name}` with the admin token.
fn delete_plugin(daemon: &Daemon, name: &str) -> (u16, String) {
    let path = format!("/api/v1/plugins/{name}");
    call(daemon, Method::DELETE, &path, Some(ADMIN_TOKEN), vec![])
}

/// Sends only the head of a request announcing `length` body bytes, and returns the status.
fn announce(daemon: &Daemon, request_line: &str, length: usize) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(daemon.addr).expect("connect");
    write!(
        stream,
        "{request_line} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: {length}\r\n\r\n"
    )
    .expect("send head");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).expect("status line");
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("status code")
}

#[test]
fn auth_matrix_uploads_and_persistent_disable() {
    let site = Site::new(ONE_ACCOUNT);
    let daemon = site.start();
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));

    let mutating = [
        (Method::PUT, "/api/v1/plugins/mock-grid"),
        (Method::DELETE, "/api/v1/plugins/nope"),
        (Method::POST, "/api/v1/plugins/nope/disable"),
        (Method::POST, "/api/v1/plugins/nope/enable"),
        (Method::POST, "/api/v1/reload"),
    ];
    for (method, path) in &mutating {
        assert_eq!(
            call(&daemon, method.clone(), path, None, vec![]).0,
            401,
            "{method} {path} without a token"
        );
        assert_eq!(
            call(&daemon, method.clone(), path, Some("wrong"), vec![]).0,
            401,
            "{method} {path} with a bad token"
        );
        let (status, body) = call(&daemon, method.clone(), path, Some(READ_TOKEN), vec![]);
        assert_eq!(status, 403, "{method} {path} with the read token: {body}");
        let (status, body) = call(&daemon, method.clone(), path, Some(ADMIN_TOKEN), vec![]);
        assert!(
            ![401, 403].contains(&status),
            "{method} {path} with the admin token: {status} {body}"
        );
    }
    for path in [
        "/api/v1/topology",
        "/api/v1/plugins",
        "/api/v1/plugins/mock-cloud",
        "/api/v1/reloads",
        "/api/v1/status",
    ] {
        assert_eq!(
            call(&daemon, Method::GET, path, None, vec![]).0,
            401,
            "GET {path} without a token"
        );
        assert_eq!(
            call(&daemon, Method::GET, path, Some(READ_TOKEN), vec![]).0,
            200,
            "GET {path} with read"
        );
        assert_eq!(
            call(&daemon, Method::GET, path, Some(ADMIN_TOKEN), vec![]).0,
            200,
            "GET {path} with admin"
        );
    }
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            call(&daemon, Method::GET, path, None, vec![]).0,
            200,
            "{path} stays open"
        );
    }

    // Uploads: names that could escape the folder, a mislabelled component, an oversized body.
    let grid_next = std::fs::read(MOCK_GRID_NEXT).expect("guest");
    for bad in ["..%2Fescape", "UPPER", "a.b"] {
        let (status, body) = call(
            &daemon,
            Method::PUT,
            &format!("/api/v1/plugins/{bad}"),
            Some(ADMIN_TOKEN),
            grid_next.clone(),
        );
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body.contains("is not a valid plugin name"), "{body}");
    }
    let (status, body) = call(
        &daemon,
        Method::PUT,
        "/api/v1/plugins/other-name",
        Some(ADMIN_TOKEN),
        grid_next.clone(),
    );
    assert_eq!(status, 422);
    assert!(
        body.contains("the component's metadata names it `mock-grid`"),
        "{body}"
    );
    let (status, body) = call(
        &daemon,
        Method::PUT,
        "/api/v1/plugins/junk",
        Some(ADMIN_TOKEN),
        b"not wasm at all".to_vec(),
    );
    assert_eq!(status, 422);
    assert!(body.contains("not a WebAssembly file"), "{body}");
    // Announced sizes are refused before a byte of body is read (a client still sending would
    // see its connection closed, so these requests announce and wait).
    assert_eq!(
        announce(&daemon, "PUT /api/v1/plugins/huge", (64 << 20) + 1),
        413,
        "an upload over 64 MiB"
    );
    assert_eq!(
        announce(&daemon, "POST /api/v1/reload", 100 * 1024),
        413,
        "a large body on a small endpoint"
    );

    let (status, body) = call(
        &daemon,
        Method::PUT,
        "/api/v1/plugins/mock-grid",
        Some(ADMIN_TOKEN),
        grid_next,
    );
    assert_eq!(status, 200, "{body}");
    let record: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(record["outcome"], "applied");
    assert_eq!(
        record["items"][0],
        "plugin replaced: mock-grid 0.1.0 -> 0.2.0"
    );
    let detail: serde_json::Value = serde_json::from_str(
        &call(
            &daemon,
            Method::GET,
            "/api/v1/plugins/mock-grid",
            Some(READ_TOKEN),
            vec![],
        )
        .1,
    )
    .expect("JSON");
    assert_eq!(detail["version"], "0.2.0");
    assert_eq!(detail["providers"], serde_json::json!(["grid"]));
    assert_eq!(
        detail["cache"], "hit",
        "the upload's validation compiled it into the cache"
    );

    // Disable, restart: still disabled, and its provider is down; enable brings it back.
    let (status, body) = call(
        &daemon,
        Method::POST,
        "/api/v1/plugins/mock-meter/disable",
        Some(ADMIN_TOKEN),
        vec![],
    );
    assert_eq!(status, 200, "{body}");
    daemon.stop();
    let daemon = site.start();
    let plugins: serde_json::Value = serde_json::from_str(
        &call(
            &daemon,
            Method::GET,
            "/api/v1/plugins",
            Some(READ_TOKEN),
            vec![],
        )
        .1,
    )
    .expect("JSON");
    let meter = plugins
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "mock-meter")
        .expect("listed")
        .clone();
    assert_eq!(meter["disabled"], true);
    assert_eq!(meter["up"], false);
    assert_eq!(
        meter["cache"], "hit",
        "a restart loads precompiled components"
    );
    let (status, _) = call(
        &daemon,
        Method::POST,
        "/api/v1/plugins/mock-meter/enable",
        Some(ADMIN_TOKEN),
        vec![],
    );
    assert_eq!(status, 200);
    let (status, body) = call(
        &daemon,
        Method::DELETE,
        "/api/v1/plugins/mock-grid",
        Some(ADMIN_TOKEN),
        vec![],
    );
    assert_eq!(status, 200, "{body}");
    assert!(!site.plugins().join("mock-grid.wasm").exists());
    daemon.stop();
}

#[test]
fn without_an_admin_token_changes_are_refused_with_how_to_configure_one() {
    let site = Site::new(ONE_ACCOUNT);
    let text = std::fs::read_to_string(site.config()).expect("read");
    let without_admin = text.replace("role = \"admin\"", "role = \"read\"");
    std::fs::write(site.config(), without_admin).expect("write");
    let daemon = site.start();
    let (status, body) = call(
        &daemon,
        Method::POST,
        "/api/v1/reload",
        Some(ADMIN_TOKEN),
        vec![],
    );
    assert_eq!(status, 401);
    assert!(body.contains("nobody has the admin role"), "{body}");
    assert!(body.contains("carbonaut hash-token"), "{body}");
    daemon.stop();
}

#[test]
fn a_corrupt_cache_entry_is_recompiled_not_trusted() {
    let site = Site::new(ONE_ACCOUNT);
    let daemon = site.start();
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));
    daemon.stop();
    let cache = site.dir.path().join("state/cache");
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(
        entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .count(),
        3
    );
    for artifact in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
    {
        let mut bytes = std::fs::read(artifact).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(artifact, bytes).expect("corrupt");
    }
    let daemon = site.start();
    let log = daemon.log();
    assert_eq!(
        log.matches("discarding a cache entry; recompiling").count(),
        3,
        "{log}"
    );
    assert_eq!(log.matches("cache=Recompiled").count(), 3, "{log}");
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));
    daemon.stop();
}

#[test]
fn protected_metrics_need_a_token_and_stale_cache_entries_are_pruned() {
    let site = Site::new(ONE_ACCOUNT);
    let text = std::fs::read_to_string(site.config()).expect("read");
    std::fs::write(
        site.config(),
        format!("[auth]\nprotect_metrics = true\n\n{text}"),
    )
    .expect("write");
    let daemon = site.start();
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            call(&daemon, Method::GET, path, None, vec![]).0,
            401,
            "{path} without a token"
        );
        assert_ne!(
            call(&daemon, Method::GET, path, Some(READ_TOKEN), vec![]).0,
            401,
            "{path} with read"
        );
    }
    // Replacing a plugin leaves its old build's cache entry stale: the reload removes it.
    let cache = site.dir.path().join("state/cache");
    let artifacts = || {
        std::fs::read_dir(&cache)
            .expect("cache")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .count()
    };
    assert_eq!(artifacts(), 3);
    let (status, body) = call(
        &daemon,
        Method::PUT,
        "/api/v1/plugins/mock-grid",
        Some(ADMIN_TOKEN),
        std::fs::read(MOCK_GRID_NEXT).expect("guest"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        artifacts(),
        3,
        "the new build replaced the old one in the cache"
    );
    daemon.stop();
}

/// An upload answered "applied" is what the next read shows, even while a collection is in
/// progress: the collector applies a new plan only between steps, and the reloader waits
/// for it. Here every sample collection lasts 2 s (a guest that sleeps, then answers) and the
/// next starts 1 s later, so an upload almost always lands inside one.
#[test]
fn an_applied_upload_is_what_the_next_read_shows_during_a_long_collection() {
    const HOSTILE: &str = env!("CARBONAUT_GUEST_HOSTILE");
    let site = Site::new(
        r#"
[providers.slow]
plugin = "hostile"
settings = { mode = "slow" }

[accounts.acme]
discovery = "cloud"
resource_metrics = "slow"
"#,
    );
    std::fs::copy(HOSTILE, site.plugins().join("hostile.wasm")).expect("copy");
    let daemon = site.start();
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));
    for round in 0..2 {
        let started = std::time::Instant::now();
        let (guest, version) = if round == 0 {
            (MOCK_GRID_NEXT, "0.2.0")
        } else {
            (MOCK_GRID, "0.1.0")
        };
        let (status, body) = call(
            &daemon,
            Method::PUT,
            "/api/v1/plugins/mock-grid",
            Some(ADMIN_TOKEN),
            std::fs::read(guest).expect("guest"),
        );
        assert_eq!(status, 200, "{body}");
        let record: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(record["outcome"], "applied", "{body}");
        let (status, body) = call(
            &daemon,
            Method::GET,
            "/api/v1/plugins/mock-grid",
            Some(READ_TOKEN),
            vec![],
        );
        assert_eq!(status, 200, "{body}");
        let detail: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            detail["version"],
            version,
            "round {round}: read right after an upload answered in {:?}",
            started.elapsed()
        );
    }
    daemon.stop();
}

/// An account's settings may belong to one of its two plugins only. Deleting that plugin once
/// rolled every later reload back ("sets `projects`, which neither of its plugins (mock-meter)
/// declares"): the file was gone but the plugin stayed listed, and a second DELETE answered 500
/// (schemathesis found it in CI). The deleted plugin must leave, and stay gone.
#[test]
fn deleting_the_plugin_that_declares_an_account_setting_applies() {
    let site = Site::new(
        "[accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
         settings = { resources_per_project = 2 }\n",
    );
    let daemon = site.start();
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));
    let signature = site.plugins().join("mock-cloud.wasm.minisig");
    std::fs::write(&signature, "a signature of the bytes about to go").expect("write");

    let (status, body) = delete_plugin(&daemon, "mock-cloud");
    assert_eq!(status, 200, "{body}");
    let record: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(record["outcome"], "applied", "{body}");
    assert!(
        record["items"]
            .as_array()
            .expect("items")
            .contains(&"plugin removed: mock-cloud 0.1.0".into()),
        "{body}"
    );
    assert!(!site.plugins().join("mock-cloud.wasm").exists());
    assert!(!signature.exists(), "the signature of the removed bytes");
    assert_eq!(crate::reload::plugin_version(&daemon, "mock-cloud"), None);

    let (status, body) = delete_plugin(&daemon, "mock-cloud");
    assert_eq!(status, 404, "a second delete: {body}");
    // Later changes apply too: the removal did not leave the reloader refusing everything.
    let (status, body) = call(
        &daemon,
        Method::POST,
        "/api/v1/plugins/mock-grid/disable",
        Some(ADMIN_TOKEN),
        vec![],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"outcome\":\"applied\""), "{body}");
    daemon.stop();
}

/// A delete whose reload rolls back (here: the config was edited into an invalid one) puts the
/// file and its signature back: the plugin that keeps serving is still there after a restart.
/// Once the config is fixed, the same delete applies.
#[test]
fn a_delete_that_rolls_back_puts_the_file_back() {
    use crate::reload::{last_reload, plugin_version, wait_until};
    let site = Site::new(ONE_ACCOUNT);
    let daemon = site.start();
    daemon.wait_for("/readyz", 60, |b| b.starts_with("ready"));
    let wasm = site.plugins().join("mock-grid.wasm");
    let signature = site.plugins().join("mock-grid.wasm.minisig");
    std::fs::write(&signature, "a signature of these bytes").expect("write");
    let bytes = std::fs::read(&wasm).expect("read");

    let good = std::fs::read_to_string(site.config()).expect("read");
    let broken = site.dir.path().join(".broken.toml");
    std::fs::write(&broken, good.replace("[providers.grid]", "[providers.grid")).expect("write");
    std::fs::rename(&broken, site.config()).expect("move");
    wait_until("the broken config refused", &daemon, || {
        last_reload(&daemon)["outcome"] == "rolled-back"
    });

    let (status, body) = delete_plugin(&daemon, "mock-grid");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"outcome\":\"rolled-back\""), "{body}");
    assert_eq!(std::fs::read(&wasm).ok(), Some(bytes), "the file is back");
    assert!(signature.exists(), "the signature is back");
    assert_eq!(
        plugin_version(&daemon, "mock-grid").as_deref(),
        Some("0.1.0")
    );

    site.write_config(ONE_ACCOUNT);
    wait_until("the fixed config applied", &daemon, || {
        last_reload(&daemon)["outcome"] != "rolled-back"
    });
    let (status, body) = delete_plugin(&daemon, "mock-grid");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"outcome\":\"applied\""), "{body}");
    assert!(!wasm.exists() && !signature.exists());
    daemon.stop();
}
