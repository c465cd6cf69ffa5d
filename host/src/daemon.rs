//! `carbonaut run`: wires config, plugins, state, collector, reloader and server together,
//! and shuts them down in order (server stops accepting, collector stops, sled is flushed).

mod notify;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use tokio::sync::watch;

use crate::api::{AppState, app};
use crate::collect::{Collector, Plan};
use crate::config::{Config, TlsConfig};
use crate::reload::{ConfigSource, ReloadHandle, Reloader};
use crate::snapshot::SnapshotCell;
use crate::telemetry::Telemetry;
use carbonaut_plugins::{LoadProgress, PluginSet};
use carbonaut_runtime::Runtime;
use carbonaut_store::state::StateStore;

/// Loads the plugin directory and checks the config against it: every plugin file that fails
/// is logged with its reason; a config that names a missing plugin or kind is an error.
pub async fn load_plugins(runtime: &Arc<Runtime>, config: &Config) -> anyhow::Result<PluginSet> {
    load_plugins_tracked(runtime, config, &LoadProgress::default()).await
}

/// [`load_plugins`], telling `progress` which files are loading.
pub async fn load_plugins_tracked(
    runtime: &Arc<Runtime>,
    config: &Config,
    progress: &LoadProgress,
) -> anyhow::Result<PluginSet> {
    let (plugins, change) = PluginSet::default()
        .reload_with(runtime, &config.plugin_dir, &config.trust, progress)
        .await
        .with_context(|| {
            format!(
                "cannot read the plugin directory {}",
                config.plugin_dir.display()
            )
        })?;
    for error in &change.refused {
        tracing::warn!(%error, "plugin not loaded");
    }
    for p in plugins.plugins() {
        let info = p.info();
        let kinds: Vec<&str> = info.kinds.iter().map(|k| k.as_str()).collect();
        tracing::info!(plugin = %info.name, version = %info.version, kinds = %kinds.join(","), cache = ?info.cache, "plugin loaded");
    }
    if let Err(errors) = config.check_plugins(&plugins.declarations()) {
        // A refused file (untrusted, broken) is the usual reason a plugin is missing.
        let refused: Vec<String> = change.refused.iter().map(ToString::to_string).collect();
        if refused.is_empty() {
            return Err(errors.into());
        }
        return Err(anyhow::anyhow!(
            "{errors}\nrefused plugin files:\n  {}",
            refused.join("\n  ")
        ));
    }
    Ok(plugins)
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(source: ConfigSource) -> anyhow::Result<()> {
    let (config, text) = source.load()?;
    tracing::info!(config = %config.source, plugin_dir = %config.plugin_dir.display(), state_dir = %config.state_dir.display(), "starting carbonaut");
    std::fs::create_dir_all(&config.state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}",
            config.state_dir.display()
        )
    })?;
    let store = Arc::new(StateStore::open(&config.state_dir)?);
    let mut runtime = carbonaut_plugins::new_runtime(config.limits)?;
    runtime
        .enable_cache(config.state_dir.join("cache"))
        .with_context(|| {
            format!(
                "cannot create the compile cache under {}",
                config.state_dir.display()
            )
        })?;
    runtime.enable_key_value(store.key_value_tree()?);
    // Compiling in a child keeps the compiler out of the daemon's memory for good. The child
    // is this very file even after a package upgrade replaced it on disk (`/proc/self/exe`),
    // so its artifacts always match this engine.
    let proc_self = std::path::Path::new("/proc/self/exe");
    let this_binary = if proc_self.exists() {
        Ok(proc_self.to_path_buf())
    } else {
        std::env::current_exe()
    };
    match this_binary {
        Ok(exe) => {
            tracing::info!(exe = %exe.display(), "plugins compile in a child process");
            runtime.compile_in_child(exe)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot find this executable; plugins compile in process")
        }
    }
    let runtime = Arc::new(runtime);

    // Listen before loading plugins: a slow plugin (a large guest compiling, a `metadata`
    // running to its deadline) must not keep /healthz and /readyz from answering. Until the
    // plugins are in, a small router says what start-up is waiting for.
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let progress = LoadProgress::default();
    let (early_stop, early_rx) = watch::channel(false);
    let early = tokio::spawn(serve(
        listener.try_clone()?,
        crate::api::starting_app(progress.clone()),
        config.tls.clone(),
        early_rx,
    ));
    tracing::info!(addr = %listener.local_addr()?, "loading plugins; /healthz and /readyz answer meanwhile");
    let plugins = load_plugins_tracked(&runtime, &config, &progress).await;
    let _ = early_stop.send(true);
    if let Ok(Err(error)) = early.await {
        tracing::warn!(%error, "the start-up listener failed");
    }
    let plugins = plugins?;
    let disabled = store.disabled_plugins()?;
    let plan = Plan::from_config(&config, &Reloader::usable_plugins(&plugins, &disabled))?;
    let shard = config.cluster.shard;
    tracing::info!(%shard, owned = plan.accounts.len(), others = plan.unowned.len(), "accounts assigned");
    let retention = config.cluster.unowned_retention;
    crate::cluster::prune_unowned(&store, shard, retention, carbonaut_model::clock::now_ms())?;
    if shard.total > 1 {
        tokio::spawn(crate::cluster::run_pruner(store.clone(), shard, retention));
    }
    let telemetry = Arc::new(Telemetry::default());
    let snapshot = Arc::new(SnapshotCell::default());
    let vitals = Arc::new(crate::vitals::Vitals::default());
    let gate = carbonaut_store::state::WriteGate::new(store.clone(), vitals.clone());
    let collector = Collector::new(
        plan,
        plugins.plugins().cloned().collect(),
        store.clone(),
        telemetry.clone(),
        snapshot.clone(),
    )?
    .with_gate(gate.clone())
    .with_disabled(disabled);

    let api_config = Arc::new(RwLock::new(crate::config::ApiConfig::of(&config)));
    let (reloader, handle, plans) = Reloader::new(
        runtime,
        source.clone(),
        config.clone(),
        text,
        plugins,
        gate.clone(),
        api_config.clone(),
    );
    tokio::spawn(reloader.run());
    let _watcher = match crate::reload::watch(
        &config.plugin_dir,
        source.path.as_deref(),
        handle.clone(),
    ) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::error!(%error, "cannot watch the plugin directory and config; reload with SIGHUP or POST /api/v1/reload");
            None
        }
    };
    let hup = tokio::spawn(reload_on_sighup(handle.clone()));

    let addr: SocketAddr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%addr, "listening on {scheme}://{addr} (dashboard at /, /metrics, /api/v1/topology)");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    // The collector stops the server when it gives up on an unwritable state (exit 1).
    let collector_task = tokio::spawn({
        let stop = stop_tx.clone();
        let run = collector.run(plans, stop_rx.clone());
        async move {
            let outcome = run.await;
            let _ = stop.send(true);
            outcome
        }
    });
    let state = AppState {
        snapshot,
        telemetry,
        reload: Some(handle),
        config: api_config,
        history: Some(carbonaut_store::history::HistoryStore::new(
            store.history_tree()?,
        )),
        vitals: vitals.clone(),
    };
    let systemd = notify::Notifier::from_env().map(Arc::new);
    let watchdog = systemd.as_ref().and_then(|n| {
        n.send("READY=1");
        let every = notify::Notifier::watchdog_every()?;
        Some(tokio::spawn(n.clone().watchdog(vitals.clone(), every)))
    });
    let signals = tokio::spawn({
        let stop = stop_tx.clone();
        let systemd = systemd.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            if let Some(n) = systemd {
                n.send("STOPPING=1");
            }
            let _ = stop.send(true);
        }
    });
    serve(listener, app(state), config.tls.clone(), stop_rx).await?;
    signals.abort();
    hup.abort();
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    finish(collector_task, gate, config.shutdown_timeout).await
}

/// Waits for the collector to stop and flushes the state, for at most `limit`: a store call
/// stuck on a failing disk never holds the process (SIGTERM ends it within `limit`; what was
/// served is stored already, since counters are published only once saved). A flush that
/// fails or cannot finish is an error: the exit code says the state may lack the last step.
async fn finish(
    collector: tokio::task::JoinHandle<Result<(), crate::collect::GiveUp>>,
    gate: carbonaut_store::state::WriteGate<crate::vitals::Vitals>,
    limit: std::time::Duration,
) -> anyhow::Result<()> {
    let stopping = async move {
        let outcome = collector.await.context("the collector task failed")?;
        outcome?;
        gate.write("counters", limit, |store| store.flush())
            .await
            .context("the final flush of the state failed; every counter served was stored before it was served")?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(limit, stopping).await {
        Ok(Ok(())) => {
            tracing::info!("stopped; state flushed");
            Ok(())
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(anyhow::anyhow!(
            "shutdown did not finish within {} ([server] shutdown_timeout): a write to the state \
             directory is stuck (a full or failing disk?); exiting without the final flush. \
             Every counter served was stored before it was served",
            humantime_serde::re::humantime::format_duration(limit)
        )),
    }
}

/// Serves plain HTTP, or HTTPS with rustls when `tls` is set, until `stop` turns true.
async fn serve(
    listener: std::net::TcpListener,
    router: axum::Router,
    tls: Option<TlsConfig>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    match tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .context("the HTTP server failed")
        }
        Some(tls) => {
            let rustls = crate::api::tls::server_config(&tls)?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                let _ = stop.wait_for(|s| *s).await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            axum_server::from_tcp(listener)
                .acceptor(crate::api::tls::PeerAcceptor::new(rustls))
                .handle(handle)
                .serve(router.into_make_service())
                .await
                .context("the HTTPS server failed")
        }
    }
}

async fn reload_on_sighup(handle: ReloadHandle) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::error!("cannot listen for SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            let _ = handle.reload("sighup").await;
        }
    }
    #[cfg(not(unix))]
    drop(handle);
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
