//! Capabilities an operator grants one provider instance, beyond the empty sandbox.

use std::path::PathBuf;

/// Nothing by default. Granted per provider in the config, never by the plugin itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directory → the path the guest sees it at; read-only, files and directories.
    pub read_only_dirs: Vec<(PathBuf, String)>,
}

impl Grants {
    /// The empty sandbox.
    pub const NONE: Grants = Grants {
        read_only_dirs: Vec::new(),
    };
}
