//! The host side of `carbonaut:provider@0.2.0`, generated from `wit/`. The types double as the
//! host's domain model (the latest contract version is the model, as in Zed's extension host),
//! hence the serde derives.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
    world: "provider",
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
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

impl ProviderError {
    /// A sentence for logs and the API (the generated `Display` is the debug form).
    pub fn describe(&self) -> String {
        match self {
            ProviderError::BadConfig(m) => format!("bad configuration: {m}"),
            ProviderError::Unauthorized(m) => format!("unauthorized: {m}"),
            ProviderError::Unavailable(u) => match u.retry_after_ms {
                Some(ms) => format!("unavailable (retry after {ms} ms): {}", u.message),
                None => format!("unavailable: {}", u.message),
            },
            ProviderError::Other(m) => m.clone(),
        }
    }
}

impl ProviderKind {
    /// The kebab-case name used in WIT, configs, logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Discovery => "discovery",
            ProviderKind::ResourceMetrics => "resource-metrics",
            ProviderKind::Environment => "environment",
        }
    }

    /// The kind implemented by the exported interface `name` (without package and version).
    pub fn from_interface(name: &str) -> Option<ProviderKind> {
        match name {
            "discovery" => Some(ProviderKind::Discovery),
            "resource-metrics" => Some(ProviderKind::ResourceMetrics),
            "environment" => Some(ProviderKind::Environment),
            _ => None,
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes provider kinds by their WIT names (`resource-metrics`), for the API and the CLI.
pub fn serialize_kinds<S: serde::Serializer>(
    kinds: &[ProviderKind],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(kinds.iter().map(|k| k.as_str()))
}
