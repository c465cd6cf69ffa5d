//! A loaded plugin: its compiled component pre-linked against the runtime, and typed calls.
//! Every call gets a fresh instance (microseconds with the pooling allocator), so a trap or a
//! leak in one call cannot affect the next and concurrent calls need no lock.

use std::borrow::Borrow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

use super::contract::Exports;
use super::inspect::WitVersion;
use super::validate::{self, Checked, Rules};
use super::{CallError, CallErrorKind, Needs, convert};
use crate::contract::current as wit;
use carbonaut_model::{
    Account, EnergyMix, Estimate, IntensityForecast, LocationQuery, PluginMetadata, Project,
    ProviderKind, ResourceInfo, ResourceSample, SettingSpec, Settings,
};
use carbonaut_runtime::{
    CacheState, EPOCH_TICK, Grants, HostState, MAX_LOG_LINES_PER_CALL, Runtime,
};

/// What the host knows about a plugin: read from its file, its exports and its metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    #[schema(value_type = String, example = "0.2.0")]
    pub wit_version: WitVersion,
    /// From the component's exports (the metadata's own list is checked against it).
    #[serde(serialize_with = "carbonaut_model::serialize_kinds")]
    #[schema(value_type = Vec<String>, example = json!(["discovery"]))]
    pub kinds: Vec<ProviderKind>,
    /// The settings the plugin accepts: key, description, required, secret.
    #[schema(value_type = Vec<Object>)]
    pub settings: Vec<SettingSpec>,
    /// The capabilities it asks for; a provider instance gets these intersected with what
    /// the operator configured.
    pub needs: Needs,
    pub sha256: String,
    pub file: String,
    pub size_bytes: u64,
    /// Whether this load compiled the component or found it precompiled.
    pub cache: CacheState,
    /// The ID of the trusted key whose signature (`FILE.minisig`) verified, if it was signed.
    pub signed_by: Option<String>,
}

pub struct Plugin {
    info: PluginInfo,
    /// `name` as shared by every store's log context.
    log_name: Arc<str>,
    runtime: Arc<Runtime>,
    pre: InstancePre<HostState>,
    /// Its exports, by the contract version it was built for.
    exports: Exports,
    /// The largest linear memory any call of this plugin grew to, in bytes.
    peak_memory: AtomicU64,
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
            exports,
            peak_memory: AtomicU64::new(0),
        }
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Records what the trust check found (set once, before the plugin is shared).
    pub(super) fn set_signed_by(&mut self, key_id: Option<String>) {
        self.info.signed_by = key_id;
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The largest linear memory any call of this plugin grew to, in bytes.
    pub fn peak_memory_bytes(&self) -> u64 {
        self.peak_memory.load(Ordering::Relaxed)
    }

    pub fn implements(&self, kind: ProviderKind) -> bool {
        self.info.kinds.contains(&kind)
    }

    /// Calls the plugin's `metadata` export.
    pub async fn metadata(&self) -> Result<PluginMetadata, CallError> {
        Self::fetch_metadata(
            &self.runtime,
            &self.pre,
            &self.exports,
            &self.info.name,
            &self.info.version,
        )
        .await
    }

    /// Used while loading, before a [`Plugin`] exists.
    pub(super) async fn fetch_metadata(
        runtime: &Runtime,
        pre: &InstancePre<HostState>,
        exports: &Exports,
        name: &str,
        version: &str,
    ) -> Result<PluginMetadata, CallError> {
        let context = Context {
            runtime,
            plugin: name,
            version,
            operation: "metadata",
            peak: None,
            grants: &Grants::NONE,
            needs: &NO_NEEDS,
        };
        context
            .call(pre, Arc::from(name), async |store, instance| {
                Ok(Ok(exports.metadata(store, instance).await?))
            })
            .await
            .map(convert::metadata)
            .and_then(|metadata| {
                validate::metadata(metadata)
                    .map_err(|reason| context.error(CallErrorKind::BadMetadata(reason)))
            })
    }

    pub async fn list_projects(
        &self,
        grants: &Grants,
        settings: &Settings,
        account: &Account,
    ) -> Result<Checked<Vec<Project>>, CallError> {
        self.require(ProviderKind::Discovery)?;
        let cx = self.context("discovery.list-projects", grants);
        let account = convert::account(account);
        let items = cx
            .call(&self.pre, self.log_name.clone(), async |store, instance| {
                self.exports
                    .list_projects(store, instance, settings, &account)
                    .await
            })
            .await
            .and_then(|items| cx.bounded(items))?;
        Ok(validate::projects(
            items.into_iter().map(convert::project).collect(),
        ))
    }

    pub async fn list_resources(
        &self,
        grants: &Grants,
        settings: &Settings,
        account: &Account,
        project: &Project,
    ) -> Result<Checked<Vec<ResourceInfo>>, CallError> {
        self.require(ProviderKind::Discovery)?;
        let cx = self.context("discovery.list-resources", grants);
        let (account, project) = (convert::account(account), convert::project_to_wit(project));
        let items = cx
            .call(&self.pre, self.log_name.clone(), async |store, instance| {
                self.exports
                    .list_resources(store, instance, settings, &account, &project)
                    .await
            })
            .await
            .and_then(|items| cx.bounded(items))?;
        Ok(validate::resources(
            items.into_iter().map(convert::resource).collect(),
        ))
    }

    /// One call for the whole batch of `resources` (owned or borrowed: the collector passes
    /// references into its topology, converted once, here).
    pub async fn collect_samples<R: Borrow<ResourceInfo>>(
        &self,
        grants: &Grants,
        settings: &Settings,
        account: &Account,
        resources: &[R],
    ) -> Result<Checked<Vec<ResourceSample>>, CallError> {
        self.require(ProviderKind::ResourceMetrics)?;
        let cx = self.context("resource-metrics.collect", grants);
        let account = convert::account(account);
        let batch: Vec<wit::ResourceInfo> = resources
            .iter()
            .map(|r| convert::resource_to_wit(r.borrow()))
            .collect();
        let items = cx
            .call(&self.pre, self.log_name.clone(), async |store, instance| {
                self.exports
                    .collect_samples(store, instance, settings, &account, &batch)
                    .await
            })
            .await
            .and_then(|items| cx.bounded(items))?;
        Ok(validate::samples(
            items.into_iter().map(convert::sample).collect(),
            resources,
            &cx.rules(),
        ))
    }

    /// One call for the whole batch of `locations`.
    pub async fn collect_energy_mix(
        &self,
        grants: &Grants,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> Result<Checked<Vec<EnergyMix>>, CallError> {
        self.require(ProviderKind::Environment)?;
        let cx = self.context("environment.collect", grants);
        let queries: Vec<wit::LocationQuery> =
            locations.iter().map(convert::query_to_wit).collect();
        let items = cx
            .call(&self.pre, self.log_name.clone(), async |store, instance| {
                self.exports
                    .collect_energy_mix(store, instance, settings, &queries)
                    .await
            })
            .await
            .and_then(|items| cx.bounded(items))?;
        Ok(validate::mixes(
            items.into_iter().map(convert::mix).collect(),
            locations,
            &cx.rules(),
        ))
    }

    /// Forecasts for the batch of `locations`; a plugin of a contract before 0.3.0 has none.
    pub async fn forecast(
        &self,
        grants: &Grants,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> Result<Checked<Vec<IntensityForecast>>, CallError> {
        self.require(ProviderKind::Environment)?;
        let cx = self.context("environment.forecast", grants);
        let queries: Vec<wit::LocationQuery> =
            locations.iter().map(convert::query_to_wit).collect();
        let items = cx
            .call(&self.pre, self.log_name.clone(), async |store, instance| {
                self.exports
                    .forecast(store, instance, settings, &queries)
                    .await
            })
            .await
            .and_then(|items| cx.bounded(items))?;
        Ok(validate::forecasts(
            items.into_iter().map(convert::forecast).collect(),
            locations,
            &cx.rules(),
        ))
    }

    /// Power per component and embodied shares for a batch of resources, each with its latest
    /// sample if the host has one.
    pub async fn estimate(
        &self,
        grants: &Grants,
        settings: &Settings,
        inputs: &[(&ResourceInfo, Option<&ResourceSample>)],
    ) -> Result<Checked<Vec<Estimate>>, CallError> {
        self.require(ProviderKind::Estimation)?;
        let cx = self.context("estimation.estimate", grants);
        let batch: Vec<wit::EstimationInput> = inputs
            .iter()
            .map(|(info, sample)| convert::estimation_input_to_wit(info, *sample))
            .collect();
        let items = cx
            .call(&self.pre, self.log_name.clone(), async |store, instance| {
                self.exports
                    .estimate(store, instance, settings, &batch)
                    .await
            })
            .await
            .and_then(|items| cx.bounded(items))?;
        let asked: Vec<&ResourceInfo> = inputs.iter().map(|(info, _)| *info).collect();
        Ok(validate::estimates(
            items.into_iter().map(convert::estimate).collect(),
            &asked,
            &cx.rules(),
        ))
    }

    fn context<'a>(&'a self, operation: &'static str, grants: &'a Grants) -> Context<'a> {
        Context {
            grants,
            runtime: &self.runtime,
            plugin: &self.info.name,
            version: &self.info.version,
            operation,
            peak: Some(&self.peak_memory),
            needs: &self.info.needs,
        }
    }

    fn require(&self, kind: ProviderKind) -> Result<(), CallError> {
        if self.implements(kind) {
            return Ok(());
        }
        Err(CallError {
            plugin: self.info.name.clone(),
            version: self.info.version.clone(),
            operation: kind.as_str(),
            kind: CallErrorKind::NotImplemented,
        })
    }
}

/// The needs of the `metadata` call, made before the plugin's own are known.
static NO_NEEDS: Needs = Needs {
    http: Vec::new(),
    read_only_dirs: Vec::new(),
    key_value: false,
};

/// One call's identity, for running it and for wrapping its failures.
struct Context<'a> {
    runtime: &'a Runtime,
    plugin: &'a str,
    version: &'a str,
    operation: &'static str,
    peak: Option<&'a AtomicU64>,
    grants: &'a Grants,
    /// What the plugin asked for, to say which side lacks a refused capability.
    needs: &'a Needs,
}

impl Context<'_> {
    fn error(&self, kind: CallErrorKind) -> CallError {
        CallError {
            plugin: self.plugin.to_owned(),
            version: self.version.to_owned(),
            operation: self.operation,
            kind,
        }
    }

    /// Runs `body` against a fresh instance, under the memory cap and the deadline, and turns
    /// every way it can fail into a [`CallError`] naming the plugin.
    async fn call<T>(
        &self,
        pre: &InstancePre<HostState>,
        log_name: Arc<str>,
        body: impl AsyncFnOnce(
            &mut Store<HostState>,
            &Instance,
        ) -> wasmtime::Result<Result<T, wit::ProviderError>>,
    ) -> Result<T, CallError> {
        let mut store = self
            .runtime
            .new_store(log_name, self.grants)
            .map_err(|error| self.error(CallErrorKind::Trap(error.to_string())))?;
        let deadline = self.runtime.limits_for(self.grants).call_deadline;
        // Epoch interruption stops guest code at the deadline, but not a guest waiting in a
        // host call (a sleep, a poll): this timeout covers those, a little later.
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            body(&mut store, &instance).await
        };
        let outcome = tokio::time::timeout(deadline + 2 * EPOCH_TICK, run).await;
        if let Some(peak) = self.peak {
            peak.fetch_max(
                store.data().limiter().peak_bytes() as u64,
                Ordering::Relaxed,
            );
        }
        let dropped = store.data().log_dropped();
        if dropped > 0 {
            tracing::warn!(
                plugin = self.plugin,
                operation = self.operation,
                dropped,
                "the plugin logged more than {MAX_LOG_LINES_PER_CALL} lines in one call; the rest were dropped"
            );
        }
        match outcome {
            Err(_elapsed) => Err(self.deadline()),
            Ok(Ok(Ok(value))) => Ok(value),
            // A guest that was refused a capability usually reports it as its own error;
            // the refusal is the reason worth counting.
            Ok(Ok(Err(error))) if !store.data().refused_origins().is_empty() => {
                Err(self.error(CallErrorKind::Denied {
                    refused: self.grants.secrets.scrub_owned(super::needs::refused_http(
                        store.data().refused_origins(),
                        &self.grants.http_offered,
                        self.needs,
                    )),
                    error: Box::new(convert::provider_error(error, &self.grants.secrets)),
                }))
            }
            Ok(Ok(Err(error))) => Err(self.error(CallErrorKind::Guest(convert::provider_error(
                error,
                &self.grants.secrets,
            )))),
            Ok(Err(error)) => Err(self.failure(&store, error)),
        }
    }

    /// The boundary checks' view of this call: the host's clock now, the provider's limits.
    fn rules(&self) -> Rules {
        Rules {
            now_ms: carbonaut_model::clock::now_ms(),
            max_power_watts: self.runtime.limits_for(self.grants).max_power_watts as f64,
        }
    }

    fn deadline(&self) -> CallError {
        self.error(CallErrorKind::Deadline {
            deadline_ms: self
                .runtime
                .limits_for(self.grants)
                .call_deadline
                .as_millis(),
        })
    }

    /// Refuses a result with more items than the instance's `max_result_items`.
    fn bounded<T>(&self, items: Vec<T>) -> Result<Vec<T>, CallError> {
        let limit = self.runtime.limits_for(self.grants).max_result_items;
        if items.len() > limit {
            return Err(self.error(CallErrorKind::ResultTooLarge {
                items: items.len(),
                limit,
            }));
        }
        Ok(items)
    }

    /// A wasmtime error (trap, deadline, memory, instantiation failure) as a [`CallError`].
    fn failure(&self, store: &Store<HostState>, error: wasmtime::Error) -> CallError {
        let limiter = store.data().limiter();
        if let Some(asked) = limiter.denied_bytes() {
            return self.error(CallErrorKind::OutOfMemory {
                asked_bytes: asked,
                limit_bytes: limiter.memory_limit(),
            });
        }
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return self.deadline();
        }
        // The trap code is the reason; the wasm backtrace is for a debug log, not a message.
        tracing::debug!(plugin = self.plugin, operation = self.operation, error = ?error, "plugin call failed");
        let reason = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        self.error(CallErrorKind::Trap(self.grants.secrets.scrub_owned(reason)))
    }
}
