//! The host side of `carbonaut:provider@0.1.0`, generated from the frozen `wit/0.1.0`. Only
//! `plugins::contract::v0_1` uses these types: it converts them to and from the current
//! contract's at the boundary. The host implements 0.1.0's one import, `log`, by forwarding
//! to the current one.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "provider",
    exports: { default: async },
});

use crate::runtime::HostState;
use crate::runtime::bindings::carbonaut::provider::log as current_log;

pub use self::carbonaut::provider::types::*;
pub use exports::carbonaut::provider::{discovery, environment, metadata, resource_metrics};

impl self::carbonaut::provider::log::Host for HostState {
    fn log(
        &mut self,
        level: self::carbonaut::provider::log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        use self::carbonaut::provider::log::Level as Old;
        let level = match level {
            Old::Trace => current_log::Level::Trace,
            Old::Debug => current_log::Level::Debug,
            Old::Info => current_log::Level::Info,
            Old::Warn => current_log::Level::Warn,
            Old::Error => current_log::Level::Error,
        };
        current_log::Host::log(self, level, message, fields);
    }
}
