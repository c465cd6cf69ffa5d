//! The generated host side of `carbonaut:provider@0.2.0`, from the frozen `wit/0.2.0`. Only
//! `contract::v0_2` uses these types: it converts them to and from the current contract's.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../../wit/0.2.0",
    world: "provider",
    exports: { default: async },
    // wasi:http is implemented by wasmtime-wasi-http; only our own interfaces are generated.
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use self::carbonaut::provider::types::*;
pub use exports::carbonaut::provider::{discovery, environment, metadata, resource_metrics};
