//! `carbonaut run`: wires config, plugins, state, collector and server together, and shuts
//! them down in order (server stops accepting, collector stops, sled is flushed).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::api::{AppState, app};
use crate::collect::{AccountPlan, Collector, EnvironmentPlan, Plan, ProviderInstance, Telemetry};
use crate::config::Config;
use crate::plugins::{Plugin, load_dir};
use crate::runtime::bindings::ProviderKind;
use crate::runtime::{Limits, Runtime};
use crate::snapshot::SnapshotCell;
use crate::state::StateStore;

/// Resources per resource-metrics call (see [`Plan::batch_size`]).
const BATCH_SIZE: usize = 1000;

/// Loads the plugin directory and checks the config against it: every plugin file that fails
/// is logged with its reason; a config that names a missing plugin or kind is an error.
pub async fn load_plugins(
    runtime: &Arc<Runtime>,
    config: &Config,
) -> anyhow::Result<BTreeMap<String, Arc<Plugin>>> {
    let loaded = load_dir(runtime, &config.plugin_dir)
        .await
        .with_context(|| {
            format!(
                "cannot read the plugin directory {}",
                config.plugin_dir.display()
            )
        })?;
    for error in &loaded.errors {
        tracing::warn!(%error, "plugin not loaded");
    }
    let plugins: BTreeMap<String, Arc<Plugin>> = loaded
        .plugins
        .into_iter()
        .map(|p| (p.name().to_owned(), Arc::new(p)))
        .collect();
    for p in plugins.values() {
        let kinds: Vec<&str> = p.info().kinds.iter().map(|k| k.as_str()).collect();
        tracing::info!(plugin = %p.name(), version = %p.info().version, kinds = %kinds.join(","), sha256 = %&p.info().sha256[..12], "plugin loaded");
    }
    let catalogue: BTreeMap<String, Vec<ProviderKind>> = plugins
        .iter()
        .map(|(n, p)| (n.clone(), p.info().kinds.clone()))
        .collect();
    config.check_plugins(&catalogue)?;
    Ok(plugins)
}

/// Binds providers and accounts of the config to loaded plugins.
pub fn plan(config: &Config, plugins: &BTreeMap<String, Arc<Plugin>>) -> anyhow::Result<Plan> {
    let instance = |name: &str| -> anyhow::Result<ProviderInstance> {
        let provider = config
            .providers
            .get(name)
            .with_context(|| format!("provider `{name}` is not defined"))?;
        let plugin = plugins
            .get(&provider.plugin)
            .with_context(|| format!("plugin `{}` is not loaded", provider.plugin))?;
        Ok(ProviderInstance {
            name: name.to_owned(),
            plugin: plugin.clone(),
            settings: provider.settings.to_wit(),
        })
    };
    let accounts = config
        .accounts
        .iter()
        .map(|(name, a)| {
            Ok(AccountPlan {
                name: name.clone(),
                settings: a.settings.to_wit(),
                discovery: instance(&a.discovery)?,
                resource_metrics: instance(&a.resource_metrics)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let environment = match &config.environment {
        None => None,
        Some(e) => Some(EnvironmentPlan {
            provider: instance(&e.provider)?,
            zones: e.zones.clone(),
        }),
    };
    Ok(Plan {
        accounts,
        environment,
        topology_sync: config.intervals.topology_sync,
        resource_metrics: config.intervals.resource_metrics,
        environment_interval: config.intervals.environment,
        batch_size: BATCH_SIZE,
    })
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = %config.source, plugin_dir = %config.plugin_dir.display(), state_dir = %config.state_dir.display(), "starting carbonaut");
    let runtime = Arc::new(Runtime::new(Limits::default())?);
    let plugins = load_plugins(&runtime, &config).await?;
    let plan = plan(&config, &plugins)?;
    std::fs::create_dir_all(&config.state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}",
            config.state_dir.display()
        )
    })?;
    let store = Arc::new(StateStore::open(&config.state_dir)?);
    let telemetry = Arc::new(Telemetry::default());
    let snapshot = Arc::new(SnapshotCell::default());
    let collector = Collector::new(
        plan,
        plugins.values().cloned().collect(),
        store.clone(),
        telemetry.clone(),
        snapshot.clone(),
    )?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "listening on http://{addr} (/metrics, /api/v1/topology)");

    let (stop_tx, stop_rx) = watch::channel(false);
    let collector_task = tokio::spawn(collector.run(stop_rx.clone()));
    let mut server_stop = stop_rx;
    let server = axum::serve(
        listener,
        app(AppState {
            snapshot,
            telemetry,
        }),
    )
    .with_graceful_shutdown(async move {
        let _ = server_stop.wait_for(|stop| *stop).await;
    });
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    server.await.context("the HTTP server failed")?;
    signals.abort();
    collector_task.await.context("the collector task failed")?;
    store.flush()?;
    tracing::info!("stopped; state flushed");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
