//! The energy mix: one batch call for all distinct locations of the topology, not one per
//! resource. A location the provider refuses is found by halving the batch (`isolate`),
//! remembered with a backoff and asked alone afterwards (`outcomes`), so the others stay
//! priced; each location's outcome is published for `/api/v1/status` and `/metrics`.

mod isolate;
mod outcomes;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Failure;
use super::collector::Collector;
use super::plan::EnvironmentPlan;
use super::{grid_zone, location_key};
use carbonaut_model::LocationQuery;
use carbonaut_model::clock::now_ms;

pub use isolate::{Isolated, is_refusal, isolate_refusals};
pub use outcomes::{LocationOutcomes, Split};

impl Collector {
    pub async fn collect_environment(&mut self) {
        let Some(env) = self.plan.environment.clone() else {
            return;
        };
        let stage_started = Instant::now();
        let mut queries: BTreeMap<String, LocationQuery> = BTreeMap::new();
        for (_, _, r) in self.mirror.topology.resources() {
            let key = location_key(&r.info.location, &env.zones);
            queries.entry(key.clone()).or_insert_with(|| {
                let location = &r.info.location;
                LocationQuery {
                    id: key,
                    location: location.clone(),
                    grid_zone: grid_zone(location, &env.zones),
                }
            });
        }
        if queries.is_empty() {
            return;
        }
        let provider = env.provider.name.clone();
        let now = now_ms();
        // A forecast provider of its own is asked about every location in use; the
        // environment provider only about those it is asked for a mix now (not those waiting
        // out its refusal).
        let separate_forecasts: Option<Vec<LocationQuery>> = env
            .forecast
            .is_some()
            .then(|| queries.values().cloned().collect());
        let split = self
            .mirror
            .outcomes
            .split(&provider, queries.into_values().collect(), now);
        let due: Vec<String> = split
            .batch
            .iter()
            .chain(&split.alone)
            .map(|q| q.id.clone())
            .collect();
        let held = split.held.len();
        let mut forecast_queries: Vec<LocationQuery> = separate_forecasts
            .unwrap_or_else(|| split.batch.iter().chain(&split.alone).cloned().collect());
        if due.is_empty() {
            // Every location is waiting out a refusal: no mix to ask, only forecasts of their own.
            tracing::debug!(held, "every location is waiting out a refusal");
            if env.forecast.is_some() {
                self.collect_forecasts(&env, forecast_queries).await;
                self.publish().await;
            }
            return;
        }
        let error: Option<String> = match self.ask_environment(&env, split).await {
            Ok(isolated) => {
                // A location refused just now is not asked the same provider for its
                // forecast: the plan that refuses its figures is unlikely to forecast them,
                // and each request may count against its quota (it is asked again with its
                // figures after the backoff).
                let refused: BTreeSet<&str> =
                    isolated.refused.iter().map(|(id, _)| id.as_str()).collect();
                if env.forecast.is_none() {
                    forecast_queries.retain(|q| !refused.contains(q.id.as_str()));
                }
                self.record_isolated(&env, isolated, now)
                    .map(|e| e.to_string())
            }
            Err(error) => {
                let message = error.to_string();
                self.note_plugin_result(&env.provider.plugin_name, &Err::<(), _>(error));
                for id in &due {
                    self.mirror
                        .outcomes
                        .failed(&provider, id, message.clone(), now);
                }
                Some(message)
            }
        };
        match error {
            Some(error) => {
                tracing::warn!(provider = %env.provider.name, %error, "collecting the energy mix failed; keeping the last known values");
                self.telemetry.record_failure("*", "environment");
                self.mirror.environment_error = Some(error);
            }
            None => self.mirror.environment_error = None,
        }
        tracing::debug!(locations = due.len() + held, held, "energy mix collected");
        self.collect_forecasts(&env, forecast_queries).await;
        self.publish().await;
        self.telemetry
            .record_stage("environment", stage_started.elapsed().as_secs_f64());
    }

    /// Asks the batch, then each location whose refusal has waited long enough, alone.
    /// Provider health is checked once and counts the whole as one outcome: answered when any
    /// call answered.
    async fn ask_environment(
        &self,
        env: &EnvironmentPlan,
        split: Split,
    ) -> Result<Isolated, Failure> {
        let provider = &env.provider;
        let plugin = provider.plugin()?;
        provider
            .health
            .check(&provider.name, &provider.plugin_name)?;
        let telemetry = self.telemetry.clone();
        let mut groups = vec![split.batch];
        groups.extend(split.alone.into_iter().map(|q| vec![q]));
        let isolated = isolate_refusals(groups, |batch: Vec<LocationQuery>| {
            let telemetry = telemetry.clone();
            async move {
                let _permit = provider.health.permit().await;
                let started = Instant::now();
                let result = plugin
                    .collect_energy_mix(&provider.grants, &provider.settings, &batch)
                    .await
                    .map_err(Failure::from);
                Collector::observe(
                    &telemetry,
                    plugin.name(),
                    "collect-environment",
                    started,
                    &result,
                );
                result
            }
        })
        .await;
        Ok(isolated)
    }

    /// Keeps the mixes and each location's outcome; the error the collection failed with, if
    /// it did (another error than a refusal, or every location asked refused).
    fn record_isolated(
        &mut self,
        env: &EnvironmentPlan,
        isolated: Isolated,
        now: u64,
    ) -> Option<Failure> {
        let provider = &env.provider;
        let Isolated {
            mixes,
            rejected,
            refused,
            last_refusal,
            answered,
            failed,
            calls,
        } = isolated;
        self.telemetry
            .record_rejections(&provider.name, &provider.plugin_name, &rejected);
        let priced: BTreeSet<String> = mixes.iter().map(|m| m.location_id.clone()).collect();
        for mix in mixes {
            self.mirror.mixes.insert(mix);
        }
        let outcomes = &mut self.mirror.outcomes;
        for id in &answered {
            outcomes.answered(&provider.name, id, priced.contains(id), now);
        }
        for (id, message) in &refused {
            tracing::warn!(provider = %provider.name, location = %id, error = %message, "the environment provider refused this location; the others are priced, and it is asked again alone after its backoff");
            outcomes.refused(&provider.name, id, message.clone(), now);
        }
        if calls > 1 {
            tracing::info!(provider = %provider.name, calls, refused = refused.len(), "the energy mix took several calls: refused locations were set apart or asked alone");
        }
        let outcome: Result<(), Failure> = match (failed, last_refusal) {
            (Some((error, unasked)), _) => {
                for id in &unasked {
                    outcomes.failed(&provider.name, id, error.to_string(), now);
                }
                Err(error)
            }
            (None, Some(refusal)) if answered.is_empty() => Err(refusal),
            _ => Ok(()),
        };
        provider.health.record(&outcome);
        self.note_plugin_result(&provider.plugin_name, &outcome);
        outcome.err()
    }
}
