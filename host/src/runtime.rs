//! The wasmtime layer: one engine with its epoch ticker, the linker that decides what a guest
//! may import, the per-store state and limits, and the generated bindings. Everything above
//! (plugins, collection) goes through [`Runtime`]; nothing here knows about configs or state.

pub mod bindings;
mod cache;
mod engine;
mod limits;
mod store;

pub use cache::{CacheState, CompileCache};
pub use engine::{AllocationStrategy, Runtime};
pub use limits::Limits;
pub use store::HostState;
