//! Intensity forecasts (contract 0.3.0's `environment.forecast`): asked of the environment
//! provider for the locations asked about in the same environment step, once per interval; a
//! forecast is kept until a later-generated one for its location supersedes it.

use std::time::Instant;

use super::collector::Collector;
use super::plan::EnvironmentPlan;
use carbonaut_model::LocationQuery;

impl Collector {
    /// Asks `env`'s provider for forecasts of `queries` and keeps the newer ones. A failure is
    /// logged and counted; the last forecasts stay.
    pub(super) async fn collect_forecasts(
        &mut self,
        env: &EnvironmentPlan,
        queries: Vec<LocationQuery>,
    ) {
        let provider = &env.provider;
        let Ok(plugin) = provider.plugin() else {
            return;
        };
        let started = Instant::now();
        let result = provider
            .guarded(async |p| {
                p.forecast(&provider.grants, &provider.settings, &queries)
                    .await
            })
            .await;
        Collector::observe(&self.telemetry, plugin.name(), "forecast", started, &result);
        match result {
            Ok(checked) => {
                let (forecasts, rejected) = checked.into_parts();
                self.telemetry
                    .record_rejections(&provider.name, plugin.name(), &rejected);
                for forecast in forecasts {
                    let kept = self.mirror.forecasts.get(&forecast.location_id);
                    if kept.is_none_or(|k| k.generated_at <= forecast.generated_at) {
                        self.mirror
                            .forecasts
                            .insert(forecast.location_id.clone(), forecast);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(provider = %provider.name, %error, "collecting forecasts failed; keeping the last ones");
                self.telemetry.record_failure("*", "forecast");
            }
        }
    }
}
