//! Plugins: reading `.wasm` files, telling what they are before running them, and calling
//! them through the runtime with every failure wrapped in the plugin's name and version.

mod contract;
mod convert;
mod error;
mod inspect;
mod loader;
mod needs;
mod plugin;
mod registry;
pub mod validate;

pub use contract::{LATEST as SUPPORTED_WIT, SUPPORTED, supported_range};
pub use error::{CallError, LoadError};
pub use inspect::{ComponentShape, WitVersion, inspect_component};
pub use loader::{LoadedDir, load_bytes, load_dir, load_file};
pub use needs::{Needs, Offered};
pub use plugin::{Plugin, PluginInfo};
pub use registry::{LoadProgress, PluginSet, SetChange, is_plugin_file, read_signature};
pub use validate::{Checked, Reason, Rejections};
