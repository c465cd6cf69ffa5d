//! Capabilities and limits an operator grants one provider instance, beyond the empty sandbox.
//! What a plugin asks for in its metadata narrows these further (see `plugins::needs`).

use std::path::PathBuf;

use super::Limits;
use super::http::HttpOrigin;
use super::tls_roots::TlsRoots;
use carbonaut_model::text::Secrets;

/// Nothing by default. Granted per provider in the config, never by the plugin itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directory → the path the guest sees it at; read-only, files and directories.
    pub read_only_dirs: Vec<(PathBuf, String)>,
    /// Origins outgoing `wasi:http` requests may reach.
    pub http: Vec<HttpOrigin>,
    /// The operator's `allow_http` before the plugin's needs narrowed it to `http`: never
    /// granted, only read to tell which side lacks an origin a request was refused.
    pub http_offered: Vec<HttpOrigin>,
    /// Roots HTTPS requests trust instead of the public ones (a private CA), when set.
    pub tls_roots: Option<TlsRoots>,
    /// The key-value namespace (the provider instance's name), when the store is granted.
    pub key_value: Option<String>,
    /// This instance's limits, when the operator overrode the global ones.
    pub limits: Option<Limits>,
    /// The resolved secrets of this instance's settings and of its accounts' settings: what
    /// its plugin says (errors, log lines) is scrubbed of them.
    pub secrets: Secrets,
}

impl Grants {
    /// The empty sandbox under the runtime's limits.
    pub const NONE: Grants = Grants {
        read_only_dirs: Vec::new(),
        http: Vec::new(),
        http_offered: Vec::new(),
        tls_roots: None,
        key_value: None,
        limits: None,
        secrets: Secrets::NONE,
    };
}
