//! The mirrored state: the topology (accounts → projects → resources) and per-resource
//! counters, kept in memory for serving and in sled so a restart loses nothing.
//!
//! `topology` and `counters` are pure (diffs and counter arithmetic); `store` is the only
//! module that touches sled.

mod counters;
mod store;
mod topology;

pub use counters::{Counters, LastReading, emissions_grams, energy_delta_joules};
pub use store::{SCHEMA_VERSION, StateError, StateStore};
pub use topology::{
    AccountNode, AccountSync, Discovered, LevelCounts, ProjectNode, ResourceId, ResourceRecord,
    Topology, diff_account,
};
