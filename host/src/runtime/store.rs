//! The data each store carries: a WASI context with only the granted read-only directories
//! (no sockets, no environment variables, no inherited stdio), the HTTP policy, the key-value
//! namespace when granted, the memory limiter, and the plugin's name for its logs. Also the
//! host side of the `log` import.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::carbonaut::provider::key_value::StoreError;
use super::bindings::carbonaut::provider::log;
use super::http::HttpPolicy;
use super::key_value::{KeyValueStore, Namespace};
use super::{CallLimiter, Grants, Limits};

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_policy: HttpPolicy,
    key_value: Option<Namespace>,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    plugin: Arc<str>,
    log_lines: u32,
    log_dropped: u32,
}

/// Log lines one call may write; past that they are counted and dropped, so a guest that logs
/// in a loop costs the host a counter, not its log.
pub const MAX_LOG_LINES_PER_CALL: u32 = 1000;
/// Longer messages are cut: a log line is not a data channel.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4096;

impl HostState {
    /// The state of one call; fails when a granted directory cannot be opened.
    pub fn new(
        plugin: Arc<str>,
        limits: &Limits,
        grants: &Grants,
        key_value: Option<&KeyValueStore>,
    ) -> Result<Self, String> {
        // Clocks and random are all a default WasiCtx grants: no env, no sockets, no stdio,
        // and no files but the directories the operator granted, read-only.
        let mut wasi = WasiCtx::builder();
        for (host, guest) in &grants.read_only_dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|e| {
                    format!(
                        "cannot open the granted directory {} (as {guest}): {e:#}",
                        host.display()
                    )
                })?;
        }
        let key_value = match (&grants.key_value, key_value) {
            (Some(namespace), Some(store)) => Some(store.namespace(namespace)),
            _ => None,
        };
        Ok(HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_policy: HttpPolicy::new(
                plugin.clone(),
                Arc::from(grants.http.as_slice()),
                grants.tls_roots.as_ref(),
            ),
            key_value,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes),
            plugin,
            log_lines: 0,
            log_dropped: 0,
        })
    }

    pub fn limiter(&self) -> &CallLimiter {
        &self.limiter
    }

    /// Log lines dropped in this call for being over [`MAX_LOG_LINES_PER_CALL`].
    pub fn log_dropped(&self) -> u32 {
        self.log_dropped
    }

    /// Origins this call tried to reach and was refused.
    pub fn refused_origins(&self) -> &[String] {
        self.http_policy.refused()
    }

    pub(super) fn key_value(&self) -> Result<&Namespace, StoreError> {
        self.key_value.as_ref().ok_or_else(|| {
            StoreError::Denied(format!(
                "plugin {}: the key-value store is not granted to this provider; the operator \
                 enables it with `key_value = true` in the provider's config",
                self.plugin
            ))
        })
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
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
    fn log(&mut self, level: log::Level, mut message: String, mut fields: Vec<(String, String)>) {
        if self.log_lines >= MAX_LOG_LINES_PER_CALL {
            self.log_dropped = self.log_dropped.saturating_add(1);
            return;
        }
        self.log_lines += 1;
        // Escaped, not only cut: a newline or an ESC in a guest's text would let it forge
        // log records of the host's own.
        crate::text::escape_in_place(&mut message, MAX_LOG_MESSAGE_BYTES);
        fields.truncate(32);
        for (k, v) in &mut fields {
            crate::text::escape_in_place(k, 128);
            crate::text::escape_in_place(v, 1024);
        }
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
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}
