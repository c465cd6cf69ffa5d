//! Hot reload: the plugin directory and the config file are watched, and a change (or
//! SIGHUP, or the API) triggers a reload. A reload is a diff: plugins by sha256, providers and
//! accounts by their settings; everything new is compiled, inspected and checked before the
//! collector gets the new plan, so a bad version never replaces a good one.

mod handle;
mod history;
mod reloader;
mod source;
mod watcher;

pub use handle::{ManageError, ReloadHandle};
pub use history::{History, Outcome, ReloadRecord};
pub use reloader::{MAX_UPLOAD_BYTES, Reloader};
pub use source::ConfigSource;
pub use watcher::watch;
