//! What the history rollups keep, as the `[reports]` section of the config decides it: the
//! retention of each tier and the label keys that get rollups of their own. The config crate
//! parses and checks it; the recorder and the history store only read it.

use std::time::Duration;

/// What the history rollups keep (`[reports]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportsConfig {
    /// Resource label keys whose values get rollups (`group_by=label:KEY`).
    pub label_keys: Vec<String>,
    /// Values of one label key kept apart; the rest are grouped as `other`. Each value costs
    /// as much as a project, so an unbounded label (a commit hash) cannot blow up the store.
    pub max_label_values: usize,
    /// Hourly buckets of accounts, projects, locations and labels.
    pub hourly_retention: Duration,
    /// Daily buckets of the same groups.
    pub daily_retention: Duration,
    /// Hourly buckets per resource, the largest tier (one bucket per resource and hour).
    pub resource_retention: Duration,
}

const DAY: Duration = Duration::from_secs(86_400);

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            label_keys: Vec::new(),
            max_label_values: 50,
            hourly_retention: DAY * 14,
            daily_retention: DAY * 400,
            // Three days of 10 000 resources is 720 000 buckets; see the README for sizes.
            resource_retention: DAY * 3,
        }
    }
}
