//! The precompiled-component cache: compiled artifacts on disk under the state directory,
//! keyed by the plugin's sha256 and the engine's compatibility hash, loaded by mmap.
//!
//! Deserializing runs native code that wasmtime trusts blindly, so the host only loads files
//! it wrote itself, and checks each against the sha256 it recorded beside it when writing: a
//! truncated or altered entry is removed and recompiled, never loaded. An entry that was
//! checked once and has not changed since (its [`stamps::Stamp`]: inode, size, mtime,
//! ctime) is not hashed again; nor is a plugin file (see [`stamps`]).

mod stamps;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{AllocationStrategy, Compiler};

pub use stamps::{Hashed, Stamps};

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CacheState {
    /// Loaded precompiled from the cache.
    Hit,
    /// Compiled now and written to the cache.
    Compiled,
    /// The cache entry was corrupt or unreadable; compiled again and replaced.
    Recompiled,
    /// Compiled now; no cache is configured.
    Uncached,
}

pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    stamps: Stamps,
}

/// Why a cache entry was not loaded (it is compiled again and rewritten).
#[derive(Debug, thiserror::Error)]
enum EntryError {
    #[error("no checksum: {0}")]
    NoChecksum(std::io::Error),
    #[error("unreadable: {0}")]
    Unreadable(std::io::Error),
    #[error("its checksum does not match (truncated or altered)")]
    Mismatch,
    #[error("wasmtime refused it: {0:#}")]
    Refused(wasmtime::Error),
    #[error("it changed while it was loaded")]
    Changed,
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache {
            stamps: Stamps::open(&dir),
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sha256 of the file at `path` (a plugin), without reading it when it is unchanged
    /// since it was last hashed; with `keep_bytes`, also its bytes.
    pub fn sha256_of(&self, path: &Path, keep_bytes: bool) -> std::io::Result<Hashed> {
        self.stamps.sha256_of(path, keep_bytes)
    }

    fn entry(&self, sha256: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{sha256}-{}", self.engine_key);
        (
            self.dir.join(format!("{stem}.cwasm")),
            self.dir.join(format!("{stem}.sha256")),
        )
    }

    /// The component whose sha256 is `sha256`, from the cache when a valid entry exists,
    /// else compiled by `compiler` from the bytes `wasm` returns, stored, and loaded from the
    /// entry as a warm start would. The bytes are asked for only when they must be compiled
    /// (not read at all on a hit); their sha256 must be `sha256`.
    pub fn load_or_compile_with<W, E>(
        &self,
        engine: &Engine,
        compiler: (&Compiler, AllocationStrategy),
        sha256: &str,
        wasm: impl FnOnce() -> Result<W, E>,
    ) -> Result<(Component, CacheState), E>
    where
        W: AsRef<[u8]>,
        E: From<wasmtime::Error>,
    {
        let (artifact, checksum) = self.entry(sha256);
        let mut state = CacheState::Compiled;
        if artifact.exists() {
            match self.load_verified(engine, &artifact, &checksum) {
                Ok(component) => return Ok((component, CacheState::Hit)),
                Err(reason) => {
                    tracing::warn!(entry = %artifact.display(), %reason, "discarding a cache entry; recompiling");
                    let _ = std::fs::remove_file(&artifact);
                    let _ = std::fs::remove_file(&checksum);
                    state = CacheState::Recompiled;
                }
            }
        }
        let wasm = wasm()?;
        let bytes = compiler.0.precompile(engine, compiler.1, wasm.as_ref())?;
        drop(wasm);
        // SAFETY (both): what `Engine::precompile_component` made just now, here or in our
        // own compiler child; the file is the one written from it in the directory the host
        // owns.
        let mapped = match self.store(&bytes, &artifact, &checksum) {
            #[allow(unsafe_code)]
            Ok(()) => unsafe { Component::deserialize_file(engine, &artifact) }.map_err(|error| {
                // A state directory mounted noexec cannot map code: loaded from memory
                // instead, as each start will (the entry is refused the same way).
                tracing::warn!(entry = %artifact.display(), error = %format!("{error:#}"), "cannot map the cache entry; loading it from memory");
            }),
            Err(error) => {
                tracing::warn!(entry = %artifact.display(), %error, "could not write the cache entry; the next start compiles again");
                Err(())
            }
        };
        let component = match mapped {
            Ok(component) => component,
            #[allow(unsafe_code)]
            Err(()) => unsafe { Component::deserialize(engine, &bytes) }?,
        };
        Ok((component, state))
    }

    /// Loads an entry whose bytes match the checksum written with it.
    fn load_verified(
        &self,
        engine: &Engine,
        artifact: &Path,
        checksum: &Path,
    ) -> Result<Component, EntryError> {
        let expected = std::fs::read_to_string(checksum).map_err(EntryError::NoChecksum)?;
        let checked = self
            .stamps
            .sha256_of(artifact, false)
            .map_err(EntryError::Unreadable)?;
        if checked.sha256 != expected.trim() {
            return Err(EntryError::Mismatch);
        }
        // SAFETY: the file was written by `store` below from `Component::serialize` in this
        // directory, which the host owns, and its content matches the checksum recorded then
        // (hashed now, or hashed earlier and unchanged since: same inode, size and times).
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize_file(engine, artifact) };
        let component = component.map_err(EntryError::Refused)?;
        if !Stamps::unchanged(artifact, checked.stamp) {
            return Err(EntryError::Changed);
        }
        Ok(component)
    }

    fn store(&self, bytes: &[u8], artifact: &Path, checksum: &Path) -> std::io::Result<()> {
        let tmp = artifact.with_extension("cwasm.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, artifact)?;
        // The checksum goes last: an entry without one (a crash in between) is not trusted.
        let tmp = checksum.with_extension("sha256.tmp");
        std::fs::write(&tmp, hex::encode(Sha256::digest(bytes)))?;
        std::fs::rename(&tmp, checksum)
    }

    /// Removes entries of other engines and of plugins not in `keep` (sha256s).
    pub fn prune(&self, keep: &HashSet<String>) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == Stamps::file_name() {
                continue;
            }
            let stem = name.split('.').next().unwrap_or_default();
            let keep_it = stem
                .rsplit_once('-')
                .is_some_and(|(sha, engine)| engine == self.engine_key && keep.contains(sha));
            if !keep_it && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        self.stamps.prune();
        removed
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};

    use super::*;
    use crate::{Limits, Runtime};

    /// A cache entry checked once and remembered by its stamp, then altered in place (same
    /// inode, same size, mtime put back): its ctime changed, so it is hashed again, found
    /// altered and recompiled, never loaded.
    #[test]
    fn an_entry_altered_after_its_stamp_was_remembered_is_recompiled() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut runtime = Runtime::new(Limits::default(), |_| Ok(())).expect("a runtime");
        runtime.enable_cache(dir.path().into()).expect("the cache");
        // The smallest component there is (magic, component version, layer): any component
        // exercises the cache, and the guests are built for the top crate's tests only.
        let wasm = b"\0asm\x0d\0\x01\0".to_vec();
        let sha256 = hex::encode(Sha256::digest(&wasm));
        let load = || runtime.compile(&sha256, &wasm).expect("it loads").1;
        assert_eq!(load(), CacheState::Compiled);
        std::thread::sleep(stamps::SETTLED + std::time::Duration::from_millis(100));
        assert_eq!(load(), CacheState::Hit, "hashed, then remembered");
        let index = std::fs::read_to_string(dir.path().join(Stamps::file_name())).expect("index");
        assert!(
            index.contains(".cwasm"),
            "the entry's stamp is remembered: {index}"
        );
        assert_eq!(load(), CacheState::Hit, "known by its stamp");

        let (artifact, _) = runtime.cache().expect("a cache").entry(&sha256);
        let before = std::fs::metadata(&artifact).expect("stat");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&artifact)
            .expect("open");
        file.seek(SeekFrom::Start(before.len() / 2)).expect("seek");
        file.write_all(b"\xde\xad\xbe\xef").expect("alter");
        file.set_modified(before.modified().expect("mtime"))
            .expect("put the mtime back");
        drop(file);
        let after = std::fs::metadata(&artifact).expect("stat");
        assert_eq!(
            (after.len(), after.modified().expect("mtime")),
            (before.len(), before.modified().expect("mtime"))
        );
        assert_eq!(load(), CacheState::Recompiled);
        assert_eq!(load(), CacheState::Hit);
    }
}
