//! Compiles the guest plugins (`plugins/*`) and the test guests (`host/tests/guests/*`) for
//! `wasm32-wasip2`, so nobody runs a separate build step before the demo or the tests.
//!
//! The guests build once per change into `target/guests` (their own target directory: the
//! outer cargo holds the lock on `target/debug`), then the components are copied to
//! `target/plugins` (what `examples/quickstart.toml` loads) and `target/test-guests`. Their
//! paths reach the code as `CARBONAUT_GUEST_<NAME>` compile-time variables.
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

    let target_root = env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let guest_target = target_root.join("guests");
    let built = guest_target.join("wasm32-wasip2").join("guest");

    if env::var_os("CARBONAUT_SKIP_GUEST_BUILD").is_none() {
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
    let status = cmd.status().expect("run cargo to build the guest plugins");
    if !status.success() {
        panic!(
            "building the guest plugins for wasm32-wasip2 failed (see the output above); \
             `rustup target add wasm32-wasip2` if the target is missing"
        );
    }
}
