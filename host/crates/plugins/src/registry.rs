//! The set of plugins loaded from the plugin directory, keyed by file, and how it changes on
//! a reload: files are compared by sha256, so an unchanged plugin keeps its compiled,
//! pre-linked component, and a new file that fails to load never replaces the version that
//! was serving. A file that was refused is remembered by its digest: the same bytes are not
//! run again on the next reload (a plugin whose `metadata` loops would otherwise cost every
//! reload its full deadline). Changed files load concurrently, each in its own task (so on
//! several cores at once), so one slow plugin delays a reload by its own time, not by the
//! sum of all. A file unchanged since it was last hashed (same inode, size and times) is
//! known by its remembered sha256 (`CompileCache::sha256_of`).

use carbonaut_model::sync::lock;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::loader::{Source, load_digested};
use super::{LoadError, Plugin};
use crate::trust::{SIGNATURE_SUFFIX, TrustPolicy, Verdict};
use carbonaut_runtime::Runtime;

/// A file loading longer than this is named in the log.
const SLOW_LOAD: Duration = Duration::from_secs(1);

/// The files a load is working on right now, so readiness can say what start-up waits for.
#[derive(Clone, Default)]
pub struct LoadProgress(Arc<Mutex<BTreeMap<String, Instant>>>);

impl LoadProgress {
    fn begin(&self, file: &str) {
        lock(&self.0).insert(file.to_owned(), Instant::now());
    }

    fn end(&self, file: &str) {
        lock(&self.0).remove(file);
    }

    /// Files still loading, with how long each has taken so far.
    pub fn pending(&self) -> Vec<(String, Duration)> {
        lock(&self.0)
            .iter()
            .map(|(f, at)| (f.clone(), at.elapsed()))
            .collect()
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

    /// What a config is checked against: each loaded plugin's kinds and declared settings.
    pub fn declarations(&self) -> BTreeMap<String, carbonaut_model::PluginDeclaration> {
        self.by_file
            .values()
            .map(|p| {
                let info = p.info();
                let declaration = carbonaut_model::PluginDeclaration {
                    kinds: info.kinds.clone(),
                    settings: info.settings.clone(),
                };
                (info.name.clone(), declaration)
            })
            .collect()
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
    /// [`PluginSet::reload_with`].
    pub async fn reload(
        &self,
        runtime: &Arc<Runtime>,
        dir: &Path,
    ) -> std::io::Result<(PluginSet, SetChange)> {
        self.reload_with(
            runtime,
            dir,
            &TrustPolicy::default(),
            &LoadProgress::default(),
        )
        .await
    }

    /// [`PluginSet::reload`] under `trust` (a file that fails it is refused like a broken
    /// one, and the version that was serving keeps serving only if it passes `trust` too),
    /// telling `progress` which files are loading.
    pub async fn reload_with(
        &self,
        runtime: &Arc<Runtime>,
        dir: &Path,
        trust: &TrustPolicy,
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
        // What stays as it was or is refused without running anything, then every new or
        // changed file at once.
        let mut to_load = Vec::new();
        for file in files {
            let old = self.by_file.get(&file).cloned();
            match self.triage(runtime, &file, old.as_ref(), trust, &mut next) {
                Ok(Triage::Keep(plugin)) => {
                    next.by_file.insert(file, plugin);
                }
                Ok(Triage::Load(job)) => to_load.push((file, old, job)),
                Err(error) => {
                    change.refused.push(error);
                    keep_if_admitted(&mut next, file, old, trust);
                }
            }
        }
        let loads = to_load.into_iter().map(|(file, old, job)| {
            let Job {
                shown,
                sha256,
                source,
                signed_by,
            } = job;
            // A task each: compiling runs on blocking threads anyway, but deserializing,
            // linking and the `metadata` call run on the task's own worker.
            let task = tokio::spawn({
                let (runtime, progress) = (runtime.clone(), progress.clone());
                let (shown, sha256) = (shown.clone(), sha256.clone());
                async move {
                    progress.begin(&shown);
                    // /readyz says only how many files are loading (its callers are not
                    // authenticated yet); which one is slow is the log's to say. A task of
                    // its own: a guest running until its deadline does not yield this one.
                    let slow = tokio::spawn({
                        let shown = shown.clone();
                        async move {
                            tokio::time::sleep(SLOW_LOAD).await;
                            tracing::info!(file = %shown, "a plugin file is still loading after {} s (compiling, or its metadata call is slow); readiness waits for it", SLOW_LOAD.as_secs());
                        }
                    });
                    let result = load_digested(&runtime, &shown, source, sha256).await;
                    slow.abort();
                    progress.end(&shown);
                    result
                }
            });
            async move {
                let result = task.await.unwrap_or_else(|error| {
                    Err(LoadError::Invalid {
                        path: shown.clone(),
                        reason: format!("loading it failed: {error}"),
                    })
                });
                (file, old, shown, sha256, signed_by, result)
            }
        });
        for (file, old, shown, sha256, signed_by, result) in
            futures_util::future::join_all(loads).await
        {
            let checked = result.and_then(|plugin| {
                // Pins name plugins, so they are checked once the metadata has said which.
                trust
                    .check_pin(&shown, plugin.name(), &sha256)
                    .map_err(LoadError::Untrusted)?;
                if let Some(other) = next.file_of(plugin.name()) {
                    return Err(LoadError::DuplicateName {
                        path: shown.clone(),
                        name: plugin.name().to_owned(),
                        other: other.display().to_string(),
                    });
                }
                Ok(plugin)
            });
            match checked {
                Ok(mut plugin) => {
                    plugin.set_signed_by(signed_by);
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
                    // Bytes refused for what they are will be refused again: remembered by
                    // digest. Not a read error (worth retrying), a name clash (depends on
                    // the other files) or a trust refusal (depends on the config and the
                    // signature file).
                    if !matches!(
                        error,
                        LoadError::Read { .. }
                            | LoadError::DuplicateName { .. }
                            | LoadError::Untrusted(_)
                    ) {
                        let message = error.to_string();
                        let reason = message
                            .strip_prefix(&format!("{shown}: "))
                            .unwrap_or(&message);
                        next.refused.insert(sha256, reason.to_owned());
                    }
                    change.refused.push(error);
                    keep_if_admitted(&mut next, file, old, trust);
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

    /// What `file` needs: nothing (`old` again, when neither the bytes nor their signature
    /// changed), a load, or a refusal that runs nothing (unreadable, a bad signature, bytes
    /// refused before).
    fn triage(
        &self,
        runtime: &Runtime,
        file: &Path,
        old: Option<&Arc<Plugin>>,
        trust: &TrustPolicy,
        next: &mut PluginSet,
    ) -> Result<Triage, LoadError> {
        let shown = file.display().to_string();
        let read = |source| LoadError::Read {
            path: shown.clone(),
            source,
        };
        let signature = read_signature(file).map_err(read)?;
        // The bytes are read only to check a signature (or when the digest is not known by
        // the file's stamp); the load reads them if it has to compile.
        let hashed = runtime
            .hash_plugin(file, trust.reads_bytes(signature.as_deref()))
            .map_err(read)?;
        let sha256 = hashed.sha256;
        // The signature is checked on the bytes, before anything is compiled or run.
        let verdict = trust
            .check_signature(
                &shown,
                hashed.bytes.as_deref().unwrap_or_default(),
                signature.as_deref(),
            )
            .map_err(LoadError::Untrusted)?;
        if let Some(old) = old
            && old.info().sha256 == sha256
        {
            trust
                .check_pin(&shown, old.name(), &sha256)
                .map_err(LoadError::Untrusted)?;
            if old.info().signed_by == verdict.signed_by {
                return Ok(Triage::Keep(old.clone()));
            }
        }
        if let Some(reason) = self.refused.get(&sha256) {
            next.refused.insert(sha256, reason.clone());
            return Err(LoadError::Remembered {
                path: shown,
                reason: reason.clone(),
            });
        }
        let source = match hashed.bytes {
            Some(bytes) => Source::Bytes(bytes),
            None => Source::File(file.to_path_buf(), hashed.size),
        };
        Ok(Triage::Load(Job {
            shown,
            sha256,
            source,
            signed_by: verdict.signed_by,
        }))
    }
}

enum Triage {
    Keep(Arc<Plugin>),
    Load(Job),
}

/// A file to compile and ask for its metadata.
struct Job {
    shown: String,
    sha256: String,
    source: Source,
    signed_by: Option<String>,
}

/// The last good version keeps serving, unless the policy no longer admits it either (a pin
/// or key changed in the config).
fn keep_if_admitted(
    next: &mut PluginSet,
    file: PathBuf,
    old: Option<Arc<Plugin>>,
    trust: &TrustPolicy,
) {
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
