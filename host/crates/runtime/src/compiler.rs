//! Where a plugin's WebAssembly becomes native code: in this process, or in a child process
//! of the same binary.
//!
//! The daemon compiles in a child. Cranelift's code and its working memory then never join
//! the daemon's resident set: a daemon that compiled its plugins at start-up held about 6 MiB
//! more for the rest of its life than one that found them in the cache (the touched compiler
//! pages, and heap left behind between long-lived allocations). A compiler that panics, or
//! runs out of memory on a hostile module, ends the child, and the load fails with its
//! message. Tools that run once (`plugin check`, `check-config`) compile in process.
//!
//! The child is `EXE __compile-component pooling|on-demand`: the wasm on standard input, the
//! serialized component on standard output, the compiler's error on standard error. Its
//! engine is built from the same configuration as the parent's, and wasmtime refuses an
//! artifact whose engine does not match when it is loaded.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use wasmtime::Engine;

use super::AllocationStrategy;

/// The first argument that makes the binary a compiler child (see [`serve_child`]).
pub const CHILD_ARG: &str = "__compile-component";

/// How [`crate::Runtime`] compiles.
#[derive(Debug, Clone, Default)]
pub enum Compiler {
    #[default]
    InProcess,
    /// `exe` started with [`CHILD_ARG`] for each compilation.
    Child { exe: PathBuf },
}

impl Compiler {
    /// The serialized component for `wasm`, as [`Engine::precompile_component`] makes it.
    pub(crate) fn precompile(
        &self,
        engine: &Engine,
        strategy: AllocationStrategy,
        wasm: &[u8],
    ) -> wasmtime::Result<Vec<u8>> {
        match self {
            Compiler::InProcess => engine.precompile_component(wasm),
            Compiler::Child { exe } => in_child(exe, strategy, wasm),
        }
    }
}

fn strategy_arg(strategy: AllocationStrategy) -> &'static str {
    match strategy {
        AllocationStrategy::Pooling => "pooling",
        AllocationStrategy::OnDemand => "on-demand",
    }
}

fn in_child(exe: &Path, strategy: AllocationStrategy, wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
    let mut child = Command::new(exe)
        .args([CHILD_ARG, strategy_arg(strategy)])
        // It needs nothing from the daemon's environment, secrets included.
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| wasmtime::format_err!("cannot start the compiler ({}): {e}", exe.display()))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| wasmtime::format_err!("the compiler has no standard input"))?;
    // Written beside the reads: a child that fails early stops reading its input, and one
    // that succeeds writes more than a pipe holds before it exits.
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // A child that failed early closed its end; its error says why.
            let _ = stdin.write_all(wasm);
        });
        let output = child
            .wait_with_output()
            .map_err(|e| wasmtime::format_err!("the compiler could not be waited for: {e}"))?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(if message.is_empty() {
            wasmtime::format_err!("the compiler process failed ({})", output.status)
        } else {
            wasmtime::Error::msg(message)
        })
    })
}

/// The child's side: compiles standard input with an engine like the parent's and writes the
/// serialized component to standard output. `args` are those after [`CHILD_ARG`].
pub fn serve_child(args: &[String]) -> ExitCode {
    let strategy = match args.first().map(String::as_str) {
        Some("pooling") => AllocationStrategy::Pooling,
        Some("on-demand") => AllocationStrategy::OnDemand,
        other => {
            eprintln!("{CHILD_ARG} takes pooling or on-demand, not {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let result = (|| -> wasmtime::Result<Vec<u8>> {
        let mut wasm = Vec::new();
        std::io::stdin().read_to_end(&mut wasm)?;
        let engine = Engine::new(&super::engine::engine_config(
            strategy == AllocationStrategy::Pooling,
        ))?;
        engine.precompile_component(&wasm)
    })();
    match result.and_then(|bytes| Ok(std::io::stdout().lock().write_all(&bytes)?)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
