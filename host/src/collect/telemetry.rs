//! The host's own counters: plugin calls by outcome, their durations, and collection
//! failures per account. Shared with the API, which renders them at scrape time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::snapshot::exposition::Exposition;

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

#[derive(Default)]
struct Inner {
    calls: BTreeMap<(String, &'static str, &'static str), u64>,
    durations: BTreeMap<(String, &'static str), Histogram>,
    failures: BTreeMap<(String, &'static str), u64>,
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
}

impl Telemetry {
    /// Records one plugin call; `outcome` is `ok` or a [`crate::plugins::CallError::reason`].
    pub fn record_call(
        &self,
        plugin: &str,
        operation: &'static str,
        outcome: &'static str,
        seconds: f64,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
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
    }

    pub fn calls_of(&self, plugin: &str) -> Vec<CallCount> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
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
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .failures
            .entry((account.to_owned(), stage))
            .or_default() += 1;
    }

    pub fn render(&self, out: &mut Exposition) {
        let Ok(inner) = self.inner.lock() else { return };
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
