//! Carbonaut: measures the energy and carbon footprint of IT infrastructure through sandboxed
//! WebAssembly provider plugins.
//!
//! Data flows one way: `runtime` (wasmtime) ← `plugins` (load, inspect, call).

pub mod plugins;
pub mod api;
pub mod collect;
pub mod runtime;
pub mod snapshot;
pub mod state;
