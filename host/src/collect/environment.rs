//! The energy mix: one batch call for all distinct locations of the topology, not one per
//! resource.

use std::collections::BTreeMap;
use std::time::Instant;

use super::collector::Collector;
use super::{location_key, mapped_zone};
use crate::model::LocationQuery;

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
                let mapped = mapped_zone(location, &env.zones).cloned();
                LocationQuery {
                    id: key,
                    location: location.clone(),
                    grid_zone: mapped,
                }
            });
        }
        if queries.is_empty() {
            return;
        }
        let queries: Vec<LocationQuery> = queries.into_values().collect();
        let started = Instant::now();
        let result = match env.provider.plugin() {
            Ok(plugin) => {
                let result = env
                    .provider
                    .guarded(async |p| {
                        p.collect_energy_mix(&env.provider.grants, &env.provider.settings, &queries)
                            .await
                    })
                    .await;
                Collector::observe(
                    &self.telemetry,
                    plugin.name(),
                    "collect-environment",
                    started,
                    &result,
                );
                result
            }
            Err(down) => Err(down),
        };
        self.note_plugin_result(&env.provider.plugin_name, &result);
        match result {
            Ok(checked) => {
                self.telemetry.record_rejections(
                    &env.provider.name,
                    &env.provider.plugin_name,
                    &checked.rejected,
                );
                let known = checked.items.len();
                for mix in checked.items {
                    self.mirror.mixes.insert(mix);
                }
                tracing::debug!(locations = queries.len(), known, "energy mix collected");
                self.mirror.environment_error = None;
            }
            Err(error) => {
                tracing::warn!(provider = %env.provider.name, %error, "collecting the energy mix failed; keeping the last known values");
                self.telemetry.record_failure("*", "environment");
                self.mirror.environment_error = Some(error.to_string());
            }
        }
        self.publish();
        self.telemetry
            .record_stage("environment", stage_started.elapsed().as_secs_f64());
    }
}
