//! Why a plugin could not be loaded or a call failed. Every message names the file or the
//! plugin (with its version) and says what to do where there is something to do.

use carbonaut_model::ProviderError;

/// A `.wasm` file the host refuses to load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read the file: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm { path: String },
    #[error(
        "{path}: a core WebAssembly module, not a component; build it for wasm32-wasip2 \
         or wrap it with `wasm-tools component new`"
    )]
    CoreModule { path: String },
    #[error("{path}: not a valid WebAssembly component: {reason}")]
    Invalid { path: String, reason: String },
    #[error(
        "{path}: implements no known world: it exports no carbonaut:provider interface \
         (its exports: {exports})"
    )]
    NoKnownWorld { path: String, exports: String },
    #[error(
        "{path}: built for WIT carbonaut:provider@{found}, but this host supports \
         {supported}; {advice}"
    )]
    UnsupportedWitVersion {
        path: String,
        found: String,
        supported: String,
        advice: String,
    },
    #[error("{path}: mixes WIT versions in its exports ({versions}); export a single version")]
    MixedWitVersions { path: String, versions: String },
    #[error(
        "{path}: exports no provider interface (discovery, resource-metrics or environment), \
         only {exports}"
    )]
    NoProviderKind { path: String, exports: String },
    #[error("{path}: does not export carbonaut:provider/metadata, which every plugin must")]
    NoMetadata { path: String },
    #[error(
        "{path}: cannot be linked: {reason} (only the log import and an empty WASI are granted)"
    )]
    Link { path: String, reason: String },
    #[error("{path}: asking the plugin for its metadata failed: {source}")]
    Metadata {
        path: String,
        source: Box<CallError>,
    },
    #[error("{path}: {source}")]
    BadNeeds {
        path: String,
        source: crate::needs::NeedsError,
    },
    #[error("{path}: the same bytes were refused before, not run again: {reason}")]
    Remembered { path: String, reason: String },
    #[error("{path}: refused because of its metadata: {source}")]
    BadMetadata {
        path: String,
        source: crate::validate::MetadataError,
    },
    /// Refused by the operator's pins or signing keys (the message names the file).
    #[error(transparent)]
    Untrusted(crate::trust::TrustError),
    #[error("{path}: plugin name `{name}` is already used by {other}; plugin names must be unique")]
    DuplicateName {
        path: String,
        name: String,
        other: String,
    },
}

/// A plugin call that did not return a value: which plugin, which call, and why.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} {version}: {operation} {kind}")]
pub struct CallError {
    pub plugin: String,
    pub version: String,
    /// `metadata`, `discovery.list-projects`, `resource-metrics.collect`, ...
    pub operation: &'static str,
    pub kind: CallErrorKind,
}

/// Why a call did not return a value. Each message follows "plugin NAME VERSION: OPERATION".
#[derive(Debug, thiserror::Error)]
pub enum CallErrorKind {
    #[error("returned an error: {}", .0.describe())]
    Guest(ProviderError),
    #[error("exceeded its deadline of {deadline_ms} ms")]
    Deadline { deadline_ms: u128 },
    #[error("ran out of memory: it asked for {asked_bytes} bytes, the limit is {limit_bytes}")]
    OutOfMemory {
        asked_bytes: usize,
        limit_bytes: usize,
    },
    #[error("trapped: {0}")]
    Trap(String),
    #[error("was refused {refused} and returned: {}", .error.describe())]
    Denied {
        refused: String,
        error: Box<ProviderError>,
    },
    #[error(
        "returned {items} items; the limit is {limit} (raise `max_result_items` in the \
         provider's limits if this is legitimate)"
    )]
    ResultTooLarge { items: usize, limit: usize },
    #[error("is not implemented by this plugin")]
    NotImplemented,
    #[error("returned metadata that is refused: {0}")]
    BadMetadata(crate::validate::MetadataError),
}

impl CallError {
    /// A short, bounded label for metrics: `guest-error`, `denied`, `deadline`, `memory`,
    /// `trap`, `result-size`, `not-implemented` or `bad-metadata`.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            CallErrorKind::Guest(_) => "guest-error",
            CallErrorKind::Denied { .. } => "denied",
            CallErrorKind::ResultTooLarge { .. } => "result-size",
            CallErrorKind::Deadline { .. } => "deadline",
            CallErrorKind::Trap(_) => "trap",
            CallErrorKind::OutOfMemory { .. } => "memory",
            CallErrorKind::NotImplemented => "not-implemented",
            CallErrorKind::BadMetadata(_) => "bad-metadata",
        }
    }

    /// The guest's own error, when it returned one (as opposed to trapping).
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match &self.kind {
            CallErrorKind::Guest(error) => Some(error),
            CallErrorKind::Denied { error, .. } => Some(error),
            _ => None,
        }
    }
}
