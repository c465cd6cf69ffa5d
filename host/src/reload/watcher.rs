//! Watches the plugin directory and the config file, and asks for a reload once writes have
//! settled: an editor's save or a copy makes several events, the debouncer makes them one.
//! The cache lives under the state directory, which is not watched, so a reload's own writes
//! never trigger another.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::RecommendedWatcher;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::ReloadHandle;

/// Long enough to cover a multi-megabyte copy in several writes, short enough to feel
/// immediate.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

pub type Watcher = Debouncer<RecommendedWatcher, RecommendedCache>;

/// Starts watching; dropping the returned value stops it.
pub fn watch(
    plugin_dir: &Path,
    config: Option<&Path>,
    handle: ReloadHandle,
) -> notify_debouncer_full::notify::Result<Watcher> {
    let plugin_dir = plugin_dir.to_path_buf();
    let config_file: Option<PathBuf> =
        config.map(|c| std::path::absolute(c).unwrap_or_else(|_| c.to_path_buf()));
    let dirs = [
        Some(plugin_dir.clone()),
        config_file
            .as_ref()
            .and_then(|c| c.parent().map(Path::to_path_buf)),
    ];
    let wanted_plugin_dir = std::path::absolute(&plugin_dir).unwrap_or(plugin_dir);
    let wanted_config = config_file.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let relevant = events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Access(_)))
            .flat_map(|e| e.paths.iter())
            .any(|p| {
                // A signature belongs to its plugin: `X.wasm.minisig` changing re-checks `X.wasm`.
                let in_plugins = p.parent() == Some(wanted_plugin_dir.as_path())
                    && p.file_name().is_some_and(|n| {
                        let n = n.to_string_lossy();
                        n.ends_with(".wasm") || n.ends_with(".wasm.minisig")
                    })
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                in_plugins || wanted_config.as_deref() == Some(p.as_path())
            });
        if relevant {
            handle.request_blocking("watch");
        }
    })?;
    for dir in dirs.into_iter().flatten() {
        debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    }
    Ok(debouncer)
}
