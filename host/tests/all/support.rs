//! Shared helpers: the runtime, guest paths, and fixtures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonaut::runtime::{Limits, Runtime};

pub const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
pub const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
pub const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
pub const TRAPPING: &str = env!("CARBONAUT_GUEST_TRAPPING");
pub const OTHER_WORLD: &str = env!("CARBONAUT_GUEST_OTHER_WORLD");

pub fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::new(Limits::default()).expect("runtime"))
}

/// The folder holding the shipped plugins (`target/plugins`).
pub fn plugin_dir() -> PathBuf {
    Path::new(MOCK_CLOUD)
        .parent()
        .expect("plugin folder")
        .to_path_buf()
}

pub fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
