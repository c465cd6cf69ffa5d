//! The floor every Carbonaut crate stands on: the domain types a plugin's answers are converted
//! into (accounts, projects, resources, samples, energy mixes), text helpers (secret scrubbing,
//! log fields) and the wall clock in the contract's unit.
//!
//! May import: nothing of Carbonaut's.

pub mod clock;
mod domain;
pub mod sync;
pub mod text;

pub use domain::*;
