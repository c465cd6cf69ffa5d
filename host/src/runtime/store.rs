//! The data each store carries: an empty WASI context (no files, no network, no environment
//! variables, no inherited stdio), the memory limiter, and the plugin's name for its logs.
//! Also the host side of the `log` import.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Limits;
use super::bindings::carbonaut::provider::log;

pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    plugin: Arc<str>,
}

impl HostState {
    pub fn new(plugin: Arc<str>, limits: &Limits) -> Self {
        HostState {
            // Clocks and random are all a default WasiCtx grants; no preopens, env or sockets.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            plugin,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        let plugin = &*self.plugin;
        let fields = FieldList(&fields);
        match level {
            log::Level::Trace => tracing::trace!(plugin, %fields, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, %fields, "{message}"),
            log::Level::Info => tracing::info!(plugin, %fields, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, %fields, "{message}"),
            log::Level::Error => tracing::error!(plugin, %fields, "{message}"),
        }
    }
}

/// Guest fields rendered as `k=v k=v`: tracing needs field names at compile time.
struct FieldList<'a>(&'a [(String, String)]);

impl std::fmt::Display for FieldList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        Ok(())
    }
}
