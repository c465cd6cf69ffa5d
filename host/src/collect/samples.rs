//! Resource samples: one batch call per chunk of an account's resources, accounts in
//! parallel; then counters and emissions advance and are stored with the history in one
//! transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use super::Failure;
use super::collector::{Collector, off_workers};
use super::plan::AccountPlan;
use crate::telemetry::Telemetry;
use carbonaut_model::clock::now_ms;
use carbonaut_model::{Account, ResourceInfo, ResourceSample};
use carbonaut_plugins::{Reason, Rejections};
use carbonaut_store::state::{AccountNode, Counters, Refusal, ResourceId, StateStore, Topology};

impl Collector {
    pub async fn collect_samples(&mut self) {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for account in &self.plan.accounts {
            let has_resources = self
                .mirror
                .topology
                .accounts
                .get(&account.name)
                .is_some_and(|a| a.projects.values().any(|p| !p.resources.is_empty()));
            if !has_resources {
                continue;
            }
            let (account, telemetry, batch, topology) = (
                account.clone(),
                self.telemetry.clone(),
                self.plan.batch_size,
                self.mirror.topology.clone(),
            );
            let (estimation, footprint) =
                (self.plan.estimation.clone(), self.plan.footprint.clone());
            tasks.spawn(async move {
                let result =
                    collect_account(&account, &topology, batch, &footprint, &telemetry).await;
                let result = match (result, estimation) {
                    (Ok(readings), Some(estimation)) => Ok(readings
                        .estimated(&estimation, &topology, &footprint, batch, &telemetry)
                        .await),
                    (result, _) => result,
                };
                (account, result)
            });
        }

        self.mirror
            .locations
            .refresh(&self.mirror.topology, self.plan.zones());
        let locations = self.mirror.locations.of.clone();
        let mut updated = 0usize;
        let mut collected_accounts = Vec::new();
        // The collector's own share of the step (the calls run beside it, on other tasks).
        let mut processing = std::time::Duration::ZERO;
        while let Some(joined) = tasks.join_next().await {
            let processing_started = Instant::now();
            let Ok((account, result)) = joined else {
                tracing::error!("a sample collection task panicked");
                continue;
            };
            self.note_plugin_result(&account.resource_metrics.plugin_name, &result);
            let readings = match result {
                Ok(readings) => readings,
                Err(error) => {
                    tracing::warn!(account = %account.name, provider = %account.resource_metrics.name, %error, "collecting samples failed");
                    self.telemetry.record_failure(&account.name, "samples");
                    self.status(&account.name).last_collection_error = Some(error.to_string());
                    continue;
                }
            };
            updated += off_workers(|| self.advance(&account, readings, &locations));
            collected_accounts.push(account.name.clone());
            let status = self.status(&account.name);
            status.last_collection_ms = Some(now_ms());
            status.last_collection_error = None;
            processing += processing_started.elapsed();
        }
        let collected = started.elapsed();
        let saved = self.save_samples(collected_accounts).await;
        let saved_at = started.elapsed();
        // Publishes nothing while an account's counters are unsaved (`Collector::publish`).
        self.publish().await;
        let took = started.elapsed();
        self.telemetry.record_stage("samples", took.as_secs_f64());
        // The steps' ends, so a slow collection says where its time went.
        tracing::debug!(
            resources = updated,
            elapsed_ms = took.as_millis() as u64,
            collected_ms = collected.as_millis() as u64,
            processing_ms = processing.as_millis() as u64,
            saved_ms = saved_at.as_millis() as u64,
            stored = saved,
            "samples collected"
        );
    }
}

impl Collector {
    /// Advances the counters, history rollups and derived power of one account's `samples`;
    /// returns how many were handled (refused ones included). CPU-bound and proportional to
    /// the account's size, so the caller runs it off the async workers.
    fn advance(
        &mut self,
        account: &AccountPlan,
        readings: AccountReadings,
        locations: &HashMap<ResourceId, String>,
    ) -> usize {
        let mut updated = 0;
        let max_power = account.resource_metrics.limits().max_power_watts as f64;
        let mut refused = Rejections::default();
        let now = now_ms();
        // A resource is watched while it is collected: a gap of a few missed collections is
        // still watched time, a longer one (the host was down) is not.
        let max_gap_ms = (self.plan.resource_metrics.as_millis() as u64 * 3)
            .max(carbonaut_store::state::MAX_POWER_GAP_MS);
        let status = self.status(&account.name);
        status.resources_without_embodied = Some(readings.without_embodied as u64);
        status.modelled_resources = Some(readings.modelled as u64);
        for (id, grams_per_hour) in &readings.embodied {
            let counters = Arc::make_mut(&mut self.mirror.counters)
                .entry(id.clone())
                .or_default();
            let from = counters.embodied_at_ms();
            let grams = counters.advance_embodied(*grams_per_hour, now, max_gap_ms);
            self.history.record_embodied(
                &self.mirror.topology,
                &self.plan.reports,
                carbonaut_store::history::Embodied {
                    resource: id,
                    location: locations.get(id).map(String::as_str),
                    from_ms: from,
                    to_ms: now,
                    grams,
                },
            );
        }
        for (id, sample, pue) in readings.samples {
            let location = locations.get(&id).map(String::as_str);
            let intensity =
                location.and_then(|key| self.mirror.mixes.intensity_at(key, sample.read_at));
            // Cloning an id is a reference count (`ResourceId` shares its text).
            let counters = Arc::make_mut(&mut self.mirror.counters)
                .entry(id.clone())
                .or_default();
            let previous_at = counters.last.map(|l| l.read_at_ms);
            let grams_before = counters.emissions_grams_total;
            let joules = match counters.advance(&sample, intensity, max_power, pue) {
                Ok(joules) => joules,
                Err(refusal) => {
                    let reason = match refusal {
                        Refusal::Backwards => Reason::TimestampBackwards,
                        Refusal::ImplausibleDelta => Reason::ImplausibleDelta,
                    };
                    refused.add(reason, || {
                        format!(
                            "{}: energy {:?} J, power {:?} W at {} ms",
                            sample.resource_id,
                            sample.energy_joules,
                            sample.power_watts,
                            sample.read_at
                        )
                    });
                    updated += 1;
                    continue;
                }
            };
            self.history.record(
                &self.mirror.topology,
                &self.plan.reports,
                carbonaut_store::history::Advance {
                    resource: &id,
                    location,
                    provider: &account.resource_metrics.name,
                    priced_by: self
                        .plan
                        .environment
                        .as_ref()
                        .map(|e| e.provider.name.as_str()),
                    previous_ms: previous_at,
                    read_at_ms: sample.read_at,
                    joules,
                    grams: counters.emissions_grams_total - grams_before,
                    intensity,
                    estimated: sample.estimated,
                },
            );
            if let Some(previous_at) = previous_at.filter(|p| sample.read_at > *p) {
                let seconds = (sample.read_at - previous_at) as f64 / 1000.0;
                Arc::make_mut(&mut self.mirror.derived_power).insert(id.clone(), joules / seconds);
            }
            Arc::make_mut(&mut self.mirror.samples).insert(id, sample);
            updated += 1;
        }
        self.telemetry.record_rejections(
            &account.resource_metrics.name,
            &account.resource_metrics.plugin_name,
            &refused,
        );
        updated
    }

    /// Writes the history and the counters of `collected` accounts (and of any whose earlier
    /// save failed) off the runtime, in one transaction (a crash leaves both or neither), and
    /// flushes. Returns whether they are stored; if not, the mirror keeps them, nothing is
    /// published, and the next collection writes them again.
    async fn save_samples(&mut self, collected: Vec<String>) -> bool {
        let now = now_ms();
        let mut accounts = std::mem::take(&mut self.unsaved);
        accounts.extend(collected);
        // Encoding the history's packs and every counter of the accounts is proportional to
        // their size: off the async workers, like the write itself.
        let (history, batch) = off_workers(|| {
            let history = self.history.prepare_write(now);
            let (counters, topology) = (&self.mirror.counters, &self.mirror.topology);
            let batch = StateStore::counter_batch(
                accounts
                    .iter()
                    .filter_map(|name| topology.accounts.get(name))
                    .map(|account| (account.name.as_str(), account_counters(account, counters))),
            );
            (history, batch)
        });
        let written = self
            .gate
            .write("counters", self.plan.state.write_timeout, move |store| {
                history.apply_with_counters(store, batch)
            })
            .await;
        self.history.finish_write(now, written.is_ok());
        if written.is_err() {
            self.unsaved = accounts;
            return false;
        }
        true
    }
}

/// The counters of an account's resources, as the store keeps them per account.
pub(super) fn account_counters<'a>(
    account: &'a AccountNode,
    counters: &'a HashMap<ResourceId, Counters>,
) -> impl Iterator<Item = (&'a ResourceId, &'a Counters)> {
    account
        .projects
        .values()
        .flat_map(|p| p.resources.values())
        .filter_map(|r| counters.get(&r.id).map(|c| (&r.id, c)))
}

/// One account's readings: each sample with the PUE of the resource's location, and what the
/// estimation provider added.
pub(super) struct AccountReadings {
    account: String,
    samples: Vec<(ResourceId, ResourceSample, f64)>,
    /// Grams per hour of each resource's share of its machine's manufacturing emissions.
    embodied: HashMap<ResourceId, f64>,
    /// Resources of the account with no embodied figure (all of them without a provider).
    without_embodied: usize,
    /// Resources whose power came from the model.
    modelled: usize,
}

impl AccountReadings {
    /// The account's resources with their provider-key and info, in topology order.
    fn resources<'t>(&self, topology: &'t Topology) -> Vec<(&'t ResourceId, &'t ResourceInfo)> {
        topology
            .accounts
            .get(&self.account)
            .map_or_else(Vec::new, |a| {
                a.projects
                    .values()
                    .flat_map(|p| p.resources.values().map(|r| (&r.id, &*r.info)))
                    .collect()
            })
    }

    /// These readings with the estimation provider's power (for unmetered resources) and
    /// embodied shares. A failed estimate leaves the readings as measured and is logged: the
    /// metered part of the footprint does not wait on the model.
    async fn estimated(
        mut self,
        estimation: &super::plan::ProviderInstance,
        topology: &Topology,
        footprint: &crate::config::FootprintConfig,
        batch_size: usize,
        telemetry: &Telemetry,
    ) -> AccountReadings {
        let resources = self.resources(topology);
        let pue_of: HashMap<&ResourceId, f64> = resources
            .iter()
            .map(|(id, info)| (*id, footprint.pue_for(&info.location)))
            .collect();
        let mut samples: HashMap<ResourceId, ResourceSample> = self
            .samples
            .drain(..)
            .map(|(id, sample, _)| (id, sample))
            .collect();
        // Batches never hold one provider id twice (ids are unique per project only).
        let mut outcome = super::estimate::Estimated::default();
        for project in topology
            .accounts
            .get(&self.account)
            .into_iter()
            .flat_map(|a| a.projects.values())
        {
            let batch: Vec<(&ResourceId, &ResourceInfo)> = project
                .resources
                .values()
                .map(|r| (&r.id, &*r.info))
                .collect();
            match super::estimate::estimate_account(
                estimation,
                &batch,
                &mut samples,
                footprint,
                batch_size,
                telemetry,
            )
            .await
            {
                Ok(e) => {
                    outcome.embodied.extend(e.embodied);
                    outcome.modelled += e.modelled;
                }
                Err(error) => {
                    tracing::warn!(account = %self.account, provider = %estimation.name, %error, "estimating failed");
                    telemetry.record_failure(&self.account, "estimate");
                    break;
                }
            }
        }
        self.without_embodied = resources.len() - outcome.embodied.len();
        self.modelled = outcome.modelled;
        self.embodied = outcome.embodied;
        self.samples = samples
            .into_iter()
            .map(|(id, sample)| {
                let pue = pue_of.get(&id).copied().unwrap_or(1.0);
                (id, sample, pue)
            })
            .collect();
        self
    }
}

/// Collects one account in batches. Provider resource ids are unique within a project, not
/// across an account's projects, so a batch never holds the same provider id twice.
async fn collect_account(
    account: &AccountPlan,
    topology: &Topology,
    batch_size: usize,
    footprint: &crate::config::FootprintConfig,
    telemetry: &Telemetry,
) -> Result<AccountReadings, Failure> {
    // References, not clones: the call converts a batch's infos for the guest.
    let mut resources: Vec<(&ResourceId, &ResourceInfo)> = Vec::new();
    let mut pue_of: HashMap<&ResourceId, f64> = HashMap::new();
    if let Some(a) = topology.accounts.get(&account.name) {
        for p in a.projects.values() {
            resources.extend(p.resources.values().map(|r| (&r.id, &*r.info)));
        }
    }
    for (id, info) in &resources {
        pue_of.insert(*id, footprint.pue_for(&info.location));
    }
    let total = resources.len();
    let provider = &account.resource_metrics;
    let plugin = provider.plugin()?;
    let plugin_account = Account {
        name: account.name.clone(),
        settings: account.settings.clone(),
    };
    let mut out = Vec::new();
    let mut batch: Vec<&ResourceInfo> = Vec::new();
    let mut ids: HashMap<&str, &ResourceId> = HashMap::new();
    let mut resources = resources.into_iter().peekable();
    while resources.peek().is_some() || !batch.is_empty() {
        while let Some((id, info)) = resources.peek() {
            if batch.len() >= batch_size.max(1) || ids.contains_key(info.id.as_str()) {
                break;
            }
            ids.insert(info.id.as_str(), *id);
            batch.push(*info);
            resources.next();
        }
        let started = Instant::now();
        let result = provider
            .guarded(async |p| {
                p.collect_samples(
                    &provider.grants,
                    &provider.settings,
                    &plugin_account,
                    &batch,
                )
                .await
            })
            .await;
        Collector::observe(
            telemetry,
            plugin.name(),
            "collect-samples",
            started,
            &result,
        );
        let checked = result?;
        let (samples, rejected) = checked.into_parts();
        telemetry.record_rejections(&provider.name, plugin.name(), &rejected);
        for sample in samples {
            // The checks kept only samples of resources in this batch.
            if let Some(id) = ids.get(sample.resource_id.as_str()) {
                let pue = pue_of.get(*id).copied().unwrap_or(1.0);
                out.push(((*id).clone(), sample, pue));
            }
        }
        batch.clear();
        ids.clear();
    }
    Ok(AccountReadings {
        account: account.name.clone(),
        samples: out,
        embodied: HashMap::new(),
        // Without an estimation provider no resource has an embodied figure.
        without_embodied: total,
        modelled: 0,
    })
}
