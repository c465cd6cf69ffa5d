//! The wasmtime layer: one engine with its epoch ticker, the linker that decides what a guest
//! may import, the per-store state and limits, and the generated bindings. Everything above
//! (plugins, collection) goes through [`Runtime`]; nothing here knows about configs or state.

pub mod bindings;
mod cache;
mod engine;
mod grants;
mod limiter;
mod limits;
mod store;

pub use cache::{CacheState, CompileCache};
pub use engine::{AllocationStrategy, Runtime};
pub use grants::Grants;
pub use limiter::CallLimiter;
pub use limits::{EPOCH_TICK, Limits};
pub use store::{HostState, MAX_LOG_LINES_PER_CALL, MAX_LOG_MESSAGE_BYTES};
