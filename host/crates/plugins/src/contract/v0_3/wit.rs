//! The generated host side of `carbonaut:provider@0.3.0`, the current contract. Its types are
//! the ones the rest of this crate converts into `carbonaut_model`; nothing outside this crate
//! sees them.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../../wit/0.3.0",
    world: "provider",
    exports: { default: async },
    additional_derives: [PartialEq],
    // wasi:http is implemented by wasmtime-wasi-http; only our own interfaces are generated.
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use self::carbonaut::provider::types::*;
pub use exports::carbonaut::provider::{
    discovery, environment, estimation, metadata, resource_metrics,
};
