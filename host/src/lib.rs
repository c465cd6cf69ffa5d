//! Carbonaut: measures the energy and carbon footprint of IT infrastructure through sandboxed
//! WebAssembly provider plugins.
//!
//! Data flows one way: `api` reads the `snapshot` that `collect` publishes; `collect` calls
//! `plugins` and writes `state`; `plugins` call `runtime`. `config` is read at start-up and
//! `daemon` wires it all together; `cluster` decides which accounts this instance owns.
//! `vitals` (whether the state can be written, whether the collector steps) is written by
//! `state` and `collect` and read by `api` at request time.

pub mod api;
pub mod clock;
pub mod cluster;
pub mod collect;
pub mod config;
pub mod daemon;
pub mod history;
pub mod memory;
pub mod model;
pub mod plugins;
pub mod reload;
pub mod runtime;
pub mod snapshot;
pub mod state;
pub mod text;
pub mod trust;
pub mod vitals;
