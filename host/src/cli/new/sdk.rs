//! The carbonaut-sdk crate this binary was built with, embedded so that `plugin new --lang
//! rust` can write it beside a skeleton: carbonaut-sdk is not on crates.io, and an author with
//! only the `carbonaut` binary (a Debian package, a container) has no other copy to build on.
//!
//! The files are those `cargo package -p carbonaut-sdk` packs (`sdk/Cargo.toml`'s `include`);
//! `rust_skeleton_builds_outside_the_repository` fails when this list and the package differ.

use super::File;

/// Below the skeleton's folder; `Cargo.toml` depends on it by this relative path.
pub const DIR: &str = "carbonaut-sdk";

const SOURCES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../../sdk/Cargo.toml")),
    (
        "src/bindings.rs",
        include_str!("../../../../sdk/src/bindings.rs"),
    ),
    ("src/error.rs", include_str!("../../../../sdk/src/error.rs")),
    (
        "src/forecast.rs",
        include_str!("../../../../sdk/src/forecast.rs"),
    ),
    ("src/http.rs", include_str!("../../../../sdk/src/http.rs")),
    (
        "src/http/retry.rs",
        include_str!("../../../../sdk/src/http/retry.rs"),
    ),
    ("src/kv.rs", include_str!("../../../../sdk/src/kv.rs")),
    ("src/lib.rs", include_str!("../../../../sdk/src/lib.rs")),
    ("src/log.rs", include_str!("../../../../sdk/src/log.rs")),
    (
        "src/metadata.rs",
        include_str!("../../../../sdk/src/metadata.rs"),
    ),
    ("src/time.rs", include_str!("../../../../sdk/src/time.rs")),
];

/// Every file of the SDK, by its path below the skeleton's folder. The SDK's `wit/` is the
/// contract `carbonaut wit` writes (the `sdk_wit_is_the_contract` test keeps them equal).
pub fn files() -> Vec<File> {
    let sources = SOURCES
        .iter()
        .map(|(path, text)| (format!("{DIR}/{path}"), (*text).to_owned()));
    let wit = crate::cli::wit::FILES
        .iter()
        .map(|(path, text)| (format!("{DIR}/wit/{path}"), (*text).to_owned()));
    sources.chain(wit).collect()
}
