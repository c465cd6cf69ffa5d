//! Reads `.wasm` files into [`Plugin`]s: checks the bytes, compiles, inspects the exports,
//! links, then asks the plugin for its metadata. Each step that fails says which file and why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Needs;
use super::contract::{self, Exports};
use super::inspect::{ShapeError, WitVersion, inspect_component};
use super::plugin::{Plugin, PluginInfo};
use super::{CallErrorKind, LoadError, PluginSet};
use carbonaut_runtime::Runtime;

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
    load_digested(runtime, path, Source::Bytes(bytes), sha256).await
}

/// Where a load finds the component's bytes.
pub(super) enum Source {
    Bytes(Vec<u8>),
    /// Read only if the cache has no entry for the digest: a warm start does not read a large
    /// plugin it knows by its stamp. The file's size is given.
    File(PathBuf, u64),
}

/// Why compiling stopped: a load error with its own message, or the compiler's.
enum CompileError {
    Load(LoadError),
    Wasm(wasmtime::Error),
}

impl From<wasmtime::Error> for CompileError {
    fn from(error: wasmtime::Error) -> Self {
        CompileError::Wasm(error)
    }
}

/// [`load_bytes`] of a component whose sha256 the caller knows already (a reload hashed
/// its bytes, or knew the unchanged file's digest): `sha256` must be theirs, since it keys
/// the cache.
pub(super) async fn load_digested(
    runtime: &Arc<Runtime>,
    path: &str,
    source: Source,
    sha256: String,
) -> Result<Plugin, LoadError> {
    let path = path.to_owned();
    let size_bytes = match &source {
        Source::Bytes(bytes) => {
            check_magic(&path, bytes)?;
            bytes.len() as u64
        }
        Source::File(_, size) => *size,
    };

    // Compiling is CPU-bound (seconds for a large guest): keep it off the async workers.
    let compiler = runtime.clone();
    let (key, shown) = (sha256.clone(), path.clone());
    let compiled = tokio::task::spawn_blocking(move || {
        compiler.compile_with(&key, || match source {
            Source::Bytes(bytes) => Ok(bytes),
            Source::File(file, _) => {
                let read = compiler
                    .hash_plugin(&file, true)
                    .map_err(|source| LoadError::Read {
                        path: shown.clone(),
                        source,
                    })
                    .map_err(CompileError::Load)?;
                if read.sha256 != key {
                    // Rewritten since the reload looked at it: the watcher reloads it again.
                    return Err(CompileError::Load(LoadError::Read {
                        path: shown.clone(),
                        source: std::io::Error::other("the file changed while it was loading"),
                    }));
                }
                let bytes = read.bytes.unwrap_or_default();
                check_magic(&shown, &bytes).map_err(CompileError::Load)?;
                Ok(bytes)
            }
        })
    })
    .await
    .map_err(|e| LoadError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let (component, cache) = compiled.map_err(|error| match error {
        CompileError::Load(error) => error,
        CompileError::Wasm(e) => LoadError::Invalid {
            path: path.clone(),
            reason: format!("{e:#}"),
        },
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
    let contract = contract::Contract::of(shape.wit_version).ok_or_else(|| LoadError::Link {
        path: path.clone(),
        reason: format!(
            "contract {} is not one this host runs ({})",
            shape.wit_version,
            contract::supported_range()
        ),
    })?;
    let exports = Exports::resolve(&pre, contract, &shape.kinds).map_err(link)?;

    let file_name = Path::new(&path)
        .file_name()
        .map_or_else(|| path.clone(), |f| f.to_string_lossy().into_owned());
    // The name and version go into logs, metric labels and API answers: `fetch_metadata`
    // checks them like any other plugin output before anything uses them.
    let meta = Plugin::fetch_metadata(runtime, &pre, &exports, &file_name, "(unknown version)")
        .await
        .map_err(|source| match source.kind {
            CallErrorKind::BadMetadata(source) => LoadError::BadMetadata {
                path: path.clone(),
                source,
            },
            _ => LoadError::Metadata {
                path: path.clone(),
                source: Box::new(source),
            },
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
    let needs = Needs::parse(&meta.needs).map_err(|source| LoadError::BadNeeds {
        path: path.clone(),
        source,
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

/// A component starts with the magic bytes and the component layer.
fn check_magic(path: &str, bytes: &[u8]) -> Result<(), LoadError> {
    let path = path.to_owned();
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotWasm { path });
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(LoadError::CoreModule { path });
    }
    Ok(())
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
