//! The topology sync: discovery of every account in parallel, diffed against the mirror and
//! written in one transaction per account. A failing account keeps its previous topology.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::collector::Collector;
use super::now_ms;
use super::plan::AccountPlan;
use super::telemetry::Telemetry;
use crate::plugins::CallError;
use crate::runtime::bindings::Account;
use crate::state::{Discovered, diff_account};

impl Collector {
    pub async fn sync_topology(&mut self) {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for account in self.plan.accounts.clone() {
            let telemetry = self.telemetry.clone();
            tasks.spawn(async move {
                let result = discover(&account, &telemetry).await;
                (account, result)
            });
        }
        let mut topology = (*self.mirror.topology).clone();
        let mut synced = 0;
        while let Some(joined) = tasks.join_next().await {
            let Ok((account, result)) = joined else {
                tracing::error!(
                    "a discovery task panicked; its account keeps its previous topology"
                );
                continue;
            };
            self.note_plugin_result(&account.discovery.plugin_name, &result);
            let discovered = match result {
                Ok(discovered) => discovered,
                Err(error) => {
                    tracing::warn!(account = %account.name, provider = %account.discovery.name, %error, "topology sync failed; keeping the previous topology");
                    self.telemetry.record_failure(&account.name, "sync");
                    self.status(&account.name).last_sync_error = Some(error.to_string());
                    continue;
                }
            };
            let sync = diff_account(
                &account.name,
                &account.discovery.name,
                topology.accounts.get(&account.name),
                discovered,
                now_ms(),
            );
            if let Err(error) = self.store.apply_sync(&sync) {
                tracing::error!(account = %account.name, %error, "writing the topology sync failed; it will be retried");
                self.telemetry.record_failure(&account.name, "sync");
                self.status(&account.name).last_sync_error = Some(error.to_string());
                continue;
            }
            for (_, _, id) in &sync.removed_resources {
                self.mirror.counters.remove(id);
                self.mirror.samples.remove(id);
                self.mirror.derived_power.remove(id);
            }
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
        self.mirror.topology = Arc::new(topology);
        if synced > 0 {
            self.mirror.synced = true;
        }
        tracing::debug!(
            accounts = synced,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sync round done"
        );
        self.publish();
    }

    pub(super) fn status(&mut self, account: &str) -> &mut crate::snapshot::AccountStatus {
        self.mirror.accounts.entry(account.to_owned()).or_default()
    }
}

/// Lists an account's projects, then each project's resources. A project whose listing fails
/// is reported as unknown (kept as it was), not as empty.
async fn discover(account: &AccountPlan, telemetry: &Telemetry) -> Result<Discovered, CallError> {
    let provider = &account.discovery;
    let plugin = provider.plugin()?;
    let wit_account = Account {
        name: account.name.clone(),
        settings: account.settings.clone(),
    };
    let started = Instant::now();
    let projects = provider
        .guarded(async |p| {
            p.list_projects(&provider.grants, &provider.settings, &wit_account)
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
    let mut discovered = Discovered {
        projects: Vec::new(),
    };
    for project in projects? {
        let started = Instant::now();
        let resources = provider
            .guarded(async |p| {
                p.list_resources(&provider.grants, &provider.settings, &wit_account, &project)
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
            Ok(list) => Some(list),
            Err(error) => {
                tracing::warn!(account = %account.name, project = %project.id, %error, "listing a project's resources failed; keeping its previous resources");
                None
            }
        };
        discovered.projects.push((project, resources));
    }
    Ok(discovered)
}
