//! The one wasmtime [`Engine`] of the process, its epoch ticker and the linker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use super::limits::EPOCH_TICK;
use super::{CacheState, CompileCache, Compiler, Grants, HostState, KeyValueStore, Limits};
use wasmtime::component::Component;

/// Where instances get their memory from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocationStrategy {
    /// Pre-reserved slots: instantiation in microseconds. Needs several TiB of virtual address
    /// space, which `ulimit -v` or a 32-bit host may deny.
    Pooling,
    /// mmap per instance: slower to instantiate, works everywhere.
    OnDemand,
}

/// Slots in the pool. Each call takes one instance for its duration, so this bounds the calls
/// in flight across all plugins; 1000 is far above what collection needs (a few per account)
/// and costs only address space.
const POOL_INSTANCES: u32 = 1000;
/// wit-bindgen components hold a handful of core instances each (the module plus shims).
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 8;

/// The engine or its linker could not be set up: which step, and wasmtime's error.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source:#}")]
pub struct RuntimeError {
    step: &'static str,
    source: wasmtime::Error,
}

impl RuntimeError {
    pub fn new(step: &'static str, source: wasmtime::Error) -> Self {
        RuntimeError { step, source }
    }
}

/// The engine, the linker and the limits every plugin call runs under.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    strategy: AllocationStrategy,
    cache: Option<CompileCache>,
    compiler: Compiler,
    key_value: Option<KeyValueStore>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Builds the engine with the pooling allocator, falling back to on-demand allocation when
    /// the address space cannot hold the pool. `imports` adds the contract's own imports to a
    /// linker that already has WASI and `wasi:http` (`carbonaut_plugins::new_runtime` passes
    /// every contract version's).
    pub fn new(
        limits: Limits,
        imports: impl FnOnce(&mut Linker<HostState>) -> Result<(), RuntimeError>,
    ) -> Result<Self, RuntimeError> {
        let (engine, strategy) = match Engine::new(&engine_config(true)) {
            Ok(engine) => (engine, AllocationStrategy::Pooling),
            Err(error) => {
                tracing::warn!(%error, "the pooling allocator is unavailable; instantiating on demand");
                let engine = Engine::new(&engine_config(false))
                    .map_err(|e| RuntimeError::new("creating the wasmtime engine", e))?;
                (engine, AllocationStrategy::OnDemand)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::new("linking WASI p2", e))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::new("linking wasi:http", e))?;
        imports(&mut linker)?;
        let ticker = EpochTicker::start(&engine);
        Ok(Runtime {
            engine,
            linker,
            limits,
            strategy,
            cache: None,
            compiler: Compiler::InProcess,
            key_value: None,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Caches compiled components in `dir` from now on (see [`CompileCache`]).
    pub fn enable_cache(&mut self, dir: std::path::PathBuf) -> std::io::Result<()> {
        self.cache = Some(CompileCache::new(&self.engine, dir)?);
        Ok(())
    }

    /// Backs the `key-value` import with `tree` (namespaced per provider instance); without
    /// it, the store is denied to every plugin. Plugins must be the tree's only writers, and
    /// only through this runtime: it counts each namespace's bytes in memory.
    pub fn enable_key_value(&mut self, tree: sled::Tree) {
        self.key_value = Some(KeyValueStore::new(tree));
    }

    /// Compiles in a child process of `exe` from now on (see [`Compiler`]): the daemon's way.
    pub fn compile_in_child(&mut self, exe: std::path::PathBuf) {
        self.compiler = Compiler::Child { exe };
    }

    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    /// The sha256 of the plugin file `path`, and its bytes when `keep_bytes` (or when they
    /// were read anyway). With a cache, the digest of a file unchanged since it was last
    /// hashed is remembered rather than computed again (see [`CompileCache::sha256_of`]); it
    /// is always the digest of the bytes returned.
    pub fn hash_plugin(
        &self,
        path: &std::path::Path,
        keep_bytes: bool,
    ) -> std::io::Result<super::Hashed> {
        match &self.cache {
            Some(cache) => cache.sha256_of(path, keep_bytes),
            None => {
                let bytes = std::fs::read(path)?;
                Ok(super::Hashed {
                    sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                    size: bytes.len() as u64,
                    bytes: Some(bytes),
                    stamp: None,
                    hashed: true,
                })
            }
        }
    }

    /// Compiles `wasm`, or loads it precompiled when the cache holds it. CPU-bound: call it
    /// from a blocking thread.
    pub fn compile(&self, sha256: &str, wasm: &[u8]) -> wasmtime::Result<(Component, CacheState)> {
        self.compile_with(sha256, || Ok::<_, wasmtime::Error>(wasm))
    }

    /// [`Runtime::compile`] asking for the bytes only when it must compile them (not on a
    /// cache hit); `wasm` must return bytes whose sha256 is `sha256`.
    pub fn compile_with<W, E>(
        &self,
        sha256: &str,
        wasm: impl FnOnce() -> Result<W, E>,
    ) -> Result<(Component, CacheState), E>
    where
        W: AsRef<[u8]>,
        E: From<wasmtime::Error>,
    {
        let Some(cache) = &self.cache else {
            let wasm = wasm()?;
            let component = match &self.compiler {
                Compiler::InProcess => Component::from_binary(&self.engine, wasm.as_ref())?,
                child => {
                    let bytes = child.precompile(&self.engine, self.strategy, wasm.as_ref())?;
                    // SAFETY: made by `Engine::precompile_component` in our own compiler
                    // child, from an engine configured as this one.
                    #[allow(unsafe_code)]
                    unsafe {
                        Component::deserialize(&self.engine, &bytes)?
                    }
                }
            };
            return Ok((component, CacheState::Uncached));
        };
        cache.load_or_compile_with(&self.engine, (&self.compiler, self.strategy), sha256, wasm)
    }

    pub fn allocation_strategy(&self) -> AllocationStrategy {
        self.strategy
    }

    /// The limits a call under `grants` runs with: the instance's own, else the runtime's.
    pub fn limits_for(&self, grants: &Grants) -> Limits {
        grants.limits.unwrap_or(self.limits)
    }

    /// A fresh store for one call of `plugin`, with the memory cap and the deadline armed and
    /// `grants` opened.
    pub fn new_store(
        &self,
        plugin: Arc<str>,
        grants: &Grants,
    ) -> Result<Store<HostState>, super::GrantError> {
        let limits = self.limits_for(grants);
        let state = HostState::new(plugin, &limits, grants, self.key_value.as_ref())?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();
        Ok(store)
    }
}

/// The pool's memory slots fit the largest limit a provider may be given (`memory_mib` up to
/// 4096): on 64-bit hosts wasmtime reserves 4 GiB of address space per slot anyway, and the
/// per-call limiter enforces each instance's own limit.
const POOL_MAX_MEMORY_BYTES: usize = 4 << 30;

pub(crate) fn engine_config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * POOL_CORE_INSTANCES_PER_COMPONENT)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 2)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(POOL_MAX_MEMORY_BYTES);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] so that deadlines fire; stops when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("carbonaut-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::error!("could not start the epoch thread: plugin call deadlines are off");
        }
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
