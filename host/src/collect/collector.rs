//! The collector: owns the mirror of the state, runs the three steps on their intervals, and
//! publishes a snapshot after each. One task owns it all, so nothing here takes a lock; the
//! plugin calls of different accounts run in parallel as spawned tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use super::Failure;
use super::locations::LocationIndex;
use super::mixes::MixHistory;
use super::plan::Plan;
use super::update::PlanUpdate;
use crate::exposition::gzip::MetricsBody;
use crate::snapshot::{
    AccountStatus, GrantedView, LocationStatus, PluginStatus, ProviderStatus, Snapshot,
    SnapshotCell, render_metrics, render_metrics_gzip,
};
use crate::telemetry::Telemetry;
use crate::vitals::Vitals;
use carbonaut_model::ResourceSample;
use carbonaut_model::clock::now_ms;
use carbonaut_plugins::Plugin;
use carbonaut_store::forecasts::ForecastStore;
use carbonaut_store::state::{
    Counters, Departed, LoadReport, ResourceId, StateStore, Topology, WriteGate,
};

/// The collector stopped because the state could not be written for `[state] give_up_after`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the state directory {dir} could not be written for {}s ({error}); carbonaut exits so its \
     supervisor restarts it (sled does not recover from an I/O error). Every counter served was \
     stored; free space or fix the disk, and the restart continues from there",
    failing.as_secs()
)]
pub struct GiveUp {
    pub dir: std::path::PathBuf,
    pub failing: std::time::Duration,
    pub error: String,
}

pub struct Collector {
    pub(super) plan: Plan,
    pub(super) store: Arc<StateStore>,
    /// Every write of a running collection goes through it: off the runtime, bounded.
    pub(super) gate: WriteGate<Vitals>,
    /// Accounts whose counters in the mirror are ahead of the store (their last save
    /// failed): nothing is published until a save of them succeeds, so a served counter is
    /// never ahead of what a restart loads.
    pub(super) unsaved: BTreeSet<String>,
    pub(super) telemetry: Arc<Telemetry>,
    publish: Arc<SnapshotCell>,
    pub(super) mirror: Mirror,
    pub(super) plugins: Vec<Arc<Plugin>>,
    pub(super) disabled: BTreeSet<String>,
    /// Hourly and daily rollups of what the samples add (`carbonaut_store::history`).
    pub(super) history: carbonaut_store::history::Recorder,
    /// A test hook (`fault-injection`): how long each publish waits on its rendering thread
    /// before the snapshot is swapped in, as a very large inventory's rendering would take.
    render_delay: std::time::Duration,
    last_taken: TakenAt,
}

/// Stamps snapshots with `taken_at_ms`. Clients tell snapshots apart by it (the dashboard, and
/// its test, read the status before and after their other reads and keep what they read when
/// it did not change), so two publishes within one millisecond, or after the clock stepped
/// back, must not share one: each stamp is after the previous.
#[derive(Debug, Default)]
struct TakenAt {
    last_ms: u64,
}

impl TakenAt {
    fn stamp(&mut self, now_ms: u64) -> u64 {
        self.last_ms = now_ms.max(self.last_ms + 1);
        self.last_ms
    }
}

/// The in-memory copy of the state plus what is not persisted (last samples, mixes, errors).
#[derive(Default)]
pub(super) struct Mirror {
    pub topology: Arc<Topology>,
    /// Shared with the served snapshot until the next change (`Arc::make_mut` copies it
    /// then): between collections one copy of each per-resource map is held, not two, and
    /// a publish copies none.
    pub counters: Arc<HashMap<ResourceId, Counters>>,
    /// What removed resources used: part of their project's and account's totals.
    pub departed: Departed,
    pub samples: Arc<HashMap<ResourceId, ResourceSample>>,
    pub derived_power: Arc<HashMap<ResourceId, f64>>,
    pub mixes: MixHistory,
    pub environment_error: Option<String>,
    /// Each location's last answer from the environment provider, refusals remembered.
    pub outcomes: super::environment::LocationOutcomes,
    pub accounts: BTreeMap<String, AccountStatus>,
    pub plugin_errors: HashMap<String, Option<String>>,
    pub synced: bool,
    pub locations: LocationIndex,
    /// Each location's latest intensity forecast, by location key.
    pub forecasts: BTreeMap<String, carbonaut_model::IntensityForecast>,
    /// The provider instance each of `forecasts` came from.
    pub forecast_sources: BTreeMap<String, String>,
}

impl Collector {
    /// Loads the mirror from the store and drops accounts that are no longer configured.
    pub fn new(
        plan: Plan,
        plugins: Vec<Arc<Plugin>>,
        store: Arc<StateStore>,
        telemetry: Arc<Telemetry>,
        publish: Arc<SnapshotCell>,
    ) -> Result<Self, carbonaut_store::state::StateError> {
        let (mut topology, mut report) = store.load_topology()?;
        let mut departed = store.load_departed(&mut report)?;
        let configured: Vec<&str> = plan.accounts.iter().map(|a| a.name.as_str()).collect();
        let stale: Vec<String> = topology
            .accounts
            .keys()
            .filter(|a| !configured.contains(&a.as_str()))
            .cloned()
            .collect();
        for name in stale {
            if let Some(node) = topology.accounts.remove(&name) {
                if plan.unowned.contains(&name) {
                    // Another shard's now: kept in the store (see cluster::handoff), and not
                    // served here, not even what its removed resources used.
                    departed.forget_account(&name);
                    continue;
                }
                tracing::info!(account = %name, "removing an account that is no longer configured from the state");
                store.remove_account(&node)?;
                departed.forget_account(&name);
            }
        }
        let mut counters = store.load_counters(&mut report)?;
        let live: std::collections::HashSet<&ResourceId> =
            topology.resources().map(|(_, _, r)| &r.id).collect();
        counters.retain(|id, _| live.contains(id));
        let LoadReport { quarantined } = report;
        if quarantined > 0 {
            tracing::error!(
                records = quarantined,
                "state records that could not be read were moved to the quarantine tree; the rest of the state loaded"
            );
        }
        let accounts = plan
            .accounts
            .iter()
            .map(|a| {
                let status = AccountStatus {
                    discovery_provider: a.discovery.name.clone(),
                    resource_metrics_provider: a.resource_metrics.name.clone(),
                    ..AccountStatus::default()
                };
                (a.name.clone(), status)
            })
            .collect();
        tracing::info!(
            accounts = topology.accounts.len(),
            resources = topology.resource_count(),
            "state loaded"
        );
        let history = carbonaut_store::history::Recorder::new(
            carbonaut_store::history::HistoryStore::new(store.history_tree()?),
            plan.reports.clone(),
        );
        let stored = ForecastStore::new(store.forecast_tree()?)
            .load(now_ms())
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "the stored forecasts cannot be read; waiting for new ones");
                BTreeMap::new()
            });
        // Served at once, until superseded; those of another provider at the next step.
        let mut forecasts = BTreeMap::new();
        let mut forecast_sources = BTreeMap::new();
        for (location, sourced) in stored {
            forecast_sources.insert(location.clone(), sourced.provider);
            forecasts.insert(location, sourced.forecast);
        }
        let gate = WriteGate::new(store.clone(), Arc::new(Vitals::default()));
        let mut collector = Collector {
            history,
            plan,
            gate,
            unsaved: BTreeSet::new(),
            store,
            telemetry,
            publish,
            mirror: Mirror {
                topology: Arc::new(topology),
                counters: Arc::new(counters),
                departed,
                accounts,
                forecasts,
                forecast_sources,
                ..Mirror::default()
            },
            plugins,
            disabled: BTreeSet::new(),
            render_delay: std::time::Duration::ZERO,
            last_taken: TakenAt::default(),
        };
        collector.publish_now();
        Ok(collector)
    }

    /// What the probes read: whether the state can be written, when a step last finished.
    pub fn vitals(&self) -> Arc<Vitals> {
        self.gate.watch().clone()
    }

    /// Writes through `gate` instead of its own (the daemon's: its vitals are the API's, and
    /// the final flush waits behind the same stuck write, if any).
    pub fn with_gate(mut self, gate: WriteGate<Vitals>) -> Self {
        self.gate = gate;
        self
    }

    /// Makes every later publish take `delay` longer on its rendering thread (a test hook: a
    /// scrape meanwhile must get the previous snapshot, whole, without waiting).
    #[cfg(feature = "fault-injection")]
    pub fn with_render_delay(mut self, delay: std::time::Duration) -> Self {
        self.render_delay = delay;
        self
    }

    /// Marks plugins an operator disabled (persisted in the state).
    pub fn with_disabled(mut self, disabled: BTreeSet<String>) -> Self {
        self.disabled = disabled;
        self.publish_now();
        self
    }

    /// Runs until `shutdown` turns true: a sync, the energy mix and samples first, then each
    /// on its interval. Returns early with [`GiveUp`] when the state has not been writable for
    /// `[state] give_up_after` (sled does not recover from an I/O error: a restart does).
    pub async fn run(
        mut self,
        mut updates: mpsc::Receiver<PlanUpdate>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), GiveUp> {
        let vitals = self.gate.watch().clone();
        vitals.watch_steps(self.liveness_window());
        let [mut sync, mut samples, mut environment] = self.timers();
        // Order the first round: topology, then the mix its locations need, then samples.
        sync.tick().await;
        self.sync_topology().await;
        vitals.step_done();
        environment.tick().await;
        self.collect_environment().await;
        vitals.step_done();
        samples.tick().await;
        self.collect_samples().await;
        vitals.step_done();
        let mut outcome = Ok(());
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = sync.tick() => self.sync_topology().await,
                _ = environment.tick() => self.collect_environment().await,
                _ = samples.tick() => {
                    let started = Instant::now();
                    self.collect_samples().await;
                    self.warn_if_overrun("resource_metrics", started, self.plan.resource_metrics);
                }
                Some(update) = updates.recv() => {
                    let follow = self.apply_update(update).await;
                    if follow.timers_changed {
                        [sync, samples, environment] = self.timers();
                        vitals.watch_steps(self.liveness_window());
                    }
                    if follow.sync {
                        self.sync_topology().await;
                    }
                    if follow.environment || follow.sync {
                        self.collect_environment().await;
                    }
                }
            }
            vitals.step_done();
            if let Some(failing) = vitals.failing_for()
                && failing >= self.plan.state.give_up_after
            {
                outcome = Err(GiveUp {
                    dir: self.gate.dir().to_owned(),
                    failing,
                    error: vitals.write_failure().map(|f| f.error).unwrap_or_default(),
                });
                break;
            }
            if *shutdown.borrow() {
                break;
            }
        }
        // The final flush is the caller's (`daemon::finish`), bounded by its shutdown limit.
        tracing::info!("collector stopped");
        outcome
    }

    /// How long the collector may go without finishing a step before `/healthz` fails:
    /// three sample intervals (a minute at least), plus the write timeout a failing store
    /// may take per step.
    fn liveness_window(&self) -> std::time::Duration {
        (self.plan.resource_metrics * 3).max(std::time::Duration::from_secs(60))
            + self.plan.state.write_timeout
    }

    /// Back-to-back collections keep the store writing without pause (sled's memory grows
    /// under that, see BENCHMARKS.md): say so, so the operator lengthens the interval.
    fn warn_if_overrun(&self, interval: &str, started: Instant, period: std::time::Duration) {
        let took = started.elapsed();
        if took > period {
            tracing::warn!(
                interval,
                took_ms = took.as_millis() as u64,
                period_ms = period.as_millis() as u64,
                "a collection took longer than its interval, so collections run back to back; lengthen the interval"
            );
        }
    }

    fn timers(&self) -> [tokio::time::Interval; 3] {
        [
            self.plan.topology_sync,
            self.plan.resource_metrics,
            self.plan.environment_interval,
        ]
        .map(|period| {
            let mut timer = tokio::time::interval(period);
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
            timer
        })
    }

    /// Records a plugin call's outcome in the telemetry and the plugin's status.
    pub(super) fn observe<T>(
        telemetry: &Telemetry,
        plugin: &str,
        operation: &'static str,
        started: Instant,
        result: &Result<T, Failure>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.reason(),
        };
        telemetry.record_call(plugin, operation, outcome, started.elapsed().as_secs_f64());
    }

    pub(super) fn note_plugin_result<T>(&mut self, plugin: &str, result: &Result<T, Failure>) {
        let entry = self
            .mirror
            .plugin_errors
            .entry(plugin.to_owned())
            .or_default();
        *entry = result.as_ref().err().map(|e| e.to_string());
    }

    /// Publishes the mirror as the current snapshot, unless its counters are ahead of the
    /// store (see [`Collector::unsaved`]): the previous snapshot stays served then.
    ///
    /// Rendering and compressing `/metrics` (hundreds of milliseconds at 50 000 resources)
    /// runs on a blocking thread, not on an async worker, so `/healthz` and scrapes keep their
    /// workers while it runs; the snapshot is swapped in only once its `/metrics` is complete,
    /// so a scrape meanwhile is answered from the previous snapshot, whole.
    pub(super) async fn publish(&mut self) {
        let Some(snapshot) = off_workers(|| self.snapshot()) else {
            return;
        };
        let (cell, delay) = (self.publish.clone(), self.render_delay);
        let render = move || {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            render_and_set(&cell, snapshot);
        };
        if let Err(error) = tokio::task::spawn_blocking(render).await {
            tracing::error!(%error, "publishing a snapshot failed; the previous one stays served");
        }
    }

    /// [`Collector::publish`] on the calling thread, for a collector not yet running (at
    /// start, before anything is served).
    fn publish_now(&mut self) {
        if let Some(snapshot) = self.snapshot() {
            render_and_set(&self.publish, snapshot);
        }
    }

    /// The mirror as a snapshot without its `/metrics` body, or `None` while counters are
    /// unsaved.
    fn snapshot(&mut self) -> Option<Snapshot> {
        if !self.unsaved.is_empty() {
            tracing::debug!("counters not saved; the previous snapshot stays served");
            return None;
        }
        self.mirror
            .locations
            .refresh(&self.mirror.topology, self.plan.zones());
        let m = &self.mirror;
        let locations: BTreeMap<String, LocationStatus> = m
            .locations
            .counts
            .iter()
            .map(|(key, n)| {
                let status = LocationStatus {
                    mix: m.mixes.latest(key).cloned(),
                    resources: *n,
                    outcome: m.outcomes.get(key).cloned(),
                };
                (key.clone(), status)
            })
            .collect();
        let plugins = self
            .plugins
            .iter()
            .map(|p| {
                let last_error = m.plugin_errors.get(p.name()).cloned().flatten();
                let disabled = self.disabled.contains(p.name());
                PluginStatus {
                    info: p.info().clone(),
                    providers: self.providers_of(p.name()),
                    up: last_error.is_none() && !disabled,
                    disabled,
                    last_error,
                    peak_memory_bytes: p.peak_memory_bytes(),
                }
            })
            .collect();
        Some(Snapshot {
            taken_at_ms: self.last_taken.stamp(now_ms()),
            ready: m.synced,
            metrics: Default::default(),
            topology: m.topology.clone(),
            counters: m.counters.clone(),
            departed: m.departed.by_project(),
            quarantined: self.store.quarantined(),
            samples: m.samples.clone(),
            derived_power: m.derived_power.clone(),
            stale_after_ms: Some(self.plan.stale_after.as_millis() as u64),
            location_of: m.locations.of.clone(),
            locations,
            environment_error: m.environment_error.clone(),
            accounts: m.accounts.clone(),
            pue: self.plan.footprint.pue.clone(),
            forecasts: m.forecasts.clone(),
            plugins,
            providers: self.provider_statuses(),
            shard: self.plan.shard_status(),
            region_index: Default::default(),
        })
    }

    fn provider_statuses(&self) -> BTreeMap<String, ProviderStatus> {
        self.plan
            .providers()
            .map(|p| {
                (
                    p.name.clone(),
                    ProviderStatus {
                        plugin: p.plugin_name.clone(),
                        granted: GrantedView::new(&p.grants, p.limits()),
                        health: p.health.status(),
                    },
                )
            })
            .collect()
    }

    fn providers_of(&self, plugin: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .plan
            .providers()
            .filter(|p| p.plugin_name == plugin)
            .map(|p| p.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Renders `snapshot`'s `/metrics` (compressed as it renders, on every core for a large
/// inventory), then makes it the current snapshot and gives the previous one's pages back
/// (scrapes may still hold it; what they free later goes back at the next publish). Blocking.
fn render_and_set(cell: &SnapshotCell, mut snapshot: Snapshot) {
    snapshot.metrics = match render_metrics_gzip(&snapshot) {
        Ok(compressed) => MetricsBody::compressed(compressed),
        Err(error) => {
            tracing::error!(%error, "compressing /metrics failed; it is served uncompressed");
            MetricsBody::new(render_metrics(&snapshot))
        }
    };
    cell.set(snapshot);
    crate::memory::release_free_heap();
}

/// Runs `work`, a CPU-bound step of the collector on its own state (samples advanced, a
/// sync diffed, counters encoded, maps copied for a snapshot), without holding an async worker:
/// on a multi-thread runtime the worker hands its queue to a new one first
/// (`block_in_place`), so `/healthz` and scrapes are not stuck behind it (with 2 cores the
/// runtime has only 2 workers). The work borrows the collector, so `spawn_blocking`, which
/// needs owned data, does not fit. On a current-thread runtime (tests) it runs in place.
pub(super) fn off_workers<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::TakenAt;

    #[test]
    fn each_snapshot_is_stamped_after_the_previous() {
        let mut taken = TakenAt::default();
        assert_eq!(taken.stamp(1_000), 1_000);
        assert_eq!(
            taken.stamp(1_000),
            1_001,
            "two publishes in one millisecond"
        );
        assert_eq!(taken.stamp(990), 1_002, "the clock stepped back");
        assert_eq!(taken.stamp(5_000), 5_000);
    }
}
