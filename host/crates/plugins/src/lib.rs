//! Plugins: reading `.wasm` files, telling what they are before running them, verifying their
//! signatures (`trust`), and calling them through the runtime, one module per contract version
//! (`contract`), with every failure wrapped in the plugin's name and version. What a plugin
//! answers is converted and checked (`validate`) before anything above sees it; the public
//! API speaks `carbonaut-model` types only.
//!
//! May import: `carbonaut-model`, `carbonaut-runtime`.

mod contract;
mod convert;
mod error;
mod inspect;
mod loader;
mod needs;
mod plugin;
mod registry;
pub mod trust;
pub mod validate;

pub use contract::{LATEST as SUPPORTED_WIT, SUPPORTED, new_runtime, supported_range};
pub use error::{CallError, CallErrorKind, LoadError};
pub use inspect::{ComponentShape, WitVersion, inspect_component};
pub use loader::{LoadedDir, load_bytes, load_dir, load_file};
pub use needs::{Needs, Offered};
pub use plugin::{Plugin, PluginInfo};
pub use registry::{LoadProgress, PluginSet, SetChange, is_plugin_file, read_signature};
pub use validate::{Checked, Reason, Rejections};
