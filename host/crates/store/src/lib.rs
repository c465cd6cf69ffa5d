//! What Carbonaut keeps across restarts, over sled: the topology and counters (`state`), the
//! hourly and daily rollups that reports read (`history`) and the latest intensity forecasts
//! (`forecasts`). Every write of a running daemon goes through `state::WriteGate`, off the
//! async runtime and bounded in time.
//!
//! May import: `carbonaut-model`.

pub mod forecasts;
pub mod history;
pub mod state;
