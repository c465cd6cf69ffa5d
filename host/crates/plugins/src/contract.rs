//! The contract versions this host runs, declared here and nowhere else. Each version is one
//! module (`v0_1`, `v0_2`, `v0_3`) holding its generated bindings (`wit`), the imports it links (log,
//! key-value) and the conversions of its types to the current ones; [`Contract`] has a variant
//! per version and every dispatch on it is an exhaustive `match`, so a version listed but not
//! wired in does not compile. A version is frozen once released (`wit/X.Y.Z/` never changes);
//! adding one is a module, a variant and its arms.

mod bridge;
pub(super) mod v0_1;
pub(super) mod v0_2;
pub(super) mod v0_3;

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre, Linker};

use super::inspect::WitVersion;
use carbonaut_runtime::HostState;
use current::{
    Account, EnergyMix, EstimationInput, IntensityForecast, LocationQuery, PluginMetadata, Project,
    ProviderError, ResourceEstimate, ResourceInfo, ResourceSample, Settings,
};
/// The current contract's generated types: what every version's answers are raised to before
/// `convert` turns them into `carbonaut_model`'s.
pub(crate) use v0_3::wit as current;

/// One `carbonaut:provider` version this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_1,
    V0_2,
    V0_3,
}

impl Contract {
    /// Every version, oldest first.
    pub const ALL: [Contract; 3] = [Contract::V0_1, Contract::V0_2, Contract::V0_3];

    /// The newest version a component of this contract may be built for. For 0.x a version is
    /// `0.MINOR` (any patch up to the one listed); from 1.0 on, `MAJOR` (any minor up to it).
    pub const fn version(self) -> WitVersion {
        match self {
            Contract::V0_1 => v0_1::VERSION,
            Contract::V0_2 => v0_2::VERSION,
            Contract::V0_3 => v0_3::VERSION,
        }
    }

    /// The version a component built for `found` runs as, if any.
    pub fn of(found: WitVersion) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| {
            let v = c.version();
            v.is_compatible_with(&found) && found <= v
        })
    }

    /// Adds this version's imports to the linker.
    fn link(self, linker: &mut Linker<HostState>) -> Result<(), carbonaut_runtime::RuntimeError> {
        match self {
            Contract::V0_1 => v0_1::link(linker),
            Contract::V0_2 => v0_2::link(linker),
            Contract::V0_3 => v0_3::link(linker),
        }
    }
}

/// Every version's `WitVersion`, oldest first (for listings and messages).
pub const SUPPORTED: [WitVersion; Contract::ALL.len()] = {
    let mut out = [Contract::ALL[0].version(); Contract::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Contract::ALL[i].version();
        i += 1;
    }
    out
};

/// The newest contract: what the SDK of this release builds against.
pub const LATEST: WitVersion = SUPPORTED[SUPPORTED.len() - 1];

/// The wasmtime runtime with every contract version's imports linked: the one way this crate
/// and its callers make a [`carbonaut_runtime::Runtime`]. Both versions' imports live in one
/// linker (each version's plugins import their own `log` and `key-value`, forwarded to the
/// same host state).
pub fn new_runtime(
    limits: carbonaut_runtime::Limits,
) -> Result<carbonaut_runtime::Runtime, carbonaut_runtime::RuntimeError> {
    carbonaut_runtime::Runtime::new(limits, |linker| {
        Contract::ALL.into_iter().try_for_each(|c| c.link(linker))
    })
}

/// The supported version a component built for `found` runs as, if any.
pub fn supported(found: WitVersion) -> Option<WitVersion> {
    Contract::of(found).map(Contract::version)
}

/// `carbonaut:provider 0.1, 0.2`: for `--version`, `plugin inspect` and the API.
pub fn supported_range() -> String {
    let versions: Vec<String> = SUPPORTED.iter().map(|v| v.series()).collect();
    format!("carbonaut:provider {}", versions.join(", "))
}

/// What to do with a plugin built for an unsupported `found` (None when unversioned).
pub fn advice(found: Option<WitVersion>) -> String {
    let sdk = env!("CARGO_PKG_VERSION");
    let rebuild = format!(
        "rebuild it with carbonaut-sdk {sdk} (contract {})",
        LATEST.series()
    );
    match found {
        Some(v) if v > LATEST => format!(
            "it is newer than this carbonaut ({sdk}) runs: upgrade carbonaut to a release whose \
             `carbonaut --version` lists {}, or {rebuild}",
            v.series()
        ),
        _ => format!("{rebuild}, or run it on the carbonaut release it was written for"),
    }
}

/// The export indices of one component, resolved once at load time, by contract version.
pub(super) enum Exports {
    V0_1(v0_1::Exports),
    V0_2(v0_2::Exports),
    V0_3(v0_3::Exports),
}

/// Calls `$call` on the version's exports, whichever it is.
macro_rules! each_version {
    ($exports:expr, $e:ident => $call:expr) => {
        match $exports {
            Exports::V0_1($e) => $call,
            Exports::V0_2($e) => $call,
            Exports::V0_3($e) => $call,
        }
    };
}

impl Exports {
    /// Resolves the exports of a component built for `contract` that implements `kinds`.
    pub fn resolve(
        pre: &InstancePre<HostState>,
        contract: Contract,
        kinds: &[carbonaut_model::ProviderKind],
    ) -> wasmtime::Result<Exports> {
        Ok(match contract {
            Contract::V0_1 => Exports::V0_1(v0_1::Exports::resolve(pre, kinds)?),
            Contract::V0_2 => Exports::V0_2(v0_2::Exports::resolve(pre, kinds)?),
            Contract::V0_3 => Exports::V0_3(v0_3::Exports::resolve(pre, kinds)?),
        })
    }

    pub async fn metadata(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<PluginMetadata> {
        each_version!(self, e => e.metadata(store, instance).await)
    }

    pub async fn list_projects(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
    ) -> wasmtime::Result<Result<Vec<Project>, ProviderError>> {
        each_version!(self, e => e.list_projects(store, instance, settings, account).await)
    }

    pub async fn list_resources(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
        project: &Project,
    ) -> wasmtime::Result<Result<Vec<ResourceInfo>, ProviderError>> {
        each_version!(self, e => e.list_resources(store, instance, settings, account, project).await)
    }

    pub async fn collect_samples(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
        resources: &[ResourceInfo],
    ) -> wasmtime::Result<Result<Vec<ResourceSample>, ProviderError>> {
        each_version!(self, e => e.collect_samples(store, instance, settings, account, resources).await)
    }

    pub async fn collect_energy_mix(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> wasmtime::Result<Result<Vec<EnergyMix>, ProviderError>> {
        each_version!(self, e => e.collect_energy_mix(store, instance, settings, locations).await)
    }

    /// Forecasts: a version before 0.3.0 has none, so its answer is empty.
    pub async fn forecast(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> wasmtime::Result<Result<Vec<IntensityForecast>, ProviderError>> {
        match self {
            Exports::V0_1(_) | Exports::V0_2(_) => Ok(Ok(Vec::new())),
            Exports::V0_3(e) => e.forecast(store, instance, settings, locations).await,
        }
    }

    /// Estimates: only 0.3.0 and later have the kind; the loader resolves an older component
    /// without it, so reaching here with one is a host bug, reported as that call's trap.
    pub async fn estimate(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        inputs: &[EstimationInput],
    ) -> wasmtime::Result<Result<Vec<ResourceEstimate>, ProviderError>> {
        match self {
            Exports::V0_1(_) | Exports::V0_2(_) => Err(wasmtime::Error::msg(
                "the component's contract has no estimation",
            )),
            Exports::V0_3(e) => e.estimate(store, instance, settings, inputs).await,
        }
    }
}

/// The export indices of a component built for one contract version (`$wit`, its generated
/// bindings; `estimation` for a version that has that kind) and the five calls every version
/// has. Each version module defines `lower` and `lower_all`
/// (current types to its own: borrowed as they are for the current version, converted for an
/// older one) and `raise` (its answers to the current types), so the calls are written once.
macro_rules! version_exports {
    ($wit:ident $(, $estimation:ident)?) => {
        pub(crate) struct Exports {
            metadata: $wit::metadata::GuestIndices,
            discovery: Option<$wit::discovery::GuestIndices>,
            resource_metrics: Option<$wit::resource_metrics::GuestIndices>,
            environment: Option<$wit::environment::GuestIndices>,
            $($estimation: Option<$wit::$estimation::GuestIndices>,)?
        }

        impl Exports {
            pub fn resolve(
                pre: &wasmtime::component::InstancePre<carbonaut_runtime::HostState>,
                kinds: &[carbonaut_model::ProviderKind],
            ) -> wasmtime::Result<Self> {
                use carbonaut_model::ProviderKind as Kind;
                let has = |kind| kinds.contains(&kind);
                Ok(Exports {
                    metadata: $wit::metadata::GuestIndices::new(pre)?,
                    discovery: has(Kind::Discovery)
                        .then(|| $wit::discovery::GuestIndices::new(pre))
                        .transpose()?,
                    resource_metrics: has(Kind::ResourceMetrics)
                        .then(|| $wit::resource_metrics::GuestIndices::new(pre))
                        .transpose()?,
                    environment: has(Kind::Environment)
                        .then(|| $wit::environment::GuestIndices::new(pre))
                        .transpose()?,
                    $($estimation: has(Kind::Estimation)
                        .then(|| $wit::$estimation::GuestIndices::new(pre))
                        .transpose()?,)?
                })
            }

            pub async fn metadata(
                &self,
                store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
                instance: &wasmtime::component::Instance,
            ) -> wasmtime::Result<current::PluginMetadata> {
                let guest = self.metadata.load(&mut *store, instance)?;
                Ok(raise(guest.call_metadata(store).await?))
            }

            pub async fn list_projects(
                &self,
                store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
                instance: &wasmtime::component::Instance,
                settings: &current::Settings,
                account: &current::Account,
            ) -> wasmtime::Result<Result<Vec<current::Project>, current::ProviderError>> {
                let guest =
                    super::export(&self.discovery, "discovery")?.load(&mut *store, instance)?;
                let account: std::borrow::Cow<'_, $wit::Account> = lower(account);
                Ok(raise(
                    guest.call_list_projects(store, settings, &account).await?,
                ))
            }

            pub async fn list_resources(
                &self,
                store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
                instance: &wasmtime::component::Instance,
                settings: &current::Settings,
                account: &current::Account,
                project: &current::Project,
            ) -> wasmtime::Result<Result<Vec<current::ResourceInfo>, current::ProviderError>> {
                let guest =
                    super::export(&self.discovery, "discovery")?.load(&mut *store, instance)?;
                let account: std::borrow::Cow<'_, $wit::Account> = lower(account);
                let project: std::borrow::Cow<'_, $wit::Project> = lower(project);
                Ok(raise(
                    guest
                        .call_list_resources(store, settings, &account, &project)
                        .await?,
                ))
            }

            pub async fn collect_samples(
                &self,
                store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
                instance: &wasmtime::component::Instance,
                settings: &current::Settings,
                account: &current::Account,
                resources: &[current::ResourceInfo],
            ) -> wasmtime::Result<Result<Vec<current::ResourceSample>, current::ProviderError>>
            {
                let guest = super::export(&self.resource_metrics, "resource-metrics")?
                    .load(&mut *store, instance)?;
                let account: std::borrow::Cow<'_, $wit::Account> = lower(account);
                let resources: std::borrow::Cow<'_, [$wit::ResourceInfo]> = lower_all(resources);
                Ok(raise(
                    guest
                        .call_collect(store, settings, &account, &resources)
                        .await?,
                ))
            }

            pub async fn collect_energy_mix(
                &self,
                store: &mut wasmtime::Store<carbonaut_runtime::HostState>,
                instance: &wasmtime::component::Instance,
                settings: &current::Settings,
                locations: &[current::LocationQuery],
            ) -> wasmtime::Result<Result<Vec<current::EnergyMix>, current::ProviderError>> {
                let guest =
                    super::export(&self.environment, "environment")?.load(&mut *store, instance)?;
                let locations: std::borrow::Cow<'_, [$wit::LocationQuery]> = lower_all(locations);
                Ok(raise(
                    guest.call_collect(store, settings, &locations).await?,
                ))
            }
        }
    };
}
pub(crate) use version_exports;

/// An export the component's shape promised: the loader checks kinds against exports, so one
/// missing is a host bug, reported as a trap of that call.
fn export<'a, T>(indices: &'a Option<T>, what: &str) -> wasmtime::Result<&'a T> {
    indices
        .as_ref()
        .ok_or_else(|| wasmtime::Error::msg(format!("the component does not export {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_is_listed_once_and_found_by_its_own_number() {
        for (i, contract) in Contract::ALL.into_iter().enumerate() {
            assert_eq!(SUPPORTED[i], contract.version());
            assert_eq!(Contract::of(contract.version()), Some(contract));
        }
        assert_eq!(LATEST, Contract::V0_3.version());
        let newer = WitVersion {
            major: 0,
            minor: 4,
            patch: 0,
        };
        assert_eq!(Contract::of(newer), None, "0.4 is not run as 0.3");
        let patch = WitVersion {
            major: 0,
            minor: 2,
            patch: 1,
        };
        assert_eq!(
            Contract::of(patch),
            None,
            "a later patch than the one listed"
        );
    }
}
