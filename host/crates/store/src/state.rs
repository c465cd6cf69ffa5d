//! The mirrored state: the topology (accounts → projects → resources) and per-resource
//! counters, kept in memory for serving and in sled so a restart loses nothing.
//!
//! `topology`, `counters` and `departed` are pure (diffs, counter arithmetic, what removed
//! resources used); `store` and `migrate` are the only modules that touch sled (`gate` runs the writes of a
//! running daemon off the async runtime, with a bounded wait), `keys` says
//! how their keys are encoded and `chunks` how the counters are packed.

mod chunks;
mod counters;
mod departed;
mod gate;
mod keys;
mod migrate;
mod store;
mod topology;

pub use chunks::name_of as chunk_of;
pub use counters::{
    Counters, Footprint, LastReading, MAX_POWER_GAP_MS, Refusal, emissions_grams,
    energy_delta_joules,
};
pub use departed::{ArchiveKey, Departed, Expiry, Retired, SyncMoves, Totals};
pub use gate::{WriteError, WriteGate, WriteWatch};
pub use store::{CounterBatch, LoadReport, SCHEMA_VERSION, StateError, StateStore, SyncWrite};
pub use topology::{
    AccountDiff, AccountNode, AccountSync, Discovered, LevelCounts, ProjectNode, ResourceId,
    ResourceRecord, Topology, diff_account,
};
