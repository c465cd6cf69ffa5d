//! The data each store carries: a WASI context with only the granted read-only directories
//! (no sockets, no environment variables, no inherited stdio), the HTTP policy, the key-value
//! namespace when granted, the memory limiter, the plugin's name and the provider's secrets
//! for its logs. Also the host side of the `log` import.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http::HttpPolicy;
use super::key_value::{KeyValueStore, Namespace, StoreError};
use super::{CallLimiter, Grants, Limits};
use carbonaut_model::text::{self, Secrets};

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_policy: HttpPolicy,
    key_value: Option<Namespace>,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    plugin: Arc<str>,
    secrets: Secrets,
    log_lines: u32,
    log_dropped: u32,
}

/// Log lines one call may write; past that they are counted and dropped, so a guest that logs
/// in a loop costs the host a counter, not its log.
pub const MAX_LOG_LINES_PER_CALL: u32 = 1000;
/// Longer messages are cut: a log line is not a data channel.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4096;

/// A granted directory that cannot be opened for a call.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the granted directory {} (as {guest}): {source:#}", .host.display())]
pub struct GrantError {
    pub host: std::path::PathBuf,
    pub guest: String,
    source: wasmtime::Error,
}

impl HostState {
    /// The state of one call; fails when a granted directory cannot be opened.
    pub fn new(
        plugin: Arc<str>,
        limits: &Limits,
        grants: &Grants,
        key_value: Option<&KeyValueStore>,
    ) -> Result<Self, GrantError> {
        // Clocks and random are all a default WasiCtx grants: no env, no sockets, no stdio,
        // and no files but the directories the operator granted, read-only.
        let mut wasi = WasiCtx::builder();
        for (host, guest) in &grants.read_only_dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|source| GrantError {
                    host: host.clone(),
                    guest: guest.clone(),
                    source,
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
                grants.secrets.clone(),
            ),
            key_value,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes),
            plugin,
            secrets: grants.secrets.clone(),
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

    /// The provider's key-value namespace, or why it has none.
    pub fn key_value(&self) -> Result<&Namespace, StoreError> {
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

/// The levels of a guest's log line, as every contract version has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl HostState {
    /// The host side of the `log` import (each contract version forwards its own here).
    pub fn guest_log(
        &mut self,
        level: GuestLevel,
        message: String,
        mut fields: Vec<(String, String)>,
    ) {
        if self.log_lines >= MAX_LOG_LINES_PER_CALL {
            self.log_dropped = self.log_dropped.saturating_add(1);
            return;
        }
        self.log_lines += 1;
        fields.truncate(MAX_LOG_FIELDS);
        let line = GuestLine::new(&self.secrets, message, &fields);
        let plugin = &*self.plugin;
        match level {
            GuestLevel::Trace => tracing::trace!(plugin, "{line}"),
            GuestLevel::Debug => tracing::debug!(plugin, "{line}"),
            GuestLevel::Info => tracing::info!(plugin, "{line}"),
            GuestLevel::Warn => tracing::warn!(plugin, "{line}"),
            GuestLevel::Error => tracing::error!(plugin, "{line}"),
        }
    }
}

/// Fields one guest log line keeps; the rest are dropped.
const MAX_LOG_FIELDS: usize = 32;

/// A guest's log line as the host writes it: `"message" key="value" key="value"`. The
/// message and each value are quoted and escaped, so a value holding ` k3=x` or a newline
/// stays one value, and scrubbed of the provider's secrets first (then cut, so a cut never
/// leaves part of a secret behind). tracing names its fields at compile time, so the guest's
/// fields travel in the record's message, each one a field of its own for a reader.
struct GuestLine(String);

impl GuestLine {
    fn new(secrets: &Secrets, message: String, fields: &[(String, String)]) -> GuestLine {
        let clean = |said: &str, max: usize| text::quote(&secrets.scrub_within(said, max));
        let mut line = clean(&message, MAX_LOG_MESSAGE_BYTES);
        for (key, value) in fields {
            line.push(' ');
            line.push_str(&field_key(&secrets.scrub(key)));
            line.push('=');
            line.push_str(&clean(value, MAX_LOG_FIELD_BYTES));
        }
        GuestLine(line)
    }
}

impl std::fmt::Display for GuestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longer field values are cut.
const MAX_LOG_FIELD_BYTES: usize = 1024;

/// A guest's field name as one token: letters, digits, `_`, `-` and `.` kept, anything else
/// (a space, `=`, a quote) written as `_`; at most 64 characters.
fn field_key(key: &str) -> String {
    let key: String = key
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() { "_".to_owned() } else { key }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_guest_field_stays_one_quoted_value() {
        let fields = vec![
            ("k1".to_owned(), "v1".to_owned()),
            ("k2".to_owned(), "v2 k3=x \"quoted\"\nnext".to_owned()),
            ("bad key=".to_owned(), String::new()),
        ];
        let line = GuestLine::new(&Secrets::NONE, "hello k0=y".to_owned(), &fields);
        assert_eq!(
            line.to_string(),
            r#""hello k0=y" k1="v1" k2="v2 k3=x \"quoted\"\nnext" bad_key_="""#
        );
    }

    #[test]
    fn secrets_are_scrubbed_before_the_line_is_cut() {
        let secrets = Secrets::new(["hunter2"]);
        let message = format!("{}hunter2", "x".repeat(MAX_LOG_MESSAGE_BYTES - 3));
        let fields = vec![
            ("token".to_owned(), "Bearer hunter2".to_owned()),
            ("hunter2".to_owned(), "as a key".to_owned()),
        ];
        let line = GuestLine::new(&secrets, message, &fields).to_string();
        assert!(!line.contains("hun"), "{line}");
        assert!(
            line.ends_with(r#"xxx***" token="Bearer ***" ___="as a key""#),
            "{line}"
        );
        let long = GuestLine::new(&secrets, "é".repeat(3000), &[]).to_string();
        assert!(long.ends_with("é… (cut from 6000 bytes)\""), "{long}");
    }
}
