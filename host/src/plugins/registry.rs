//! The set of plugins loaded from the plugin directory, keyed by file, and how it changes on
//! a reload: files are compared by sha256, so an unchanged plugin keeps its compiled,
//! pre-linked component, and a new file that fails to load never replaces the version that
//! was serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{LoadError, Plugin, load_bytes};
use crate::runtime::Runtime;
use crate::trust::{SIGNATURE_SUFFIX, TrustPolicy, Verdict};

#[derive(Clone, Default)]
pub struct PluginSet {
    by_file: BTreeMap<PathBuf, Arc<Plugin>>,
}

/// What a reload of the directory changed.
#[derive(Default)]
pub struct SetChange {
    pub added: Vec<String>,
    /// `name old-version -> new-version`.
    pub replaced: Vec<String>,
    pub removed: Vec<String>,
    /// Files that failed to load; where a good version was serving, it still is.
    pub refused: Vec<LoadError>,
}

impl SetChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }
}

impl PluginSet {
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.by_file.values()
    }

    pub fn by_name(&self) -> BTreeMap<String, Arc<Plugin>> {
        self.by_file
            .values()
            .map(|p| (p.name().to_owned(), p.clone()))
            .collect()
    }

    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.by_file
            .iter()
            .find(|(_, p)| p.name() == name)
            .map(|(f, _)| f.as_path())
    }

    /// Reads `dir` again and returns the new set with what changed; `self` is untouched, so a
    /// caller can still throw the result away. Trusts every valid component; see
    /// [`PluginSet::reload_trusted`].
    pub async fn reload(
        &self,
        runtime: &Arc<Runtime>,
        dir: &Path,
    ) -> std::io::Result<(PluginSet, SetChange)> {
        self.reload_trusted(runtime, dir, &TrustPolicy::default())
            .await
    }

    /// [`PluginSet::reload`] under `trust`: a file that fails it is refused like a broken
    /// one, and the version that was serving keeps serving only if it passes `trust` too.
    pub async fn reload_trusted(
        &self,
        runtime: &Arc<Runtime>,
        dir: &Path,
        trust: &TrustPolicy,
    ) -> std::io::Result<(PluginSet, SetChange)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_plugin_file(p))
            .collect();
        files.sort();
        let mut next = PluginSet::default();
        let mut change = SetChange::default();
        for file in files {
            let old = self.by_file.get(&file);
            match self.load_one(runtime, &file, old, &next, trust).await {
                Ok(plugin) => {
                    if !old.is_some_and(|o| Arc::ptr_eq(o, &plugin)) {
                        match old {
                            Some(old) => change.replaced.push(format!(
                                "{} {} -> {}",
                                plugin.name(),
                                old.info().version,
                                plugin.info().version
                            )),
                            None => change.added.push(format!(
                                "{} {}",
                                plugin.name(),
                                plugin.info().version
                            )),
                        }
                    }
                    next.by_file.insert(file, plugin);
                }
                Err(error) => {
                    change.refused.push(error);
                    // The last good version keeps serving, unless the policy no longer
                    // admits it either (a pin or key changed in the config).
                    if let Some(old) = old {
                        let info = old.info();
                        let verdict = Verdict {
                            signed_by: info.signed_by.clone(),
                        };
                        if trust.still_admits(&info.name, &info.sha256, &verdict) {
                            next.by_file.insert(file, old.clone());
                        }
                    }
                }
            }
        }
        for (file, old) in &self.by_file {
            if !next.by_file.contains_key(file) {
                change
                    .removed
                    .push(format!("{} {}", old.name(), old.info().version));
            }
        }
        Ok((next, change))
    }

    /// The plugin `file` holds now: `old` again when neither the file nor its verdict changed.
    async fn load_one(
        &self,
        runtime: &Arc<Runtime>,
        file: &Path,
        old: Option<&Arc<Plugin>>,
        next: &PluginSet,
        trust: &TrustPolicy,
    ) -> Result<Arc<Plugin>, LoadError> {
        let shown = file.display().to_string();
        let read = |source| LoadError::Read {
            path: shown.clone(),
            source,
        };
        let bytes = tokio::fs::read(file).await.map_err(read)?;
        let signature = read_signature(file).map_err(read)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // The signature is checked on the bytes, before anything is compiled or run.
        let verdict = trust
            .check_signature(&shown, &bytes, signature.as_deref())
            .map_err(LoadError::Untrusted)?;
        if let Some(old) = old
            && old.info().sha256 == sha256
        {
            trust
                .check_pin(&shown, old.name(), &sha256)
                .map_err(LoadError::Untrusted)?;
            if old.info().signed_by == verdict.signed_by {
                return Ok(old.clone());
            }
        }
        let mut plugin = load_bytes(runtime, &shown, bytes).await?;
        // Pins name plugins, so they are checked once the metadata has said which one it is.
        trust
            .check_pin(&shown, plugin.name(), &sha256)
            .map_err(LoadError::Untrusted)?;
        if let Some(other) = next.file_of(plugin.name()) {
            return Err(LoadError::DuplicateName {
                path: shown,
                name: plugin.name().to_owned(),
                other: other.display().to_string(),
            });
        }
        plugin.set_signed_by(verdict.signed_by);
        Ok(Arc::new(plugin))
    }
}

/// The text of `FILE.minisig` beside `file`, if there is one.
pub fn read_signature(file: &Path) -> std::io::Result<Option<String>> {
    let mut name = file.as_os_str().to_owned();
    name.push(SIGNATURE_SUFFIX);
    match std::fs::read_to_string(PathBuf::from(name)) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A `.wasm` file that is not a hidden temporary (uploads and copies write `.NAME.tmp` first).
pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && path.is_file()
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}
