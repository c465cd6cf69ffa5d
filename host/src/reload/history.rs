//! The record of reloads: each with its time, trigger, outcome and what it touched; counted
//! by outcome for `/metrics` and listed by the API.

use carbonaut_model::sync::lock;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use crate::exposition::Exposition;

/// Enough to see a morning's edits; older records only survive in the log and the counters.
const KEPT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Applied,
    RolledBack,
    NothingToDo,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::RolledBack => "rolled-back",
            Outcome::NothingToDo => "nothing-to-do",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReloadRecord {
    pub at_ms: u64,
    /// What asked for it: `watch`, `sighup`, `api`, `upload`, `delete`, `enable`, `disable`.
    #[schema(value_type = String)]
    pub trigger: &'static str,
    /// Who asked through the API, as `METHOD:IDENTITY` (`jwt:alice`, `certificate:CN=ops`,
    /// `token:ci`); absent for the host's own reloads (file watcher, SIGHUP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    pub outcome: Outcome,
    /// Why it was rolled back, or what was refused while the rest applied.
    pub reason: Option<String>,
    /// What changed, one item a line: `plugin added: mock-grid 0.1.0`.
    pub items: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Default)]
pub struct History {
    inner: Mutex<(VecDeque<ReloadRecord>, BTreeMap<Outcome, u64>)>,
}

impl History {
    pub fn push(&self, record: ReloadRecord) {
        let mut inner = lock(&self.inner);
        *inner.1.entry(record.outcome).or_default() += 1;
        inner.0.push_front(record);
        inner.0.truncate(KEPT);
    }

    /// Newest first.
    pub fn records(&self) -> Vec<ReloadRecord> {
        lock(&self.inner).0.iter().cloned().collect()
    }

    pub fn render(&self, out: &mut Exposition) {
        let inner = lock(&self.inner);
        out.family(
            "carbonaut_reloads_total",
            "counter",
            "Reloads by outcome (applied, rolled-back, nothing-to-do).",
        );
        for outcome in [Outcome::Applied, Outcome::RolledBack, Outcome::NothingToDo] {
            let n = inner.1.get(&outcome).copied().unwrap_or(0);
            out.sample(
                "carbonaut_reloads_total",
                &[("outcome", outcome.as_str())],
                n as f64,
            );
        }
    }
}
