//! Carbonaut: measures the energy and carbon footprint of IT infrastructure through sandboxed
//! WebAssembly provider plugins.
//!
//! Data flows one way: `api` reads the `snapshot` that `collect` publishes; `collect` calls
//! `plugins` and writes `state`; `plugins` call `runtime`. `config` is read at start-up and
//! `daemon` wires it all together; `cluster` decides which accounts this instance owns.
//! `vitals` (whether the state can be written, whether the collector steps) is written by
//! `state` and `collect` and read by `api` at request time.

pub mod api;
pub mod cluster;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod exposition;
pub mod memory;
pub mod reload;
pub mod snapshot;
pub mod telemetry;
pub mod vitals;
