//! A loaded plugin: its compiled component pre-linked against the runtime, and typed calls.
//! Every call gets a fresh instance (microseconds with the pooling allocator), so a trap or a
//! leak in one call cannot affect the next and concurrent calls need no lock.

use std::sync::Arc;

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

use super::CallError;
use super::inspect::WitVersion;
use crate::runtime::bindings::{
    Account, EnergyMix, LocationQuery, PluginMetadata, Project, ProviderError, ProviderKind,
    ResourceInfo, ResourceSample, SettingSpec, Settings, discovery, environment, metadata,
    resource_metrics,
};
use crate::runtime::{CacheState, HostState, Runtime};

/// What the host knows about a plugin: read from its file, its exports and its metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    #[schema(value_type = String, example = "0.1.0")]
    pub wit_version: WitVersion,
    /// From the component's exports (the metadata's own list is checked against it).
    #[serde(serialize_with = "crate::runtime::bindings::serialize_kinds")]
    #[schema(value_type = Vec<String>, example = json!(["discovery"]))]
    pub kinds: Vec<ProviderKind>,
    /// The settings the plugin accepts: key, description, required, secret.
    #[schema(value_type = Vec<Object>)]
    pub settings: Vec<SettingSpec>,
    pub sha256: String,
    pub file: String,
    pub size_bytes: u64,
    /// Whether this load compiled the component or found it precompiled.
    pub cache: CacheState,
}

pub struct Plugin {
    info: PluginInfo,
    /// `name` as shared by every store's log context.
    log_name: Arc<str>,
    runtime: Arc<Runtime>,
    pre: InstancePre<HostState>,
    metadata: metadata::GuestIndices,
    discovery: Option<discovery::GuestIndices>,
    resource_metrics: Option<resource_metrics::GuestIndices>,
    environment: Option<environment::GuestIndices>,
}

/// The export indices of one component, resolved once at load time.
pub(super) struct Exports {
    pub metadata: metadata::GuestIndices,
    pub discovery: Option<discovery::GuestIndices>,
    pub resource_metrics: Option<resource_metrics::GuestIndices>,
    pub environment: Option<environment::GuestIndices>,
}

impl Plugin {
    pub(super) fn new(
        runtime: Arc<Runtime>,
        pre: InstancePre<HostState>,
        exports: Exports,
        info: PluginInfo,
    ) -> Self {
        Plugin {
            log_name: Arc::from(info.name.as_str()),
            info,
            runtime,
            pre,
            metadata: exports.metadata,
            discovery: exports.discovery,
            resource_metrics: exports.resource_metrics,
            environment: exports.environment,
        }
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn implements(&self, kind: ProviderKind) -> bool {
        self.info.kinds.contains(&kind)
    }

    /// Calls the plugin's `metadata` export.
    pub async fn metadata(&self) -> Result<PluginMetadata, CallError> {
        Self::fetch_metadata(
            &self.runtime,
            &self.pre,
            &self.metadata,
            &self.info.name,
            &self.info.version,
        )
        .await
    }

    /// Used while loading, before a [`Plugin`] exists.
    pub(super) async fn fetch_metadata(
        runtime: &Runtime,
        pre: &InstancePre<HostState>,
        indices: &metadata::GuestIndices,
        name: &str,
        version: &str,
    ) -> Result<PluginMetadata, CallError> {
        const OP: &str = "metadata";
        let context = Context {
            runtime,
            plugin: name,
            version,
            operation: OP,
        };
        let (mut store, instance) = context.instantiate(pre, Arc::from(name)).await?;
        let guest = indices
            .load(&mut store, &instance)
            .map_err(|e| context.failure(e))?;
        guest
            .call_metadata(&mut store)
            .await
            .map_err(|e| context.failure(e))
    }

    pub async fn list_projects(
        &self,
        settings: &Settings,
        account: &Account,
    ) -> Result<Vec<Project>, CallError> {
        let context = self.context("discovery.list-projects");
        let indices = self
            .discovery
            .as_ref()
            .ok_or_else(|| self.not_implemented(ProviderKind::Discovery))?;
        let (mut store, instance) = context
            .instantiate(&self.pre, self.log_name.clone())
            .await?;
        let guest = indices
            .load(&mut store, &instance)
            .map_err(|e| context.failure(e))?;
        context.finish(
            guest
                .call_list_projects(&mut store, settings, account)
                .await,
        )
    }

    pub async fn list_resources(
        &self,
        settings: &Settings,
        account: &Account,
        project: &Project,
    ) -> Result<Vec<ResourceInfo>, CallError> {
        let context = self.context("discovery.list-resources");
        let indices = self
            .discovery
            .as_ref()
            .ok_or_else(|| self.not_implemented(ProviderKind::Discovery))?;
        let (mut store, instance) = context
            .instantiate(&self.pre, self.log_name.clone())
            .await?;
        let guest = indices
            .load(&mut store, &instance)
            .map_err(|e| context.failure(e))?;
        context.finish(
            guest
                .call_list_resources(&mut store, settings, account, project)
                .await,
        )
    }

    /// One call for the whole batch of `resources`.
    pub async fn collect_samples(
        &self,
        settings: &Settings,
        account: &Account,
        resources: &[ResourceInfo],
    ) -> Result<Vec<ResourceSample>, CallError> {
        let context = self.context("resource-metrics.collect");
        let indices = self
            .resource_metrics
            .as_ref()
            .ok_or_else(|| self.not_implemented(ProviderKind::ResourceMetrics))?;
        let (mut store, instance) = context
            .instantiate(&self.pre, self.log_name.clone())
            .await?;
        let guest = indices
            .load(&mut store, &instance)
            .map_err(|e| context.failure(e))?;
        context.finish(
            guest
                .call_collect(&mut store, settings, account, resources)
                .await,
        )
    }

    /// One call for the whole batch of `locations`.
    pub async fn collect_energy_mix(
        &self,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> Result<Vec<EnergyMix>, CallError> {
        let context = self.context("environment.collect");
        let indices = self
            .environment
            .as_ref()
            .ok_or_else(|| self.not_implemented(ProviderKind::Environment))?;
        let (mut store, instance) = context
            .instantiate(&self.pre, self.log_name.clone())
            .await?;
        let guest = indices
            .load(&mut store, &instance)
            .map_err(|e| context.failure(e))?;
        context.finish(guest.call_collect(&mut store, settings, locations).await)
    }

    fn context(&self, operation: &'static str) -> Context<'_> {
        Context {
            runtime: &self.runtime,
            plugin: &self.info.name,
            version: &self.info.version,
            operation,
        }
    }

    fn not_implemented(&self, kind: ProviderKind) -> CallError {
        CallError::NotImplemented {
            plugin: self.info.name.clone(),
            version: self.info.version.clone(),
            kind: kind.as_str(),
        }
    }
}

/// One call's identity, for instantiation and for wrapping its failures.
struct Context<'a> {
    runtime: &'a Runtime,
    plugin: &'a str,
    version: &'a str,
    operation: &'static str,
}

impl Context<'_> {
    async fn instantiate(
        &self,
        pre: &InstancePre<HostState>,
        log_name: Arc<str>,
    ) -> Result<(Store<HostState>, Instance), CallError> {
        let mut store = self.runtime.new_store(log_name);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.failure(e))?;
        Ok((store, instance))
    }

    fn finish<T>(
        &self,
        result: wasmtime::Result<Result<T, ProviderError>>,
    ) -> Result<T, CallError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Guest {
                plugin: self.plugin.to_owned(),
                version: self.version.to_owned(),
                operation: self.operation,
                error,
            }),
            Err(error) => Err(self.failure(error)),
        }
    }

    /// A wasmtime error (trap, deadline, instantiation failure) as a [`CallError`].
    fn failure(&self, error: wasmtime::Error) -> CallError {
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return CallError::Deadline {
                plugin: self.plugin.to_owned(),
                version: self.version.to_owned(),
                operation: self.operation,
                deadline_ms: self.runtime.limits().call_deadline.as_millis(),
            };
        }
        CallError::Trap {
            plugin: self.plugin.to_owned(),
            version: self.version.to_owned(),
            operation: self.operation,
            reason: format!("{error:#}"),
        }
    }
}
