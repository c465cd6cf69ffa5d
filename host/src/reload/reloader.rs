//! The reloader: one task that owns the last good config and plugin set, and serializes every
//! change to them (reloads, uploads, deletions, enabling and disabling), so two changes never
//! race. It hands the collector a new plan only when everything in it loaded and checked.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::mpsc;

use super::handle::{Command, Envelope, ManageError, ReloadHandle};
use super::history::{History, Outcome, ReloadRecord};
use super::source::ConfigSource;
use crate::collect::{Plan, PlanUpdate};
use crate::config::{ApiConfig, Config, ConfigErrors};
use carbonaut_plugins::{Plugin, PluginSet, SetChange, load_bytes};
use carbonaut_runtime::Runtime;

/// Largest plugin an upload may carry: a componentize-py guest is ~18 MB.
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// Why a reload applied nothing: the running version stays.
#[derive(Debug, thiserror::Error)]
enum ReloadError {
    #[error(transparent)]
    Source(#[from] super::source::SourceError),
    #[error("cannot read the plugin directory {}: {source}", .dir.display())]
    PluginDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{errors}{}", .refused.as_ref().map(|r| format!(" (refused: {r})")).unwrap_or_default())]
    Config {
        errors: ConfigErrors,
        refused: Option<String>,
    },
    #[error("{0}; the plugin files loaded before stay in use")]
    Settings(ConfigErrors),
    /// Plugin files refused and nothing else changed.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    State(#[from] carbonaut_store::state::StateError),
    #[error(transparent)]
    Plan(#[from] crate::collect::PlanError),
    #[error("the collector has stopped")]
    CollectorStopped,
}

pub struct Reloader {
    runtime: Arc<Runtime>,
    source: ConfigSource,
    config: Config,
    config_text: Option<String>,
    plugins: PluginSet,
    /// Reads the state directly; writes go through the gate (off the runtime, bounded).
    gate: carbonaut_store::state::WriteGate<crate::vitals::Vitals>,
    updates: mpsc::Sender<PlanUpdate>,
    history: Arc<History>,
    rx: mpsc::Receiver<Envelope>,
    /// Who asked for the command being handled, recorded on its reload.
    caller: Option<String>,
    /// Read by the API on every request; replaced when a reload applies.
    api_config: Arc<RwLock<ApiConfig>>,
}

impl Reloader {
    /// The reloader for an already loaded config and plugin set, its handle, and the channel
    /// the collector receives new plans on.
    pub fn new(
        runtime: Arc<Runtime>,
        source: ConfigSource,
        config: Config,
        config_text: Option<String>,
        plugins: PluginSet,
        gate: carbonaut_store::state::WriteGate<crate::vitals::Vitals>,
        api_config: Arc<RwLock<ApiConfig>>,
    ) -> (Reloader, ReloadHandle, mpsc::Receiver<PlanUpdate>) {
        let (tx, rx) = mpsc::channel(16);
        let (updates, plans) = mpsc::channel(4);
        let history = Arc::new(History::default());
        let handle = ReloadHandle {
            tx,
            history: history.clone(),
            caller: None,
        };
        let reloader = Reloader {
            runtime,
            source,
            config,
            config_text,
            plugins,
            gate,
            updates,
            history,
            rx,
            caller: None,
            api_config,
        };
        (reloader, handle, plans)
    }

    /// The plugins that may be used: loaded and not disabled.
    pub fn usable_plugins(
        plugins: &PluginSet,
        disabled: &BTreeSet<String>,
    ) -> BTreeMap<String, Arc<Plugin>> {
        let mut by_name = plugins.by_name();
        by_name.retain(|name, _| !disabled.contains(name));
        by_name
    }

    pub async fn run(mut self) {
        while let Some(Envelope { command, caller }) = self.rx.recv().await {
            self.caller = caller;
            match command {
                Command::Reload { trigger, reply } => {
                    let record = self.reload(trigger, Vec::new()).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(record);
                    }
                }
                Command::Upload {
                    name,
                    bytes,
                    signature,
                    reply,
                } => {
                    let started = Instant::now();
                    let result = self.upload(&name, bytes, signature).await;
                    if let Err(ManageError::Invalid(reason)) = &result {
                        // A refused upload is a reload that did not happen: counted and
                        // listed like one, so a tampered or unsigned upload leaves a trace.
                        self.history.push(ReloadRecord {
                            at_ms: carbonaut_model::clock::now_ms(),
                            trigger: "upload",
                            outcome: Outcome::RolledBack,
                            reason: Some(reason.clone()),
                            items: Vec::new(),
                            duration_ms: started.elapsed().as_millis() as u64,
                            caller: self.caller.clone(),
                        });
                        tracing::warn!(plugin = %name, %reason, caller = ?self.caller, "upload refused; the last good version keeps serving");
                    }
                    let _ = reply.send(result);
                }
                Command::Delete { name, reply } => {
                    let _ = reply.send(self.delete(&name).await);
                }
                Command::SetDisabled {
                    name,
                    disabled,
                    reply,
                } => {
                    let _ = reply.send(self.set_disabled(&name, disabled).await);
                }
            }
        }
    }

    async fn reload(&mut self, trigger: &'static str, mut items: Vec<String>) -> ReloadRecord {
        let started = Instant::now();
        let caller = self.caller.clone();
        let finish = |outcome, reason: Option<String>, items: Vec<String>| ReloadRecord {
            at_ms: carbonaut_model::clock::now_ms(),
            trigger,
            caller: caller.clone(),
            outcome,
            reason,
            items,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let record = match self.try_reload(&mut items).await {
            Ok(Some(refused)) => finish(Outcome::Applied, refused, items),
            Ok(None) => finish(Outcome::NothingToDo, None, items),
            Err(error) => finish(Outcome::RolledBack, Some(error.to_string()), items),
        };
        match record.outcome {
            Outcome::Applied => {
                tracing::info!(trigger, caller = ?record.caller, items = ?record.items, refused = ?record.reason, "reload applied")
            }
            Outcome::RolledBack => tracing::warn!(
                trigger,
                caller = ?record.caller,
                reason = record.reason.as_deref().unwrap_or(""),
                "reload rolled back; the last good version keeps serving"
            ),
            Outcome::NothingToDo => tracing::debug!(trigger, "reload: nothing to do"),
        }
        self.history.push(record.clone());
        record
    }

    /// Ok(Some(refused)) when something was applied (with what was refused alongside, if
    /// anything), Ok(None) when nothing changed, Err(reason) when nothing was applied because
    /// of an error.
    async fn try_reload(
        &mut self,
        items: &mut Vec<String>,
    ) -> Result<Option<Option<String>>, ReloadError> {
        let (mut config, text) = self.source.load()?;
        // Files the config points at (the JWKS) count as part of it: a rotated key set
        // applies at the next reload even when the config text stayed the same.
        let config_changed = text != self.config_text || config.auth != self.config.auth;
        let (plugins, change) = self
            .plugins
            .reload_with(
                &self.runtime,
                &config.plugin_dir,
                &config.trust,
                &carbonaut_plugins::LoadProgress::default(),
            )
            .await
            .map_err(|source| ReloadError::PluginDir {
                dir: config.plugin_dir.clone(),
                source,
            })?;
        let refused: Vec<String> = change.refused.iter().map(ToString::to_string).collect();
        let refused = (!refused.is_empty()).then(|| refused.join("; "));
        if config_changed {
            config
                .check_plugins(&plugins.declarations())
                // A plugin the new config does not trust is missing for it: say why.
                .map_err(|errors| ReloadError::Config {
                    errors,
                    refused: refused.clone(),
                })?;
            if config.listen != self.config.listen
                || config.state_dir != self.config.state_dir
                || config.tls != self.config.tls
                || config.carbon_aware_prefix != self.config.carbon_aware_prefix
            {
                items.push(
                    "listen, carbon_aware_prefix, state_dir and tls changes take effect at the \
                     next restart"
                        .into(),
                );
            }
            // The pruner and the state were set up for the running shard: keep it.
            if config.cluster != self.config.cluster {
                items.push("[cluster] changes take effect at the next restart".into());
                config.cluster = self.config.cluster;
            }
            if config.limits != self.config.limits {
                items.push("[limits] changed".into());
            }
            describe_config_change(&self.config, &config, items);
        } else {
            // A new version of a plugin may no longer declare a key the config sets: refused
            // like a bad config, so the version that agreed with it stays in use.
            config
                .check_settings(&plugins.declarations())
                .map_err(ReloadError::Settings)?;
        }
        describe_plugin_change(&change, items);
        if items.is_empty() {
            return match refused {
                Some(reasons) => Err(ReloadError::Refused(reasons)),
                None => Ok(None),
            };
        }
        let disabled = self.gate.store().disabled_plugins()?;
        let usable = Self::usable_plugins(&plugins, &disabled);
        let plan = Plan::from_config(&config, &usable)?;
        for provider in plan.providers() {
            if let Err(reason) = &provider.plugin {
                let item = format!("provider {} down: {reason}", provider.name);
                if !items.contains(&item) {
                    items.push(item);
                }
            }
        }
        let (applied, on_applied) = tokio::sync::oneshot::channel();
        let update = PlanUpdate {
            plan,
            plugins: plugins.plugins().cloned().collect(),
            disabled,
            applied: Some(applied),
        };
        self.updates
            .send(update)
            .await
            .map_err(|_| ReloadError::CollectorStopped)?;
        // Answer once the collector took the plan (after the step it is in, at most one
        // collection): a client reading the plugins right after "applied" sees the new set.
        on_applied
            .await
            .map_err(|_| ReloadError::CollectorStopped)?;
        if let Some(cache) = self.runtime.cache() {
            let keep: HashSet<String> =
                plugins.plugins().map(|p| p.info().sha256.clone()).collect();
            cache.prune(&keep);
        }
        *carbonaut_model::sync::write(&self.api_config) = ApiConfig::of(&config);
        self.config = config;
        self.config_text = text;
        self.plugins = plugins;
        Ok(Some(refused))
    }

    async fn upload(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        signature: Option<String>,
    ) -> Result<ReloadRecord, ManageError> {
        validate_name(name)?;
        if bytes.len() > MAX_UPLOAD_BYTES {
            return Err(ManageError::Invalid(format!(
                "the upload is {} bytes; the limit is {MAX_UPLOAD_BYTES}",
                bytes.len()
            )));
        }
        // Pin and signature are checked before the upload is compiled or written: the name
        // in the URL must be the metadata's (checked below), so its pin applies.
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        self.config
            .trust
            .check(
                &format!("{name}.wasm (upload)"),
                name,
                &sha256,
                &bytes,
                signature.as_deref(),
            )
            .map_err(|e| ManageError::Invalid(e.to_string()))?;
        // Validated exactly as a dropped file is loaded; the compiled result lands in the
        // cache, so the reload below does not compile it again.
        let plugin = load_bytes(
            &self.runtime,
            &format!("{name}.wasm (upload)"),
            bytes.clone(),
        )
        .await
        .map_err(|e| ManageError::Invalid(e.to_string()))?;
        if plugin.name() != name {
            return Err(ManageError::Invalid(format!(
                "the component's metadata names it `{}`; upload it as /api/v1/plugins/{}",
                plugin.name(),
                plugin.name()
            )));
        }
        let dest = self
            .plugins
            .file_of(name)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.config.plugin_dir.join(format!("{name}.wasm")));
        let mut sig_dest = dest.clone().into_os_string();
        sig_dest.push(carbonaut_plugins::trust::SIGNATURE_SUFFIX);
        let sig_dest = std::path::PathBuf::from(sig_dest);
        // The signature goes first: a watcher that sees the new .wasm finds its signature.
        // An upload without one removes the old one, which signed other bytes.
        let written = match &signature {
            Some(text) => write_atomically(&self.config.plugin_dir, &sig_dest, text.as_bytes()),
            None => match std::fs::remove_file(&sig_dest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        written
            .and_then(|()| write_atomically(&self.config.plugin_dir, &dest, &bytes))
            .map_err(|e| ManageError::Failed(format!("cannot write {}: {e}", dest.display())))?;
        Ok(self.reload("upload", Vec::new()).await)
    }

    /// Removes the plugin's file and its detached signature, and reloads. When the reload
    /// rolls back (a config edited into an invalid one meanwhile, say), both files are put
    /// back: the plugin that keeps serving is still there after a restart.
    async fn delete(&mut self, name: &str) -> Result<ReloadRecord, ManageError> {
        let file = self
            .plugins
            .file_of(name)
            .map(Path::to_path_buf)
            .ok_or_else(|| not_loaded(name))?;
        let mut signature = file.clone().into_os_string();
        signature.push(carbonaut_plugins::trust::SIGNATURE_SUFFIX);
        let signature = std::path::PathBuf::from(signature);
        let mut removed = Vec::new();
        for path in [file, signature] {
            // Already gone (removed by hand, the watcher not yet through): the reload below
            // is what is left to do.
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(cannot_remove(&path, &e)),
            };
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    self.put_back(&removed);
                    return Err(cannot_remove(&path, &e));
                }
                _ => removed.push((path, bytes)),
            }
        }
        let record = self.reload("delete", Vec::new()).await;
        if record.outcome == Outcome::RolledBack {
            self.put_back(&removed);
        }
        Ok(record)
    }

    /// Writes back the files a delete removed, when it did not apply.
    fn put_back(&self, removed: &[(std::path::PathBuf, Vec<u8>)]) {
        for (path, bytes) in removed {
            if let Err(error) = write_atomically(&self.config.plugin_dir, path, bytes) {
                tracing::error!(file = %path.display(), %error, "a delete that did not apply cannot put its file back");
            }
        }
    }

    async fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
    ) -> Result<ReloadRecord, ManageError> {
        if self.plugins.file_of(name).is_none() {
            return Err(not_loaded(name));
        }
        let already = self
            .gate
            .store()
            .disabled_plugins()
            .map_err(|e| ManageError::Failed(e.to_string()))?
            .contains(name);
        let plugin = name.to_owned();
        self.gate
            .write("plugins", self.config.state.write_timeout, move |store| {
                store.set_plugin_disabled(&plugin, disabled)
            })
            .await
            .map_err(|e| ManageError::Failed(e.to_string()))?;
        let (trigger, items) = match (disabled, already) {
            (true, false) => ("disable", vec![format!("plugin disabled: {name}")]),
            (false, true) => ("enable", vec![format!("plugin enabled: {name}")]),
            (true, true) => ("disable", Vec::new()),
            (false, false) => ("enable", Vec::new()),
        };
        Ok(self.reload(trigger, items).await)
    }
}

/// Writes a hidden temporary in `dir`, then renames it over `dest`.
fn write_atomically(dir: &Path, dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp"));
    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, dest))
}

fn cannot_remove(path: &Path, error: &std::io::Error) -> ManageError {
    ManageError::Failed(format!("cannot remove {}: {error}", path.display()))
}

fn not_loaded(name: &str) -> ManageError {
    ManageError::NotFound(format!(
        "no plugin named `{name}` is loaded; GET /api/v1/plugins lists them"
    ))
}

/// Plugin names become file names: lowercase letters, digits, `-` and `_` only.
fn validate_name(name: &str) -> Result<(), ManageError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_']);
    if ok {
        Ok(())
    } else {
        Err(ManageError::Invalid(format!(
            "`{name}` is not a valid plugin name: use 1 to 64 lowercase letters, digits, `-` or `_`"
        )))
    }
}

fn describe_plugin_change(change: &SetChange, items: &mut Vec<String>) {
    items.extend(change.added.iter().map(|p| format!("plugin added: {p}")));
    items.extend(
        change
            .replaced
            .iter()
            .map(|p| format!("plugin replaced: {p}")),
    );
    items.extend(
        change
            .removed
            .iter()
            .map(|p| format!("plugin removed: {p}")),
    );
}

fn describe_config_change(old: &Config, new: &Config, items: &mut Vec<String>) {
    diff_maps("provider", &old.providers, &new.providers, items);
    diff_maps("account", &old.accounts, &new.accounts, items);
    if old.environment != new.environment {
        items.push("environment changed".into());
    }
    if old.intervals != new.intervals {
        items.push("intervals changed".into());
    }
    if old.auth != new.auth {
        items.push("auth changed".into());
    }
    if old.trust != new.trust {
        items.push("plugin pins or trusted keys changed".into());
    }
    if old.reports != new.reports {
        items.push("[reports] changed".into());
    }
}

fn diff_maps<T: PartialEq>(
    what: &str,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    items: &mut Vec<String>,
) {
    for (name, value) in new {
        match old.get(name) {
            None => items.push(format!("{what} added: {name}")),
            Some(previous) if previous != value => items.push(format!("{what} changed: {name}")),
            Some(_) => {}
        }
    }
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        items.push(format!("{what} removed: {name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_cannot_escape_the_directory() {
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            "..",
            "UPPER",
            "-x",
            "x.wasm",
            &"a".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["mock-cloud", "a", "grid_2"] {
            assert!(validate_name(good).is_ok(), "{good:?} refused");
        }
    }
}
