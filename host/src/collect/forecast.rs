//! Intensity forecasts (contract 0.3.0's `environment.forecast`): asked once per environment
//! step of the forecast provider (`[environment] forecast`, else the environment provider) for
//! the locations in use. A forecast is kept, in memory and in the state database, until a
//! later-generated one for its location supersedes it (or the forecast provider changes); so a restart serves the last forecasts
//! at once, and a provider that caches (its quota) is not asked again for them.

use std::time::Instant;

use super::collector::Collector;
use super::plan::EnvironmentPlan;
use carbonaut_model::LocationQuery;
use carbonaut_store::forecasts::{ForecastStore, SourcedForecast};

impl Collector {
    /// Asks the forecast provider for forecasts of `queries` and keeps the newer ones. A
    /// failure is logged and counted; the last forecasts stay.
    pub(super) async fn collect_forecasts(
        &mut self,
        env: &EnvironmentPlan,
        queries: Vec<LocationQuery>,
    ) {
        let provider = env.forecast.as_ref().unwrap_or(&env.provider);
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
        let forecasts = match result {
            Ok(checked) => {
                let (forecasts, rejected) = checked.into_parts();
                self.telemetry
                    .record_rejections(&provider.name, plugin.name(), &rejected);
                forecasts
            }
            Err(error) => {
                tracing::warn!(provider = %provider.name, %error, "collecting forecasts failed; keeping the last ones");
                self.telemetry.record_failure("*", "forecast");
                return;
            }
        };
        // Kept per provider and location: a forecast another provider made (before a reload
        // changed `[environment]`) is dropped rather than served as this one's.
        let dropped: Vec<String> = self
            .mirror
            .forecast_sources
            .iter()
            .filter(|(_, from)| **from != provider.name)
            .map(|(location, _)| location.clone())
            .collect();
        for location in &dropped {
            self.mirror.forecasts.remove(location);
            self.mirror.forecast_sources.remove(location);
        }
        let newer: Vec<SourcedForecast> = forecasts
            .into_iter()
            .filter(|f| {
                self.mirror
                    .forecasts
                    .get(&f.location_id)
                    .is_none_or(|kept| kept.generated_at <= f.generated_at && kept != f)
            })
            .map(|forecast| SourcedForecast {
                provider: provider.name.clone(),
                forecast,
            })
            .collect();
        if newer.is_empty() && dropped.is_empty() {
            return;
        }
        for f in &newer {
            let location = f.forecast.location_id.clone();
            self.mirror
                .forecast_sources
                .insert(location.clone(), f.provider.clone());
            self.mirror.forecasts.insert(location, f.forecast.clone());
        }
        // Kept only for a restart: a failed write loses nothing served now, and is logged and
        // counted by the gate like any other.
        let timeout = self.plan.state.write_timeout;
        let _ = self
            .gate
            .write("forecasts", timeout, move |store| {
                ForecastStore::new(store.forecast_tree()?).save(
                    newer.iter().map(|f| (f.forecast.location_id.as_str(), f)),
                    dropped.iter().map(String::as_str),
                )
            })
            .await;
    }
}
