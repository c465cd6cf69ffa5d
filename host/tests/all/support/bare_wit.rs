//! The contract's bindings generated outside the host, for tests and benches that drive a
//! component with wasmtime alone (the host's own bindings are private to `carbonaut-plugins`):
//! the call-path bench's bare baseline, and the test of wasmtime's semver-aware names.
//! (Each user takes a part of it, hence `unused_imports`.)

#![allow(missing_docs, unused_imports, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit/0.3.0",
    world: "provider",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use self::carbonaut::provider::types::*;
pub use exports::carbonaut::provider::{metadata, resource_metrics};
