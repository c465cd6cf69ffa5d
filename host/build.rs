//! Compiles the guest plugins (`plugins/*`) and the test guests (`host/tests/guests/*`) for
//! `wasm32-wasip2`, so nobody runs a separate build step before the demo or the tests.
//!
//! The guests build once per change into `target/guests` (their own target directory: the
//! outer cargo holds the lock on `target/debug`), then the components are copied to
//! `target/plugins` (what `examples/quickstart.toml` loads) and `target/test-guests`. Their
//! paths reach the code as `CARBONAUT_GUEST_<NAME>` compile-time variables.
//!
//! A toolchain installed before `rust-toolchain.toml` named the wasm target lacks it (rustup
//! adds listed targets only when it installs the toolchain itself), so the guest build would
//! fail with "can't find crate for `std`". Before building, the script looks for the target's
//! standard library in the compiler's sysroot; when it is missing and cargo was started through
//! rustup, it runs `rustup target add wasm32-wasip2 --toolchain $RUSTUP_TOOLCHAIN` (the same
//! toolchain cargo runs, never rustup's default) and says so; otherwise it stops with the
//! command to run.
//!
//! Set `CARBONAUT_SKIP_GUEST_BUILD=1` to skip (for example on a machine without the wasm
//! target, when only the host is wanted).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    let plugins = guest_crates(&root.join("plugins"));
    let test_guests = guest_crates(&manifest_dir.join("tests/guests"));

    for dir in ["plugins", "sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("tests/guests").display()
    );
    println!("cargo:rerun-if-env-changed=CARBONAUT_SKIP_GUEST_BUILD");

    // A relative CARGO_TARGET_DIR is relative to where cargo ran, which a build script cannot
    // know (it runs in host/); the documented commands run at the repository's root.
    let target_root = env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|_| root.join("target"));
    let guest_target = target_root.join("guests");
    let built = guest_target.join("wasm32-wasip2").join("guest");

    if env::var_os("CARBONAUT_SKIP_GUEST_BUILD").is_none() {
        ensure_wasm_target();
        build_guests(&root, &guest_target, plugins.iter().chain(&test_guests));
    }

    for (crates, out) in [(&plugins, "plugins"), (&test_guests, "test-guests")] {
        let out_dir = target_root.join(out);
        fs::create_dir_all(&out_dir).expect("create the guest output folder");
        for name in crates {
            let file = format!("{}.wasm", name.replace('-', "_"));
            let dest = out_dir.join(format!("{name}.wasm"));
            if env::var_os("CARBONAUT_SKIP_GUEST_BUILD").is_none() {
                // Copy through a temporary name: a host watching target/plugins never sees a
                // half-written component.
                let tmp = out_dir.join(format!(".{name}.wasm.tmp"));
                fs::copy(built.join(&file), &tmp).expect("copy a built guest");
                fs::rename(&tmp, &dest).expect("move a built guest into place");
            }
            let var = format!("CARBONAUT_GUEST_{}", name.replace('-', "_").to_uppercase());
            println!("cargo:rustc-env={var}={}", dest.display());
        }
    }
}

/// The crate names under `dir`, each a folder with a Cargo.toml.
fn guest_crates(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

const WASM_TARGET: &str = "wasm32-wasip2";

/// The compiler cargo uses for this build (cargo sets `RUSTC` for build scripts).
fn rustc() -> String {
    env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// Whether the compiler's sysroot holds the wasm target's standard library.
fn wasm_target_installed(rustc: &str) -> bool {
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let lib = sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib");
    fs::read_dir(lib)
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".rlib")
            })
        })
        .unwrap_or(false)
}

/// Stops the build with `message` as cargo's error, without a panic's backtrace.
fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    std::process::exit(0)
}

/// Adds the wasm target through rustup when it is missing, or stops with the command to run.
fn ensure_wasm_target() {
    let rustc = rustc();
    if wasm_target_installed(&rustc) {
        return;
    }
    // Set by rustup's proxy for everything cargo starts: the toolchain this build runs, which
    // may differ from rustup's default (rust-toolchain.toml, `cargo +x`). Without it cargo was
    // not started through rustup, and adding the target to some other toolchain would not help.
    let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") else {
        fail(&format!(
            "the {WASM_TARGET} target is not installed for {rustc} and cargo was not started \
             through rustup: run `rustup target add {WASM_TARGET}` for the toolchain that \
             builds Carbonaut, or install your distribution's {WASM_TARGET} standard library \
             (or set CARBONAUT_SKIP_GUEST_BUILD=1 to build the host without its plugins)"
        ));
    };
    let command = format!("rustup target add {WASM_TARGET} --toolchain {toolchain}");
    println!(
        "cargo:warning=the {WASM_TARGET} target is missing from toolchain {toolchain}; \
         running `{command}` to build the plugins"
    );
    // rustup takes no lock that cargo holds, so calling it from here cannot deadlock; the
    // explicit --toolchain keeps it on the toolchain this build runs.
    let result = Command::new("rustup")
        .args(["target", "add", WASM_TARGET, "--toolchain", &toolchain])
        .output();
    // Another build adding it at the same moment may make this run fail; what counts is
    // whether the target is there afterwards.
    if wasm_target_installed(&rustc) {
        println!("cargo:warning=added the {WASM_TARGET} target to toolchain {toolchain}");
        return;
    }
    let why = match result {
        Ok(out) => {
            // rustup's own `error:` lines, without the backtrace RUST_BACKTRACE adds.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
            format!("it exited with {}: {}", out.status, said.join(" / "))
        }
        Err(e) => format!("rustup could not be run: {e}"),
    };
    fail(&format!(
        "the {WASM_TARGET} target is not installed for {rustc}, and `{command}` failed ({why}); \
         run it yourself (or set CARBONAUT_SKIP_GUEST_BUILD=1 to build the host without its \
         plugins)"
    ));
}

fn build_guests<'a>(root: &Path, target_dir: &Path, crates: impl Iterator<Item = &'a String>) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--profile", "guest", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(target_dir);
    for name in crates {
        cmd.args(["-p", name]);
    }
    // The outer build's settings (clippy's wrapper, coverage flags, the host profile) must not
    // leak into the guest build.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE")
            || key.starts_with("RUSTC")
            || key.starts_with("RUSTFLAGS")
            || key == "RUSTDOCFLAGS"
        {
            cmd.env_remove(key);
        }
    }
    // The compiler whose sysroot was checked, not whichever `rustc` is first on PATH.
    cmd.env("RUSTC", rustc());
    let status = cmd.status().expect("run cargo to build the guest plugins");
    if !status.success() {
        panic!("building the guest plugins for {WASM_TARGET} failed (see the output above)");
    }
}
