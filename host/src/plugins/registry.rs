//! The set of plugins loaded from the plugin directory, keyed by file, and how it changes on
//! a reload: files are compared by sha256, so an unchanged plugin keeps its compiled,
//! pre-linked component, and a new file that fails to load never replaces the version that
//! was serving. A file that was refused is remembered by its digest: the same bytes are not
//! run again on the next reload (a plugin whose `metadata` loops would otherwise cost every
//! reload its full deadline). Changed files load concurrently, so one slow plugin delays a
//! reload by its own time, not by the sum of all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{LoadError, Plugin, load_bytes};
use crate::runtime::Runtime;

/// The files a load is working on right now, so readiness can say what start-up waits for.
#[derive(Clone, Default)]
pub struct LoadProgress(Arc<Mutex<BTreeMap<String, Instant>>>);

impl LoadProgress {
    fn begin(&self, file: &str) {
        if let Ok(mut files) = self.0.lock() {
            files.insert(file.to_owned(), Instant::now());
        }
    }

    fn end(&self, file: &str) {
        if let Ok(mut files) = self.0.lock() {
            files.remove(file);
        }
    }

    /// Files still loading, with how long each has taken so far.
    pub fn pending(&self) -> Vec<(String, Duration)> {
        self.0
            .lock()
            .map(|files| {
                files
                    .iter()
                    .map(|(f, at)| (f.clone(), at.elapsed()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Clone, Default)]
pub struct PluginSet {
    by_file: BTreeMap<PathBuf, Arc<Plugin>>,
    /// sha256 of refused bytes → why, for files still in the directory.
    refused: BTreeMap<String, String>,
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
    /// caller can still throw the result away.
    pub async fn reload(
        &self,
        runtime: &Arc<Runtime>,
        dir: &Path,
    ) -> std::io::Result<(PluginSet, SetChange)> {
        self.reload_tracked(runtime, dir, &LoadProgress::default())
            .await
    }

    /// [`PluginSet::reload`], telling `progress` which files are loading.
    pub async fn reload_tracked(
        &self,
        runtime: &Arc<Runtime>,
        dir: &Path,
        progress: &LoadProgress,
    ) -> std::io::Result<(PluginSet, SetChange)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_plugin_file(p))
            .collect();
        files.sort();
        let mut next = PluginSet::default();
        let mut change = SetChange::default();
        // First what needs no loading (read errors, unchanged files, remembered refusals),
        // then every new or changed file at once.
        let mut to_load = Vec::new();
        for file in files {
            let old = self.by_file.get(&file).cloned();
            let shown = file.display().to_string();
            let bytes = match tokio::fs::read(&file).await {
                Ok(bytes) => bytes,
                Err(source) => {
                    change.refused.push(LoadError::Read {
                        path: shown,
                        source,
                    });
                    if let Some(old) = old {
                        next.by_file.insert(file, old);
                    }
                    continue;
                }
            };
            let digest = hex::encode(Sha256::digest(&bytes));
            if let Some(old) = &old
                && old.info().sha256 == digest
            {
                next.by_file.insert(file, old.clone());
                continue;
            }
            if let Some(reason) = self.refused.get(&digest) {
                change.refused.push(LoadError::Remembered {
                    path: shown,
                    reason: reason.clone(),
                });
                next.refused.insert(digest, reason.clone());
                if let Some(old) = old {
                    next.by_file.insert(file, old);
                }
                continue;
            }
            to_load.push((file, shown, digest, bytes, old));
        }
        let loads = to_load
            .into_iter()
            .map(|(file, shown, digest, bytes, old)| async move {
                progress.begin(&shown);
                let result = load_bytes(runtime, &shown, bytes).await;
                progress.end(&shown);
                (file, shown, digest, old, result)
            });
        for (file, shown, digest, old, result) in futures_util::future::join_all(loads).await {
            match result {
                Ok(plugin) => {
                    if let Some(other) = next.file_of(plugin.name()) {
                        change.refused.push(LoadError::DuplicateName {
                            path: shown,
                            name: plugin.name().to_owned(),
                            other: other.display().to_string(),
                        });
                        if let Some(old) = old {
                            next.by_file.insert(file, old);
                        }
                        continue;
                    }
                    match &old {
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
                    next.by_file.insert(file, Arc::new(plugin));
                }
                Err(error) => {
                    // A file that cannot be read is worth trying again; bytes that were
                    // refused will be refused again.
                    if !matches!(error, LoadError::Read { .. }) {
                        let message = error.to_string();
                        let reason = message
                            .strip_prefix(&format!("{shown}: "))
                            .unwrap_or(&message);
                        next.refused.insert(digest, reason.to_owned());
                    }
                    change.refused.push(error);
                    if let Some(old) = old {
                        next.by_file.insert(file, old);
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
}

/// A `.wasm` file that is not a hidden temporary (uploads and copies write `.NAME.tmp` first).
pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && path.is_file()
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}
