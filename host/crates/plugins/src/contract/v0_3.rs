//! `carbonaut:provider@0.3.0`, the current contract: its bindings, the imports it links (log,
//! key-value, forwarded to `carbonaut_runtime::HostState`) and the calls into a component built
//! for it. Its generated types are the current ones, so calls pass through unconverted.
//!
//! New in 0.3.0: a fourth provider kind, `estimation` (power per component and manufacturing
//! emissions from hardware and utilisation), the resource's cloud, instance type and GPUs,
//! energy per component in samples, the zone an energy mix is for, and intensity forecasts.

pub(crate) mod wit;

use std::borrow::Cow;

use super::current;
use crate::inspect::WitVersion;

pub(super) const VERSION: WitVersion = WitVersion {
    major: 0,
    minor: 3,
    patch: 0,
};

super::bridge::log_and_key_value_imports!(wit);

fn lower<T: Clone>(value: &T) -> Cow<'_, T> {
    Cow::Borrowed(value)
}

fn lower_all<T: Clone>(values: &[T]) -> Cow<'_, [T]> {
    Cow::Borrowed(values)
}

fn raise<T>(answer: T) -> T {
    answer
}

super::version_exports!(wit, estimation);

impl Exports {
    pub async fn forecast(
        &self,
        store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
        instance: &wasmtime::component::Instance,
        settings: &current::Settings,
        locations: &[current::LocationQuery],
    ) -> wasmtime::Result<Result<Vec<current::IntensityForecast>, current::ProviderError>> {
        let guest = super::export(&self.environment, "environment")?.load(&mut *store, instance)?;
        guest.call_forecast(store, settings, locations).await
    }

    pub async fn estimate(
        &self,
        store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
        instance: &wasmtime::component::Instance,
        settings: &current::Settings,
        inputs: &[current::EstimationInput],
    ) -> wasmtime::Result<Result<Vec<current::ResourceEstimate>, current::ProviderError>> {
        let guest = super::export(&self.estimation, "estimation")?.load(&mut *store, instance)?;
        guest.call_estimate(store, settings, inputs).await
    }
}
