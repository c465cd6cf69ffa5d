//! Applying a new plan (after a reload) between collection steps: calls in flight finish on
//! the plan they started with. Accounts that left the config are removed from the state;
//! unchanged accounts keep their topology and counters; new or changed ones sync at once.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::collector::Collector;
use super::plan::Plan;
use carbonaut_plugins::Plugin;

/// A new plan and the plugins behind it, sent by the reloader.
pub struct PlanUpdate {
    pub plan: Plan,
    pub plugins: Vec<Arc<Plugin>>,
    /// Plugin names an operator disabled; listed, but not used.
    pub disabled: BTreeSet<String>,
    /// Told once the plan is applied and its snapshot published, so a reload answered
    /// "applied" is what the next API read shows (the collector applies updates only
    /// between collection steps).
    pub applied: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What the collector should do right after applying an update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FollowUp {
    pub sync: bool,
    pub environment: bool,
    pub timers_changed: bool,
}

impl Collector {
    pub async fn apply_update(&mut self, update: PlanUpdate) -> FollowUp {
        let follow = self
            .apply_plan(update.plan, update.plugins, update.disabled)
            .await;
        if let Some(applied) = update.applied {
            // The reloader may have given up waiting; nothing to tell then.
            let _ = applied.send(());
        }
        follow
    }

    async fn apply_plan(
        &mut self,
        plan: Plan,
        plugins: Vec<Arc<Plugin>>,
        disabled: BTreeSet<String>,
    ) -> FollowUp {
        let old = std::mem::replace(&mut self.plan, plan);
        self.plugins = plugins;
        self.disabled = disabled;
        let mut follow = FollowUp {
            timers_changed: old.topology_sync != self.plan.topology_sync
                || old.resource_metrics != self.plan.resource_metrics
                || old.environment_interval != self.plan.environment_interval,
            ..FollowUp::default()
        };

        let kept: BTreeSet<&str> = self.plan.accounts.iter().map(|a| a.name.as_str()).collect();
        let mut topology = (*self.mirror.topology).clone();
        let gone: Vec<String> = topology
            .accounts
            .keys()
            .filter(|a| !kept.contains(a.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(node) = topology.accounts.remove(&name) {
                for project in node.projects.values() {
                    for r in project.resources.values() {
                        Arc::make_mut(&mut self.mirror.counters).remove(&r.id);
                        Arc::make_mut(&mut self.mirror.samples).remove(&r.id);
                        Arc::make_mut(&mut self.mirror.derived_power).remove(&r.id);
                    }
                }
                self.mirror.departed.forget_account(&name);
                let removed = self
                    .gate
                    .write("topology", self.plan.state.write_timeout, move |store| {
                        store.remove_account(&node)
                    })
                    .await;
                if let Err(error) = removed {
                    tracing::error!(account = %name, %error, "removing an unconfigured account from the state failed");
                }
                tracing::info!(account = %name, "account removed from the config; its topology and counters are dropped");
            }
            self.mirror.accounts.remove(&name);
        }
        self.mirror.topology = Arc::new(topology);

        for account in &self.plan.accounts {
            let before = old.accounts.iter().find(|a| a.name == account.name);
            let changed = before.is_none_or(|b| {
                !b.discovery.same_as(&account.discovery) || b.settings != account.settings
            });
            follow.sync |= changed;
            let status = self
                .mirror
                .accounts
                .entry(account.name.clone())
                .or_default();
            status.discovery_provider = account.discovery.name.clone();
            status.resource_metrics_provider = account.resource_metrics.name.clone();
        }
        follow.environment = match (&old.environment, &self.plan.environment) {
            (Some(a), Some(b)) => !a.provider.same_as(&b.provider) || a.zones != b.zones,
            (None, None) => false,
            _ => true,
        };
        if follow.environment {
            self.mirror.mixes.clear();
        }
        self.publish().await;
        follow
    }
}
