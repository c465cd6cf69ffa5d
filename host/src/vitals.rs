//! The process's own vital signs, apart from the snapshot: whether the state can be written
//! (and since when it cannot), and when the collector last finished a step. The state's
//! write gate and the collector write them; `/healthz`, `/readyz`, `/api/v1/status`, the
//! dashboard and `/metrics` read them at request time, so they tell the truth even while the
//! collector cannot publish. A leaf: it imports only the clock and the exposition writer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::exposition::Exposition;
use carbonaut_model::clock::now_ms;
use carbonaut_store::state::WriteWatch;

/// The stores a write can fail in, listed up front so each failure counter exists at 0 and
/// `increase()` sees its first failure.
pub const STORES: [&str; 5] = ["counters", "history", "topology", "plugins", "cluster"];

/// An ERROR line per failure would flood the log of a daemon whose disk stays full: the first
/// failure is logged at once, then one line a minute says how many followed.
const LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Vitals {
    writes: Mutex<WriteLog>,
    /// When the collector last finished a step (ms since the epoch; 0 before the first).
    last_step_ms: AtomicU64,
    /// How long the collector may go without finishing a step before `/healthz` fails.
    liveness_window_ms: AtomicU64,
}

#[derive(Default)]
struct WriteLog {
    failures: BTreeMap<&'static str, u64>,
    failing: Option<WriteFailure>,
    last_logged: Option<Instant>,
    unlogged: u64,
}

/// The state cannot be written: since when, where, and the latest reason.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WriteFailure {
    /// Which part of the state the latest failed write was for (`counters`, `history`, ...).
    pub store: String,
    /// The latest error, with the state directory and the OS error.
    pub error: String,
    /// The latest error's cause alone (the OS error), without paths: what `/readyz` says.
    pub cause: String,
    /// The first failure of this run of failures (ms since the epoch).
    pub since_ms: u64,
    /// The latest failure (ms since the epoch).
    pub last_ms: u64,
    /// Failed writes since `since_ms`.
    pub failures: u64,
}

impl Vitals {
    fn writes(&self) -> MutexGuard<'_, WriteLog> {
        carbonaut_model::sync::lock(&self.writes)
    }

    /// The current run of failed writes, if the latest write failed.
    pub fn write_failure(&self) -> Option<WriteFailure> {
        self.writes().failing.clone()
    }

    /// How long writes have been failing without a success in between.
    pub fn failing_for(&self) -> Option<Duration> {
        self.writes()
            .failing
            .as_ref()
            .map(|f| Duration::from_millis(now_ms().saturating_sub(f.since_ms)))
    }

    /// Failed writes per store since the start.
    pub fn write_failures(&self) -> BTreeMap<&'static str, u64> {
        let mut out: BTreeMap<&'static str, u64> = STORES.iter().map(|s| (*s, 0)).collect();
        for (store, n) in &self.writes().failures {
            out.insert(store, *n);
        }
        out
    }

    /// The collector finished a step (a sync, a sample collection or an energy-mix round).
    pub fn step_done(&self) {
        self.last_step_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Sets how long the collector may go without finishing a step; counts from now.
    pub fn watch_steps(&self, window: Duration) {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.liveness_window_ms.store(ms, Ordering::Relaxed);
        if self.last_step_ms.load(Ordering::Relaxed) == 0 {
            self.step_done();
        }
    }

    /// How long since the collector's last step, when that is longer than its window (never
    /// before [`Vitals::watch_steps`]).
    pub fn stalled(&self) -> Option<Duration> {
        let window = self.liveness_window_ms.load(Ordering::Relaxed);
        let last = self.last_step_ms.load(Ordering::Relaxed);
        if window == 0 || last == 0 {
            return None;
        }
        let age = now_ms().saturating_sub(last);
        (age > window).then(|| Duration::from_millis(age))
    }

    /// `carbonaut_state_write_failures_total{store}`, `carbonaut_state_writable` and
    /// `carbonaut_collector_last_step_timestamp_seconds`.
    pub fn render(&self, out: &mut Exposition) {
        out.family(
            "carbonaut_state_write_failures_total",
            "counter",
            "Writes to the state directory that failed or did not finish in time, by store.",
        );
        for (store, n) in self.write_failures() {
            out.sample(
                "carbonaut_state_write_failures_total",
                &[("store", store)],
                n as f64,
            );
        }
        out.family(
            "carbonaut_state_writable",
            "gauge",
            "1 when the latest write to the state directory succeeded, 0 while writes fail.",
        );
        let writable = if self.write_failure().is_some() {
            0.0
        } else {
            1.0
        };
        out.sample("carbonaut_state_writable", &[], writable);
        let last = self.last_step_ms.load(Ordering::Relaxed);
        if last > 0 {
            out.family(
                "carbonaut_collector_last_step_timestamp_seconds",
                "gauge",
                "When the collector last finished a step (sync, samples or energy mix).",
            );
            out.sample(
                "carbonaut_collector_last_step_timestamp_seconds",
                &[],
                last as f64 / 1000.0,
            );
        }
    }
}

impl WriteWatch for Vitals {
    /// Records a failed write: counted, remembered as the current failure, logged at ERROR
    /// (the first at once, then at most once a minute with how many were not logged).
    fn write_failed(&self, store: &'static str, error: &str, cause: &str) {
        let now = now_ms();
        let mut log = self.writes();
        *log.failures.entry(store).or_default() += 1;
        let failing = log.failing.get_or_insert_with(|| WriteFailure {
            store: store.to_owned(),
            error: String::new(),
            cause: String::new(),
            since_ms: now,
            last_ms: now,
            failures: 0,
        });
        failing.store = store.to_owned();
        failing.error = error.to_owned();
        failing.cause = cause.to_owned();
        failing.last_ms = now;
        failing.failures += 1;
        let (since_ms, failures) = (failing.since_ms, failing.failures);
        let due = log.last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            let not_logged = log.unlogged;
            log.last_logged = Some(Instant::now());
            log.unlogged = 0;
            drop(log);
            tracing::error!(
                store,
                %error,
                failing_for_s = now.saturating_sub(since_ms) / 1000,
                failures,
                not_logged,
                "the state cannot be written: counters are not published until it can; /readyz answers 503"
            );
        } else {
            log.unlogged += 1;
        }
    }

    /// Records a write that succeeded; ends a run of failures (and says so).
    fn write_succeeded(&self) {
        let mut log = self.writes();
        if let Some(failing) = log.failing.take() {
            log.last_logged = None;
            log.unlogged = 0;
            drop(log);
            tracing::info!(
                failed_for_s = now_ms().saturating_sub(failing.since_ms) / 1000,
                failures = failing.failures,
                "the state can be written again; collection goes on"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_is_remembered_until_a_write_succeeds() {
        let vitals = Vitals::default();
        assert!(vitals.write_failure().is_none());
        vitals.write_failed("counters", "/s: No space left on device", "full");
        vitals.write_failed("history", "/s: No space left on device", "full");
        let failing = vitals.write_failure().expect("failing");
        assert_eq!((failing.store.as_str(), failing.failures), ("history", 2));
        assert_eq!(vitals.write_failures()["counters"], 1);
        assert_eq!(vitals.write_failures()["topology"], 0);
        vitals.write_succeeded();
        assert!(vitals.write_failure().is_none());
        assert!(vitals.failing_for().is_none());
        // The counters never go down.
        assert_eq!(vitals.write_failures()["history"], 1);
    }

    #[test]
    fn the_collector_is_stalled_only_past_its_window() {
        let vitals = Vitals::default();
        assert!(vitals.stalled().is_none());
        vitals.watch_steps(Duration::from_millis(30));
        assert!(vitals.stalled().is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(vitals.stalled().is_some());
        vitals.step_done();
        assert!(vitals.stalled().is_none());
    }

    #[test]
    fn metrics_list_every_store_and_writability() {
        let vitals = Vitals::default();
        vitals.write_failed("counters", "/s: disk full", "disk full");
        let mut out = Exposition::with_capacity(1024);
        vitals.render(&mut out);
        let text = out.finish();
        assert!(text.contains("carbonaut_state_write_failures_total{store=\"counters\"} 1"));
        assert!(text.contains("carbonaut_state_write_failures_total{store=\"cluster\"} 0"));
        assert!(text.contains("carbonaut_state_writable 0"));
    }
}
