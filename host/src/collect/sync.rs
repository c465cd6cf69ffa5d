//! The topology sync: discovery of every account in parallel, each project diffed against the
//! mirror as it is listed (so an unchanged resource's listing is dropped at once and the
//! inventory is not held twice), and written in one transaction per account. A failing
//! account keeps its previous topology.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::Failure;
use super::collector::{Collector, off_workers};
use super::plan::AccountPlan;
use crate::telemetry::Telemetry;
use carbonaut_model::Account;
use carbonaut_model::clock::now_ms;
use carbonaut_store::state::{AccountDiff, AccountSync, Counters, Departed, ResourceId, Topology};

impl Collector {
    pub async fn sync_topology(&mut self) {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        // Synced accounts get their new node; only the others are copied over at the end, so
        // a sync never holds two full copies of the inventory besides the published one.
        let previous = self.mirror.topology.clone();
        for account in self.plan.accounts.clone() {
            let telemetry = self.telemetry.clone();
            let previous = previous.clone();
            tasks.spawn(async move {
                let result = discover(&account, &telemetry, &previous).await;
                (account, result)
            });
        }
        let mut topology = Topology::default();
        let mut synced = 0;
        while let Some(joined) = tasks.join_next().await {
            let Ok((account, result)) = joined else {
                tracing::error!(
                    "a discovery task panicked; its account keeps its previous topology"
                );
                continue;
            };
            self.note_plugin_result(&account.discovery.plugin_name, &result);
            let sync = match result {
                Ok(sync) => sync,
                Err(error) => {
                    tracing::warn!(account = %account.name, provider = %account.discovery.name, %error, "topology sync failed; keeping the previous topology");
                    self.telemetry.record_failure(&account.name, "sync");
                    self.status(&account.name).last_sync_error = Some(error.to_string());
                    continue;
                }
            };
            // Proportional to the account's size: off the async workers.
            let (sync, moves, counters) = off_workers(|| {
                let moves = self
                    .mirror
                    .departed
                    .plan_sync(&sync, &self.mirror.counters, now_ms());
                let counters: Vec<(ResourceId, Counters)> =
                    Departed::counters_after(&sync, &moves, &self.mirror.counters)
                        .into_iter()
                        .map(|(id, c)| (id.clone(), c.clone()))
                        .collect();
                (sync, moves, counters)
            });
            // Encoded and written on the gate's blocking thread, a piece at a time
            // (`StateStore::apply_sync`), so neither the encoding nor the whole account's
            // records encoded at once are on the collector; the sync comes back once stored.
            let written = self
                .gate
                .write("topology", self.plan.state.write_timeout, move |store| {
                    store
                        .apply_sync(
                            &sync,
                            &moves.0,
                            &moves.1,
                            counters.iter().map(|(i, c)| (i, c)),
                        )
                        .map(|()| (sync, moves))
                })
                .await;
            let (sync, moves) = match written {
                Ok(stored) => stored,
                Err(error) => {
                    tracing::error!(account = %account.name, %error, "writing the topology sync failed; it will be retried");
                    self.telemetry.record_failure(&account.name, "sync");
                    self.status(&account.name).last_sync_error = Some(error.to_string());
                    continue;
                }
            };
            for (_, _, id) in &sync.removed_resources {
                Arc::make_mut(&mut self.mirror.counters).remove(id);
                Arc::make_mut(&mut self.mirror.samples).remove(id);
                Arc::make_mut(&mut self.mirror.derived_power).remove(id);
            }
            if !moves.1.is_empty() {
                tracing::info!(account = %account.name, resources = moves.1.len(), "removed resources came back within the retention window; their counters continue");
            }
            self.mirror
                .departed
                .apply_sync(moves, Arc::make_mut(&mut self.mirror.counters));
            tracing::info!(
                account = %account.name,
                projects_added = sync.projects.added,
                projects_removed = sync.projects.removed,
                projects_kept = sync.projects.kept,
                resources_added = sync.resources.added,
                resources_removed = sync.resources.removed,
                resources_kept = sync.resources.kept,
                "topology synced"
            );
            topology.accounts.insert(account.name.clone(), sync.node);
            let status = self.status(&account.name);
            status.last_sync_ms = Some(now_ms());
            status.last_sync_error = None;
            synced += 1;
        }
        for (name, node) in &previous.accounts {
            if !topology.accounts.contains_key(name) {
                topology.accounts.insert(name.clone(), node.clone());
            }
        }
        self.mirror.topology = Arc::new(topology);
        if synced > 0 {
            self.mirror.synced = true;
        }
        self.expire_departed().await;
        self.publish().await;
        let took = started.elapsed();
        self.telemetry.record_stage("sync", took.as_secs_f64());
        tracing::debug!(
            accounts = synced,
            elapsed_ms = took.as_millis() as u64,
            "sync round done"
        );
    }

    /// Folds retired counters older than the retention window into the archived totals, a
    /// bounded number per sync so a large expiry never holds the collector long.
    async fn expire_departed(&mut self) {
        const PER_PASS: usize = 10_000;
        let retention_ms = u64::try_from(self.plan.retention.as_millis()).unwrap_or(u64::MAX);
        let expiry =
            self.mirror
                .departed
                .expire(&self.mirror.topology, now_ms(), retention_ms, PER_PASS);
        if expiry.is_empty() {
            return;
        }
        let written = self
            .gate
            .write("topology", self.plan.state.write_timeout, move |store| {
                store.apply_expiry(&expiry).map(|()| expiry)
            })
            .await;
        match written {
            Ok(expiry) => {
                tracing::info!(
                    resources = expiry.expired.len(),
                    projects = expiry.folded.len(),
                    "removed resources past the retention window are now counted in their project's and account's archived totals"
                );
                self.mirror.departed.apply(&expiry);
            }
            Err(error) => {
                tracing::error!(%error, "archiving removed resources' counters failed; retried at the next sync");
            }
        }
    }

    pub(super) fn status(&mut self, account: &str) -> &mut crate::snapshot::AccountStatus {
        self.mirror.accounts.entry(account.to_owned()).or_default()
    }
}

/// Lists an account's projects, then each project's resources, diffed against `previous` as
/// each comes. A project whose listing fails is reported as unknown (kept as it was), not as
/// empty.
async fn discover(
    account: &AccountPlan,
    telemetry: &Telemetry,
    previous: &Topology,
) -> Result<AccountSync, Failure> {
    let provider = &account.discovery;
    let plugin = provider.plugin()?;
    let plugin_account = Account {
        name: account.name.clone(),
        settings: account.settings.clone(),
    };
    let started = Instant::now();
    let projects = provider
        .guarded(async |p| {
            p.list_projects(&provider.grants, &provider.settings, &plugin_account)
                .await
        })
        .await;
    Collector::observe(
        telemetry,
        plugin.name(),
        "list-projects",
        started,
        &projects,
    );
    let projects = projects?;
    let mut diff = AccountDiff::new(
        &account.name,
        &provider.name,
        previous.accounts.get(&account.name),
        now_ms(),
    );
    let (projects, rejected) = projects.into_parts();
    telemetry.record_rejections(&provider.name, plugin.name(), &rejected);
    for project in projects {
        let started = Instant::now();
        let resources = provider
            .guarded(async |p| {
                p.list_resources(
                    &provider.grants,
                    &provider.settings,
                    &plugin_account,
                    &project,
                )
                .await
            })
            .await;
        Collector::observe(
            telemetry,
            plugin.name(),
            "list-resources",
            started,
            &resources,
        );
        let resources = match resources {
            Ok(list) => {
                let (resources, rejected) = list.into_parts();
                telemetry.record_rejections(&provider.name, plugin.name(), &rejected);
                Some(resources)
            }
            Err(error) => {
                tracing::warn!(account = %account.name, project = %project.id, %error, "listing a project's resources failed; keeping its previous resources");
                None
            }
        };
        diff.project(project, resources);
    }
    Ok(diff.finish())
}
