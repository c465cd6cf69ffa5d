//! `carbonaut check-config FILE [--shard I --total-shards N]`: parses the config, loads the
//! plugin directory and checks that every provider names a loaded plugin of the right kind;
//! for a shard (flags or `[cluster]`), lists the accounts it owns. Warns about grants that
//! do not meet what the plugins ask for: offered and not asked (never granted), or asked and
//! not offered (the plugin's calls will be refused).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use carbonaut::cluster::Shard;
use carbonaut::config::Config;
use carbonaut_plugins::PluginSet;
use carbonaut_runtime::Limits;

pub async fn run(file: &Path, shard: Option<Shard>) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(file)?;
    if let Some(shard) = shard {
        config.cluster.shard = shard;
    }
    let runtime = Arc::new(carbonaut_plugins::new_runtime(Limits::default())?);
    let plugins = carbonaut::daemon::load_plugins(&runtime, &config).await?;
    println!(
        "{}: ok ({} providers, {} accounts, {} plugins loaded from {})",
        file.display(),
        config.providers.len(),
        config.accounts.len(),
        plugins.by_name().len(),
        config.plugin_dir.display()
    );
    for warning in grant_warnings(&config, &plugins) {
        println!("warning: {warning}");
    }
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

/// One line per grant a provider's config and its plugin's needs disagree about.
fn grant_warnings(config: &Config, plugins: &PluginSet) -> Vec<String> {
    let loaded = plugins.by_name();
    let mut warnings = Vec::new();
    for (name, provider) in &config.providers {
        let Some(plugin) = loaded.get(&provider.plugin) else {
            continue;
        };
        let needs = &plugin.info().needs;
        let offered = carbonaut::collect::offered(provider);
        let (_, unused) = needs.grant(&offered, name);
        let source = &config.source;
        let plugin = &provider.plugin;
        for offer in unused {
            warnings.push(format!(
                "{source}: provider `{name}`: {offer} is configured, but plugin `{plugin}` does \
                 not ask for it in its needs, so it is not granted; remove it, or ask the \
                 plugin's author to declare it"
            ));
        }
        for missing in needs.not_granted(&offered, name) {
            warnings.push(format!(
                "{source}: provider `{name}`: {missing}; its calls that need it will be refused \
                 until [providers.{name}] grants it"
            ));
        }
    }
    warnings
}
