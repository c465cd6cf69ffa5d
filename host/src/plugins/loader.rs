//! Reads `.wasm` files into [`Plugin`]s: checks the bytes, compiles, inspects the exports,
//! links, then asks the plugin for its metadata. Each step that fails says which file and why.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Needs;
use super::contract::{self, Exports};
use super::inspect::{ShapeError, WitVersion, inspect_component};
use super::plugin::{Plugin, PluginInfo};
use super::{LoadError, PluginSet};
use crate::runtime::Runtime;

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// The version/layer field that follows the magic: 1 for core modules, 0x0d plus layer 1 for
/// components.
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// The result of loading a directory: what loaded and what was refused, each with its reason.
#[derive(Default)]
pub struct LoadedDir {
    pub plugins: Vec<Arc<Plugin>>,
    pub errors: Vec<LoadError>,
}

/// Loads every `*.wasm` in `dir`, in file-name order, exactly as a reload would from nothing.
/// A bad file does not stop the others.
pub async fn load_dir(runtime: &Arc<Runtime>, dir: &Path) -> std::io::Result<LoadedDir> {
    let (set, change) = PluginSet::default().reload(runtime, dir).await?;
    Ok(LoadedDir {
        plugins: set.plugins().cloned().collect(),
        errors: change.refused,
    })
}

/// Loads one component file.
pub async fn load_file(runtime: &Arc<Runtime>, path: &Path) -> Result<Plugin, LoadError> {
    let shown = path.display().to_string();
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| LoadError::Read {
            path: shown.clone(),
            source,
        })?;
    load_bytes(runtime, &shown, bytes).await
}

/// Loads a component from memory; `path` is only for messages and [`PluginInfo::file`].
pub async fn load_bytes(
    runtime: &Arc<Runtime>,
    path: &str,
    bytes: Vec<u8>,
) -> Result<Plugin, LoadError> {
    let sha256 = hex::encode(Sha256::digest(&bytes));
    load_digested(runtime, path, bytes, sha256).await
}

/// [`load_bytes`] of bytes whose sha256 the caller knows already (a reload hashed them, or
/// knew the unchanged file's digest): `sha256` must be theirs, since it keys the cache.
pub(super) async fn load_digested(
    runtime: &Arc<Runtime>,
    path: &str,
    bytes: Vec<u8>,
    sha256: String,
) -> Result<Plugin, LoadError> {
    let path = path.to_owned();
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotWasm { path });
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(LoadError::CoreModule { path });
    }
    let size_bytes = bytes.len() as u64;

    // Compiling is CPU-bound (seconds for a large guest): keep it off the async workers.
    let compiler = runtime.clone();
    let key = sha256.clone();
    let (component, cache) = tokio::task::spawn_blocking(move || compiler.compile(&key, &bytes))
        .await
        .map_err(|e| LoadError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?
        .map_err(|e| LoadError::Invalid {
            path: path.clone(),
            reason: format!("{e:#}"),
        })?;

    let shape =
        inspect_component(runtime.engine(), &component).map_err(|e| shape_error(&path, e))?;

    let pre = runtime
        .linker()
        .instantiate_pre(&component)
        .map_err(|e| LoadError::Link {
            path: path.clone(),
            reason: format!("{e:#}"),
        })?;
    let link = |e: wasmtime::Error| LoadError::Link {
        path: path.clone(),
        reason: format!("{e:#}"),
    };
    let exports = Exports::resolve(&pre, shape.wit_version, &shape.kinds).map_err(link)?;

    let file_name = Path::new(&path)
        .file_name()
        .map_or_else(|| path.clone(), |f| f.to_string_lossy().into_owned());
    let meta = Plugin::fetch_metadata(runtime, &pre, &exports, &file_name, "(unknown version)")
        .await
        .map_err(|source| LoadError::Metadata {
            path: path.clone(),
            source: Box::new(source),
        })?;
    // The name and version go into logs, metric labels and API answers: checked like any
    // other plugin output before anything uses them.
    let meta = super::validate::metadata(meta).map_err(|reason| LoadError::BadMetadata {
        path: path.clone(),
        reason,
    })?;

    let mut declared = meta.kinds.clone();
    declared.sort_by_key(|k| k.as_str());
    declared.dedup();
    if declared != shape.kinds {
        // The exports are what the host can call; the metadata is only a claim.
        tracing::warn!(
            plugin = %meta.name,
            file = %path,
            declared = ?declared.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            exported = ?shape.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "the plugin's metadata lists other provider kinds than it exports; using its exports"
        );
    }
    let needs = Needs::parse(&meta.needs).map_err(|reason| LoadError::BadNeeds {
        path: path.clone(),
        reason,
    })?;
    let info = PluginInfo {
        needs,
        name: meta.name,
        version: meta.version,
        description: meta.description,
        wit_version: shape.wit_version,
        kinds: shape.kinds,
        settings: meta.settings,
        sha256,
        file: path,
        size_bytes,
        cache,
        signed_by: None,
    };
    Ok(Plugin::new(runtime.clone(), pre, exports, info))
}

fn shape_error(path: &str, error: ShapeError) -> LoadError {
    let path = path.to_owned();
    match error {
        ShapeError::NoKnownWorld { exports } => LoadError::NoKnownWorld {
            path,
            exports: list(&exports),
        },
        ShapeError::Unsupported { found } => LoadError::UnsupportedWitVersion {
            path,
            advice: contract::advice(WitVersion::parse(&found)),
            found,
            supported: contract::supported_range(),
        },
        ShapeError::Mixed { versions } => LoadError::MixedWitVersions {
            path,
            versions: versions.join(", "),
        },
        ShapeError::NoProviderKind { exports } => LoadError::NoProviderKind {
            path,
            exports: list(&exports),
        },
        ShapeError::NoMetadata => LoadError::NoMetadata { path },
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
