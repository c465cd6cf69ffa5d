//! The host side of `carbonaut:provider@0.2.0`, generated from `wit/`. Only `runtime` (the
//! imports a guest calls) and `plugins` (calls and conversions) see these types; the rest of
//! the host works with `crate::model`, into which `plugins` converts and checks every answer.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
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

/// The frozen 0.1.0 contract, for plugins built before 0.2.0 (see `plugins::contract`).
pub(crate) mod v0_1;

pub use self::carbonaut::provider::types::*;
pub use exports::carbonaut::provider::{discovery, environment, metadata, resource_metrics};
