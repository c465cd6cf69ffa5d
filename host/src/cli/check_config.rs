//! `carbonaut check-config FILE [--shard I --total-shards N]`: parses the config, loads the
//! plugin directory and checks that every provider names a loaded plugin of the right kind;
//! for a shard (flags or `[cluster]`), lists the accounts it owns.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use carbonaut::cluster::Shard;
use carbonaut::config::Config;
use carbonaut::runtime::{Limits, Runtime};

pub async fn run(file: &Path, shard: Option<Shard>) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(file)?;
    if let Some(shard) = shard {
        config.cluster.shard = shard;
    }
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
    let shard = config.cluster.shard;
    if shard != Shard::UNSHARDED {
        let owned: Vec<&String> = config.accounts.keys().filter(|a| shard.owns(a)).collect();
        println!(
            "{shard} owns {} of {} accounts:",
            owned.len(),
            config.accounts.len()
        );
        for account in owned {
            println!("  {account}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
