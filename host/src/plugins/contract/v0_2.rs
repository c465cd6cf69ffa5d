//! `carbonaut:provider@0.2.0`, the current contract: its generated types are the host's, so
//! calls pass through unconverted.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use super::missing;
use crate::runtime::HostState;
use crate::runtime::bindings::{
    Account, EnergyMix, LocationQuery, PluginMetadata, Project, ProviderError, ResourceInfo,
    ResourceSample, Settings, discovery, environment, metadata, resource_metrics,
};

pub(in crate::plugins) struct Exports {
    metadata: metadata::GuestIndices,
    discovery: Option<discovery::GuestIndices>,
    resource_metrics: Option<resource_metrics::GuestIndices>,
    environment: Option<environment::GuestIndices>,
}

impl Exports {
    pub fn resolve(
        pre: &InstancePre<HostState>,
        kinds: &[crate::model::ProviderKind],
    ) -> wasmtime::Result<Self> {
        use crate::model::ProviderKind as Kind;
        let has = |kind| kinds.contains(&kind);
        Ok(Exports {
            metadata: metadata::GuestIndices::new(pre)?,
            discovery: has(Kind::Discovery)
                .then(|| discovery::GuestIndices::new(pre))
                .transpose()?,
            resource_metrics: has(Kind::ResourceMetrics)
                .then(|| resource_metrics::GuestIndices::new(pre))
                .transpose()?,
            environment: has(Kind::Environment)
                .then(|| environment::GuestIndices::new(pre))
                .transpose()?,
        })
    }

    pub async fn metadata(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<PluginMetadata> {
        let guest = self.metadata.load(&mut *store, instance)?;
        guest.call_metadata(store).await
    }

    pub async fn list_projects(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
    ) -> wasmtime::Result<Result<Vec<Project>, ProviderError>> {
        let indices = self
            .discovery
            .as_ref()
            .ok_or_else(|| missing("discovery"))?;
        let guest = indices.load(&mut *store, instance)?;
        guest.call_list_projects(store, settings, account).await
    }

    pub async fn list_resources(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
        project: &Project,
    ) -> wasmtime::Result<Result<Vec<ResourceInfo>, ProviderError>> {
        let indices = self
            .discovery
            .as_ref()
            .ok_or_else(|| missing("discovery"))?;
        let guest = indices.load(&mut *store, instance)?;
        guest
            .call_list_resources(store, settings, account, project)
            .await
    }

    pub async fn collect_samples(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
        resources: &[ResourceInfo],
    ) -> wasmtime::Result<Result<Vec<ResourceSample>, ProviderError>> {
        let indices = self
            .resource_metrics
            .as_ref()
            .ok_or_else(|| missing("resource-metrics"))?;
        let guest = indices.load(&mut *store, instance)?;
        guest
            .call_collect(store, settings, account, resources)
            .await
    }

    pub async fn collect_energy_mix(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> wasmtime::Result<Result<Vec<EnergyMix>, ProviderError>> {
        let indices = self
            .environment
            .as_ref()
            .ok_or_else(|| missing("environment"))?;
        let guest = indices.load(&mut *store, instance)?;
        guest.call_collect(store, settings, locations).await
    }
}
