//! Sharding: several carbonaut instances run with the same config, each knows its ordinal and
//! the number of shards, and keeps only the accounts that hash to it (the model is
//! kube-state-metrics' sharding). There is no protocol between instances: Prometheus scrapes
//! them all and PromQL adds them up.
//!
//! `hash` assigns accounts to shards; `shard` is one instance's place among them and what it
//! publishes about it; `handoff` prunes the stored state of accounts another shard now owns.

mod handoff;
mod hash;
mod shard;

pub use handoff::{PRUNE_EVERY, prune_unowned, run_pruner};
pub use hash::{fnv1a64, jump};
pub use shard::{Cluster, DEFAULT_UNOWNED_RETENTION, Shard, ShardError, ShardStatus};
