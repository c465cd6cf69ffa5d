//! One instance's place among the shards, how it is given (flags, config, pod name), and what
//! it publishes about it (the `shard` object of `/api/v1/status`, two gauges).

use std::time::Duration;

use serde::Serialize;

use super::hash::{fnv1a64, jump};
use crate::exposition::Exposition;

/// How long the state of an account another shard now owns is kept: long enough to undo a
/// resharding without losing its counters, short enough not to carry it forever.
pub const DEFAULT_UNOWNED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Shard `ordinal` of `total`; `0 of 1` owns every account (no sharding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shard {
    pub ordinal: u32,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("the total number of shards is 0; give at least 1")]
    NoShards,
    #[error("shard {ordinal} does not exist among {total} shards; shards are numbered 0 to {}", total - 1)]
    OutOfRange { ordinal: u32, total: u32 },
    #[error(
        "pod name `{0}` does not end in `-ORDINAL`; pass a StatefulSet pod's name (like carbonaut-2) \
         through the downward API, or give --shard"
    )]
    PodName(String),
}

impl Default for Shard {
    fn default() -> Self {
        Shard::UNSHARDED
    }
}

impl Shard {
    pub const UNSHARDED: Shard = Shard {
        ordinal: 0,
        total: 1,
    };

    pub fn new(ordinal: u32, total: u32) -> Result<Shard, ShardError> {
        if total == 0 {
            return Err(ShardError::NoShards);
        }
        if ordinal >= total {
            return Err(ShardError::OutOfRange { ordinal, total });
        }
        Ok(Shard { ordinal, total })
    }

    /// The shard of a StatefulSet pod: its ordinal is what follows the last `-` of its name.
    pub fn from_pod_name(pod: &str, total: u32) -> Result<Shard, ShardError> {
        let ordinal = pod
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .ok_or_else(|| ShardError::PodName(pod.to_owned()))?;
        Shard::new(ordinal, total)
    }

    /// The ordinal of the shard that owns `account` among `total` shards.
    pub fn owner_of(account: &str, total: u32) -> u32 {
        jump(fnv1a64(account.as_bytes()), total)
    }

    pub fn owns(&self, account: &str) -> bool {
        Shard::owner_of(account, self.total) == self.ordinal
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {} of {}", self.ordinal, self.total)
    }
}

/// The `[cluster]` table: which shard this instance is, and how long it keeps the state of
/// accounts it no longer owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cluster {
    pub shard: Shard,
    pub unowned_retention: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            shard: Shard::UNSHARDED,
            unowned_retention: DEFAULT_UNOWNED_RETENTION,
        }
    }
}

/// The `shard` object of `/api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShardStatus {
    pub ordinal: u32,
    /// Shards in all; every shard of one deployment must agree on it.
    pub total: u32,
    /// Accounts of the config this shard collects and serves.
    pub owned_accounts: usize,
    /// Accounts in the config, whoever owns them.
    pub configured_accounts: usize,
    /// How long the stored state of an account another shard owns is kept, in seconds.
    pub unowned_retention_seconds: u64,
}

impl Default for ShardStatus {
    fn default() -> Self {
        ShardStatus {
            ordinal: 0,
            total: 1,
            owned_accounts: 0,
            configured_accounts: 0,
            unowned_retention_seconds: DEFAULT_UNOWNED_RETENTION.as_secs(),
        }
    }
}

impl ShardStatus {
    /// `carbonaut_shard_ordinal` and `carbonaut_total_shards` (issue 16 asked for
    /// `carbonaut_shards_total`, but a gauge ending in `_total` fails `promtool check
    /// metrics`; kube-state-metrics says `kube_state_metrics_total_shards`).
    pub fn render(&self, out: &mut Exposition) {
        out.family(
            "carbonaut_shard_ordinal",
            "gauge",
            "This instance's shard ordinal (0 when not sharded).",
        );
        out.sample("carbonaut_shard_ordinal", &[], f64::from(self.ordinal));
        out.family(
            "carbonaut_total_shards",
            "gauge",
            "The number of shards this instance was started with (1 when not sharded).",
        );
        out.sample("carbonaut_total_shards", &[], f64::from(self.total));
        out.family(
            "carbonaut_shard_owned_accounts",
            "gauge",
            "Configured accounts this shard collects and serves.",
        );
        out.sample(
            "carbonaut_shard_owned_accounts",
            &[],
            self.owned_accounts as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_from_the_end_of_a_pod_name() {
        assert_eq!(
            Shard::from_pod_name("carbonaut-sharded-2", 3),
            Ok(Shard {
                ordinal: 2,
                total: 3
            })
        );
        assert_eq!(
            Shard::from_pod_name("carbonaut-3", 3),
            Err(ShardError::OutOfRange {
                ordinal: 3,
                total: 3
            })
        );
        assert_eq!(
            Shard::from_pod_name("carbonaut", 3),
            Err(ShardError::PodName("carbonaut".into()))
        );
        assert_eq!(
            Shard::from_pod_name("carbonaut-7f9c", 3),
            Err(ShardError::PodName("carbonaut-7f9c".into()))
        );
        assert_eq!(Shard::new(0, 0), Err(ShardError::NoShards));
    }

    #[test]
    fn every_account_has_exactly_one_owner() {
        let names: Vec<String> = (0..500).map(|i| format!("acct-{i}")).collect();
        for total in 1..8 {
            for name in &names {
                let owners = (0..total)
                    .filter(|&o| Shard { ordinal: o, total }.owns(name))
                    .count();
                assert_eq!(owners, 1, "{name} among {total} shards");
            }
        }
        assert!(names.iter().all(|n| Shard::UNSHARDED.owns(n)));
    }
}
