//! The generated host side of `carbonaut:provider@0.1.0`, from the frozen `wit/0.1.0`. Only
//! `contract::v0_1` uses these types: it converts them to and from the current contract's.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../../../wit/0.1.0",
    world: "provider",
    exports: { default: async },
});

pub use self::carbonaut::provider::types::*;
pub use exports::carbonaut::provider::{discovery, environment, metadata, resource_metrics};
