//! Carbonaut: measures the energy and carbon footprint of IT infrastructure through sandboxed
//! WebAssembly provider plugins. This crate is the daemon and its API; the layers below are
//! crates of their own (`carbonaut-model`, `-runtime`, `-plugins`, `-store`), all of which it
//! may import and none of which may import it.
//!
//! Inside it, each module sits on a floor and imports only from lower floors (README, "How the
//! pieces fit"; the `floors` test holds it): `memory`; `exposition`; `vitals`, `telemetry`,
//! `cluster`; `config`; `snapshot`; `collect`; `reload`; `api`; `daemon`. Data flows one way:
//! `api` reads the `snapshot` that `collect` publishes, the vitals and the telemetry, and asks
//! `reload` for changes; `collect` calls plugins and writes the store.

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
