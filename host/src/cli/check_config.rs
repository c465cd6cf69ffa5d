//! `carbonaut check-config FILE`: parses the config, loads the plugin directory and checks
//! that every provider names a loaded plugin of the right kind.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use carbonaut::config::Config;
use carbonaut::runtime::{Limits, Runtime};

pub async fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(file)?;
    let runtime = Arc::new(Runtime::new(Limits::default())?);
    let plugins = carbonaut::daemon::load_plugins(&runtime, &config).await?;
    println!(
        "{}: ok ({} providers, {} accounts, {} plugins loaded from {})",
        file.display(),
        config.providers.len(),
        config.accounts.len(),
        plugins.by_name().len(),
        config.plugin_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
