//! The host's own counters: plugin calls by outcome, their durations, collection failures per
//! account, and what the boundary checks rejected per plugin. Shared with the API, which
//! renders them at scrape time.

use carbonaut_model::sync::lock;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod rejections;

use crate::exposition::Exposition;
use carbonaut_plugins::{Reason, Rejections};
pub use rejections::{ProviderRejections, RejectionsByProvider};

/// A plugin that keeps sending the same bad data is logged about once per this period (with
/// how many items were rejected since), not once per item.
const REJECTION_LOG_PERIOD: Duration = Duration::from_secs(300);

/// Upper bounds of the call-duration histogram, in seconds: from a warm 10 µs call to the
/// 10 s default deadline.
const BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// How many of a plugin's latest call durations its p99 is computed from: recent enough to
/// show a plugin getting slow, enough for the 99th percentile to be more than the maximum.
const RECENT_CALLS: usize = 1000;

#[derive(Default)]
struct Inner {
    calls: BTreeMap<(String, &'static str, &'static str), u64>,
    durations: BTreeMap<(String, &'static str), Histogram>,
    failures: BTreeMap<(String, &'static str), u64>,
    rejected: BTreeMap<(String, Reason), Rejected>,
    /// The latest call durations of each plugin, in seconds, oldest first.
    recent: BTreeMap<String, VecDeque<f64>>,
    /// Per collection stage: how many ran, and how long the last one took (seconds).
    stages: BTreeMap<&'static str, (u64, f64)>,
}

#[derive(Default)]
struct Rejected {
    total: u64,
    /// Since the last log line about this plugin and reason.
    unlogged: u64,
    logged_at: Option<Instant>,
}

/// A plugin's calls at a glance, for the API and the dashboard.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct CallSummary {
    /// Calls since the host started, every operation and outcome.
    pub calls: u64,
    /// Of those, the ones that did not return `ok`.
    pub failed: u64,
    /// The 99th percentile duration of its latest calls that ran (nearest rank; calls refused
    /// by backoff or a missing plugin do not count), in seconds.
    pub p99_seconds: Option<f64>,
    /// How many latest calls `p99_seconds` covers (at most 1000).
    pub p99_calls: usize,
}

/// Calls of one plugin with one operation and outcome, for the API.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CallCount {
    #[schema(value_type = String)]
    pub operation: &'static str,
    #[schema(value_type = String)]
    pub outcome: &'static str,
    pub count: u64,
}

#[derive(Default)]
pub struct Telemetry {
    inner: Mutex<Inner>,
    /// The same refusals per provider instance, for `/api/v1/status`.
    by_provider: RejectionsByProvider,
}

impl Telemetry {
    /// Records one plugin call; `outcome` is `ok` or a [`carbonaut_plugins::CallError::reason`].
    pub fn record_call(
        &self,
        plugin: &str,
        operation: &'static str,
        outcome: &'static str,
        seconds: f64,
    ) {
        let mut inner = lock(&self.inner);
        *inner
            .calls
            .entry((plugin.to_owned(), operation, outcome))
            .or_default() += 1;
        let h = inner
            .durations
            .entry((plugin.to_owned(), operation))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        // A call refused before it reached the plugin took no time of its own.
        if matches!(outcome, "backoff" | "plugin-down") {
            return;
        }
        let recent = inner.recent.entry(plugin.to_owned()).or_default();
        if recent.len() == RECENT_CALLS {
            recent.pop_front();
        }
        recent.push_back(seconds);
    }

    /// Calls, failures and the p99 duration of one plugin.
    pub fn summary_of(&self, plugin: &str) -> CallSummary {
        let inner = lock(&self.inner);
        let (mut calls, mut failed) = (0, 0);
        for ((p, _, outcome), n) in &inner.calls {
            if p == plugin {
                calls += n;
                if *outcome != "ok" {
                    failed += n;
                }
            }
        }
        let mut recent: Vec<f64> = inner
            .recent
            .get(plugin)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        recent.sort_by(f64::total_cmp);
        CallSummary {
            calls,
            failed,
            p99_seconds: nearest_rank(&recent, 0.99),
            p99_calls: recent.len(),
        }
    }

    pub fn calls_of(&self, plugin: &str) -> Vec<CallCount> {
        let inner = lock(&self.inner);
        inner
            .calls
            .iter()
            .filter(|((p, _, _), _)| p == plugin)
            .map(|((_, operation, outcome), count)| CallCount {
                operation,
                outcome,
                count: *count,
            })
            .collect()
    }

    /// Records a failed collection stage (`sync`, `samples`, `environment`) of an account.
    pub fn record_failure(&self, account: &str, stage: &'static str) {
        let mut inner = lock(&self.inner);
        *inner
            .failures
            .entry((account.to_owned(), stage))
            .or_default() += 1;
    }

    /// Counts what one answer of `provider` (an instance of `plugin`) lost, and logs it: the
    /// first time for each reason at once, then at most once per [`REJECTION_LOG_PERIOD`]
    /// with the count since.
    pub fn record_rejections(&self, provider: &str, plugin: &str, rejections: &Rejections) {
        if rejections.is_empty() {
            return;
        }
        self.by_provider
            .record(provider, rejections, carbonaut_model::clock::now_ms());
        let mut inner = lock(&self.inner);
        let now = Instant::now();
        for (reason, (count, example)) in &rejections.by_reason {
            let entry = inner
                .rejected
                .entry((plugin.to_owned(), *reason))
                .or_default();
            entry.total += count;
            entry.unlogged += count;
            if entry
                .logged_at
                .is_none_or(|at| now.duration_since(at) >= REJECTION_LOG_PERIOD)
            {
                tracing::warn!(
                    plugin,
                    reason = reason.as_str(),
                    items = entry.unlogged,
                    total = entry.total,
                    example = %example,
                    "items the plugin returned were rejected by the host's checks (see docs/plugin-authors.md, \"What the host accepts\"); further ones are logged at most every 5 minutes"
                );
                entry.unlogged = 0;
                entry.logged_at = Some(now);
            }
        }
    }

    /// What the checks refused of `provider`'s answers so far.
    pub fn rejections_of_provider(&self, provider: &str) -> ProviderRejections {
        self.by_provider.of(provider)
    }

    /// Items of `plugin` rejected so far, by reason.
    pub fn rejected_of(&self, plugin: &str) -> BTreeMap<&'static str, u64> {
        let inner = lock(&self.inner);
        inner
            .rejected
            .iter()
            .filter(|((p, _), _)| p == plugin)
            .map(|((_, reason), r)| (reason.as_str(), r.total))
            .collect()
    }

    /// One run of a collection stage (`sync`, `samples`, `environment`), whole: plugin calls,
    /// counters, the state written and the snapshot published.
    pub fn record_stage(&self, stage: &'static str, seconds: f64) {
        let mut inner = lock(&self.inner);
        let entry = inner.stages.entry(stage).or_default();
        entry.0 += 1;
        entry.1 = seconds;
    }

    pub fn render(&self, out: &mut Exposition) {
        let inner = lock(&self.inner);
        out.family(
            "carbonaut_collection_runs_total",
            "counter",
            "Collection stages run (sync, samples, environment), failed or not.",
        );
        for (stage, (n, _)) in &inner.stages {
            out.sample(
                "carbonaut_collection_runs_total",
                &[("stage", stage)],
                *n as f64,
            );
        }
        out.family(
            "carbonaut_collection_last_duration_seconds",
            "gauge",
            "How long the last run of a collection stage took, state writes and publishing included.",
        );
        for (stage, (_, seconds)) in &inner.stages {
            out.sample(
                "carbonaut_collection_last_duration_seconds",
                &[("stage", stage)],
                *seconds,
            );
        }
        out.family(
            "carbonaut_plugin_calls_total",
            "counter",
            "Plugin calls by operation and outcome.",
        );
        for ((plugin, op, outcome), n) in &inner.calls {
            out.sample(
                "carbonaut_plugin_calls_total",
                &[("plugin", plugin), ("operation", op), ("outcome", outcome)],
                *n as f64,
            );
        }
        out.family(
            "carbonaut_plugin_call_duration_seconds",
            "histogram",
            "Duration of plugin calls, instantiation included.",
        );
        for ((plugin, op), h) in &inner.durations {
            let labels = [("plugin", plugin.as_str()), ("operation", op)];
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                out.bucket(
                    "carbonaut_plugin_call_duration_seconds_bucket",
                    &labels,
                    &bound.to_string(),
                    n as f64,
                );
            }
            out.bucket(
                "carbonaut_plugin_call_duration_seconds_bucket",
                &labels,
                "+Inf",
                h.count as f64,
            );
            out.sample("carbonaut_plugin_call_duration_seconds_sum", &labels, h.sum);
            out.sample(
                "carbonaut_plugin_call_duration_seconds_count",
                &labels,
                h.count as f64,
            );
        }
        out.family(
            "carbonaut_plugin_rejected_items_total",
            "counter",
            "Items (or fields) of plugin answers the host's checks rejected, by reason.",
        );
        for ((plugin, reason), r) in &inner.rejected {
            out.sample(
                "carbonaut_plugin_rejected_items_total",
                &[("plugin", plugin), ("reason", reason.as_str())],
                r.total as f64,
            );
        }
        out.family(
            "carbonaut_collection_failures_total",
            "counter",
            "Failed collection stages (sync, samples, environment) per account.",
        );
        for ((account, stage), n) in &inner.failures {
            out.sample(
                "carbonaut_collection_failures_total",
                &[("account", account), ("stage", stage)],
                *n as f64,
            );
        }
    }
}

/// The `q` quantile of sorted `values` by the nearest-rank method: the smallest value with at
/// least `q` of all values at or below it.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_nearest_rank_of_the_latest_calls() {
        let t = Telemetry::default();
        assert!(t.summary_of("p").p99_seconds.is_none());
        // 1..=100 ms: the 99th of 100 is 99 ms.
        for ms in 1..=100 {
            t.record_call("p", "sample", "ok", f64::from(ms) / 1000.0);
        }
        t.record_call("p", "sample", "trap", 0.0005);
        t.record_call("p", "sample", "backoff", 0.0);
        t.record_call("other", "sample", "ok", 9.0);
        let s = t.summary_of("p");
        assert_eq!((s.calls, s.failed, s.p99_calls), (102, 2, 101));
        // 101 values: rank ceil(99.99) = 100, the 100th smallest is 99 ms.
        assert_eq!(s.p99_seconds, Some(0.099));
        // Only the latest 1000 count: 1000 slow calls push every fast one out.
        for _ in 0..RECENT_CALLS {
            t.record_call("p", "sample", "ok", 2.0);
        }
        let s = t.summary_of("p");
        assert_eq!(
            (s.p99_seconds, s.p99_calls, s.calls),
            (Some(2.0), 1000, 1102)
        );
    }
}
