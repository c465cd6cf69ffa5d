//! The wasmtime layer: one engine with its epoch ticker, the linker that decides what a guest
//! may import (WASI, allowlisted HTTP, the key-value store), the per-store state and limits,
//! and the store each call runs in. The contract's own imports (log, key-value) are linked by
//! `carbonaut-plugins`, which owns the generated bindings of each contract version; this
//! crate implements what they forward to. Nothing here knows about configs.
//!
//! May import: `carbonaut-model`.

mod cache;
pub mod compiler;
mod engine;
mod grants;
pub mod http;
mod key_value;
mod limiter;
mod limits;
mod store;
pub mod tls_roots;

pub use cache::{CacheState, CompileCache, Hashed};
pub use compiler::Compiler;
pub use engine::{AllocationStrategy, Runtime, RuntimeError};
pub use grants::Grants;
pub use key_value::{
    KeyValueStore, MAX_KEY_BYTES, MAX_NAMESPACE_BYTES, MAX_VALUE_BYTES, Namespace, StoreError,
};
pub use limiter::CallLimiter;
pub use limits::{EPOCH_TICK, Limits};
pub use store::{GrantError, GuestLevel, HostState, MAX_LOG_LINES_PER_CALL, MAX_LOG_MESSAGE_BYTES};
