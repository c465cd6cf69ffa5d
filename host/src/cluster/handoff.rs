//! The stored state of accounts this shard does not own. After a resharding, an account's new
//! owner starts its counters anew; the old owner neither collects nor serves it, but keeps its
//! state for the retention, so that undoing the change resumes the old counters. Past the
//! retention the state is deleted. The collector never sees these accounts (the plan holds
//! owned accounts only), so pruning them here does not race with it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::shard::Shard;
use carbonaut_store::state::{AccountNode, ResourceId, StateError, StateStore};

/// How often a running instance looks for state past its retention.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Notes when each stored account this shard does not own was first seen so, and deletes the
/// state of those unowned for longer than `retention`. An account owned again (a resharding
/// undone) keeps its totals but forgets its last readings: its counters resume from the first
/// new sample, since another shard counted the energy used meanwhile. Run it before the
/// collector loads the state. Returns the names of the accounts deleted.
pub fn prune_unowned(
    store: &StateStore,
    shard: Shard,
    retention: Duration,
    now_ms: u64,
) -> Result<Vec<String>, StateError> {
    let since = store.cluster_tree()?;
    if shard.total == 1 && since.is_empty() {
        return Ok(Vec::new()); // owns everything and never owned less: nothing to do
    }
    let (topology, _) = store.load_topology()?;
    let mut pruned = Vec::new();
    for (name, node) in &topology.accounts {
        if shard.owns(name) {
            if since.remove(name.as_bytes())?.is_some() {
                forget_last_readings(store, node)?;
                tracing::info!(account = %name, %shard, "this shard owns the account again: its totals resume from its next sample");
            }
            continue;
        }
        let first_seen = match since.get(name.as_bytes())? {
            Some(v) => <[u8; 8]>::try_from(v.as_ref()).map_or(now_ms, u64::from_be_bytes),
            None => {
                since.insert(name.as_bytes(), &now_ms.to_be_bytes())?;
                tracing::info!(account = %name, %shard, retention_s = retention.as_secs(), "another shard owns this account now; its stored state is kept for the retention, then deleted");
                now_ms
            }
        };
        if now_ms.saturating_sub(first_seen) >= retention.as_millis() as u64 {
            store.remove_account(node)?;
            since.remove(name.as_bytes())?;
            tracing::info!(account = %name, %shard, "deleted the stored state of an account another shard has owned for longer than the retention");
            pruned.push(name.clone());
        }
    }
    // Notes of accounts whose state is gone (deleted, or removed from the config).
    for key in since.iter().keys() {
        let key = key?;
        if !topology
            .accounts
            .contains_key(String::from_utf8_lossy(&key).as_ref())
        {
            since.remove(key)?;
        }
    }
    store.flush()?;
    Ok(pruned)
}

/// Keeps an account's totals but drops its last readings, so the next sample is a baseline.
fn forget_last_readings(store: &StateStore, node: &AccountNode) -> Result<(), StateError> {
    let ids: HashSet<&ResourceId> = node
        .projects
        .values()
        .flat_map(|p| p.resources.values().map(|r| &r.id))
        .collect();
    let mut counters = store.load_counters(&mut carbonaut_store::state::LoadReport::default())?;
    counters.retain(|id, _| ids.contains(id));
    for c in counters.values_mut() {
        c.last = None;
    }
    store.save_counters([(node.name.as_str(), counters.iter())])
}

/// Prunes every [`PRUNE_EVERY`] (or the retention, when shorter) for as long as the process
/// runs; the daemon runs [`prune_unowned`] once itself before the collector starts.
pub async fn run_pruner(store: Arc<StateStore>, shard: Shard, retention: Duration) {
    let mut timer = tokio::time::interval(PRUNE_EVERY.min(retention.max(Duration::from_secs(1))));
    timer.tick().await; // the first tick is immediate: the daemon has just pruned
    loop {
        timer.tick().await;
        let store = store.clone();
        let now = carbonaut_model::clock::now_ms();
        let result =
            tokio::task::spawn_blocking(move || prune_unowned(&store, shard, retention, now)).await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "pruning the state of accounts other shards own failed; retrying later");
            }
            Err(error) => tracing::error!(%error, "the pruning task failed"),
        }
    }
}
