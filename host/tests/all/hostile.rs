//! The hostile-plugin suite: each attack is contained within its limit, reported with a
//! reason naming the plugin, and another plugin on the same runtime keeps answering. The
//! host's memory returns to its level afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carbonaut_model::{Account, ProviderError};
use carbonaut_plugins::{CallError, CallErrorKind, Plugin, load_file};
use carbonaut_runtime::{Grants, Limits};

use crate::support::*;

const HOSTILE: &str = env!("CARBONAUT_GUEST_HOSTILE");

struct Arena {
    hostile: Plugin,
    meter: Plugin,
    limits: Limits,
}

async fn arena() -> Arena {
    arena_with_deadline(Duration::from_millis(300)).await
}

/// An arena whose calls may run for `call_deadline`: the tests of the memory limit give it
/// seconds, so that on a loaded machine the memory limit, not the deadline, stops the guest.
async fn arena_with_deadline(call_deadline: Duration) -> Arena {
    let limits = Limits {
        memory_bytes: 64 << 20,
        call_deadline,
        ..Limits::default()
    };
    let runtime = Arc::new(carbonaut_plugins::new_runtime(limits).expect("runtime"));
    Arena {
        hostile: load_file(&runtime, HOSTILE.as_ref())
            .await
            .expect("hostile loads"),
        meter: load_file(&runtime, MOCK_METER.as_ref())
            .await
            .expect("meter loads"),
        limits,
    }
}

impl Arena {
    async fn attack(&self, mode: &str) -> Result<(), CallError> {
        let account = Account {
            name: "a".into(),
            settings: vec![],
        };
        let result = self
            .hostile
            .collect_samples(
                &Grants::NONE,
                &settings(&[("mode", mode)]),
                &account,
                &[] as &[carbonaut_model::ResourceInfo],
            )
            .await
            .map(|_| ());
        // The neighbour on the same engine still answers.
        self.meter
            .collect_samples(
                &Grants::NONE,
                &vec![],
                &account,
                &[] as &[carbonaut_model::ResourceInfo],
            )
            .await
            .expect("the other plugin keeps answering");
        result
    }
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_deadline() {
    let arena = arena().await;
    let started = Instant::now();
    let err = arena.attack("loop").await.expect_err("stopped");
    assert!(matches!(err.kind, CallErrorKind::Deadline { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "plugin hostile 0.0.1: resource-metrics.collect exceeded its deadline of 300 ms"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_the_memory_limit() {
    let arena = arena_with_deadline(Duration::from_secs(20)).await;
    let err = arena.attack("memory-bomb").await.expect_err("stopped");
    assert_eq!(err.reason(), "memory", "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "plugin hostile 0.0.1: resource-metrics.collect ran out of memory: it asked for"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("the limit is {}", arena.limits.memory_bytes)),
        "{text}"
    );
    assert!(arena.hostile.peak_memory_bytes() <= arena.limits.memory_bytes as u64);
}

#[tokio::test]
async fn a_stack_overflow_is_a_trap() {
    let err = arena()
        .await
        .attack("stack-overflow")
        .await
        .expect_err("trapped");
    assert_eq!(err.reason(), "trap");
    // A Rust guest keeps its frames' data on a shadow stack in linear memory, which overflows
    // first (out of bounds); a guest without one exhausts wasmtime's native call stack.
    let text = err.to_string();
    assert!(
        text.contains("out of bounds memory access") || text.contains("call stack exhausted"),
        "{text}"
    );
}

#[tokio::test]
async fn a_panic_is_a_trap() {
    let err = arena().await.attack("panic").await.expect_err("trapped");
    assert_eq!(err.reason(), "trap");
    assert!(
        err.to_string()
            .starts_with("plugin hostile 0.0.1: resource-metrics.collect trapped"),
        "{err}"
    );
}

#[tokio::test]
async fn a_result_of_hundreds_of_megabytes_is_stopped_by_the_memory_limit() {
    let err = arena_with_deadline(Duration::from_secs(20))
        .await
        .attack("huge-result")
        .await
        .expect_err("stopped");
    assert_eq!(err.reason(), "memory", "{err}");
}

#[tokio::test]
async fn a_guest_sleeping_in_a_host_call_is_cut_at_the_deadline() {
    let arena = arena().await;
    let started = Instant::now();
    let err = arena.attack("sleep").await.expect_err("cut");
    assert!(matches!(err.kind, CallErrorKind::Deadline { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn files_outside_the_sandbox_cannot_be_read() {
    let err = arena()
        .await
        .attack("read-passwd")
        .await
        .expect_err("guest error");
    let Some(ProviderError::Other(report)) = err.provider_error() else {
        panic!("{err}")
    };
    assert!(!report.contains("READ"), "the guest read a file: {report}");
    assert!(
        report.contains("/etc/passwd:") && report.contains("../etc/passwd:"),
        "{report}"
    );
}

#[tokio::test]
async fn a_granted_directory_is_readable_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("granted")).expect("mkdir");
    std::fs::write(dir.path().join("granted/reading.txt"), "42 joules\n").expect("write");
    std::fs::write(dir.path().join("outside.txt"), "secret").expect("write");
    let arena = arena().await;
    let grants = Grants {
        read_only_dirs: vec![(dir.path().join("granted"), "/data".to_owned())],
        ..Grants::NONE
    };
    let account = Account {
        name: "a".into(),
        settings: vec![],
    };
    let err = arena
        .hostile
        .collect_samples(
            &grants,
            &settings(&[("mode", "read-granted")]),
            &account,
            &[] as &[carbonaut_model::ResourceInfo],
        )
        .await
        .expect_err("the guest reports what it could do");
    let Some(ProviderError::Other(report)) = err.provider_error() else {
        panic!("{err}")
    };
    assert!(
        report.starts_with("read: 42 joules; write refused:"),
        "{report}"
    );
    assert!(
        report.contains("escape refused:")
            && !report.contains("ESCAPED")
            && !report.contains("WROTE"),
        "{report}"
    );
    assert!(!dir.path().join("granted/new.txt").exists());
    // Without the grant the same call cannot even read.
    let err = arena.attack("read-granted").await.expect_err("no grant");
    assert!(err.to_string().contains("read: "), "{err}");
}

#[tokio::test]
async fn the_host_environment_is_invisible() {
    // SAFETY of the test: a variable the host has, which the guest must not see.
    let err = arena()
        .await
        .attack("read-env")
        .await
        .expect_err("guest error");
    let Some(ProviderError::Other(report)) = err.provider_error() else {
        panic!("{err}")
    };
    assert!(report.starts_with("0 environment variables"), "{report}");
    assert!(std::env::vars().count() > 0);
}

#[tokio::test]
async fn a_request_to_a_host_off_the_allowlist_is_refused() {
    // The guest's default target is 127.0.0.1:9; with nothing granted it never gets a socket.
    let err = arena().await.attack("http-get").await.expect_err("refused");
    assert_eq!(err.reason(), "denied", "{err}");
    assert!(
        err.to_string().starts_with(
            "plugin hostile 0.0.1: resource-metrics.collect was refused HTTP to http://127.0.0.1:9 \
             (in the plugin's needs.http, but not in the provider's allow_http: the operator adds \
             it there) and returned: "
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_log_flood_is_capped_and_the_call_still_finishes() {
    let arena = arena().await;
    // A million 10 kB lines: the first 1000 are logged (cut to 4 KiB), the rest dropped, and
    // the call either finishes or meets its deadline, never the host's disk.
    match arena.attack("log-flood").await {
        Ok(()) => {}
        Err(err) => assert!(matches!(err.kind, CallErrorKind::Deadline { .. }), "{err}"),
    }
}

#[tokio::test]
async fn host_memory_returns_to_its_level_after_attacks() {
    let arena = arena().await;
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .expect("VmRSS")
            * 1024
    };
    let _ = arena.attack("memory-bomb").await;
    let before = rss();
    for _ in 0..10 {
        let _ = arena.attack("memory-bomb").await;
        let _ = arena.attack("huge-result").await;
    }
    let after = rss();
    // Each attack touched up to 64 MiB; twenty of them leave less than one behind.
    assert!(
        after < before + (64 << 20),
        "RSS grew from {before} to {after} bytes"
    );
}
