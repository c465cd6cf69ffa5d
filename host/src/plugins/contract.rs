//! The contract versions this host runs, declared here and nowhere else, and the calls into a
//! component of each: one module per version with its generated bindings' export indices and
//! the conversions of its types to and from the host's. A version is frozen once released
//! (`wit/X.Y.Z/` never changes); a new one adds a module and a line to [`SUPPORTED`].

pub(super) mod v0_1;
pub(super) mod v0_2;

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use super::inspect::WitVersion;
use crate::runtime::HostState;
use crate::runtime::bindings::{
    Account, EnergyMix, LocationQuery, PluginMetadata, Project, ProviderError, ResourceInfo,
    ResourceSample, Settings,
};

/// Every `carbonaut:provider` version this host loads, oldest first. For 0.x a version is
/// `0.MINOR` (any patch up to the one listed); from 1.0 on, `MAJOR` (any minor up to it).
pub const SUPPORTED: &[WitVersion] = &[
    WitVersion {
        major: 0,
        minor: 1,
        patch: 0,
    },
    WitVersion {
        major: 0,
        minor: 2,
        patch: 0,
    },
];

/// The newest contract: what the SDK of this release builds against.
pub const LATEST: WitVersion = SUPPORTED[SUPPORTED.len() - 1];

/// `carbonaut:provider 0.1, 0.2`: for `--version`, `plugin inspect` and the API.
pub fn supported_range() -> String {
    let versions: Vec<String> = SUPPORTED.iter().map(|v| v.series()).collect();
    format!("carbonaut:provider {}", versions.join(", "))
}

/// The supported version a component built for `found` runs as, if any.
pub fn supported(found: WitVersion) -> Option<WitVersion> {
    SUPPORTED
        .iter()
        .copied()
        .find(|v| v.is_compatible_with(&found) && found <= *v)
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
}

impl Exports {
    /// Resolves the exports of a component built for `version` (one of [`SUPPORTED`]) that
    /// implements `kinds`.
    pub fn resolve(
        pre: &InstancePre<HostState>,
        version: WitVersion,
        kinds: &[crate::model::ProviderKind],
    ) -> wasmtime::Result<Exports> {
        Ok(if version.minor == 1 && version.major == 0 {
            Exports::V0_1(v0_1::Exports::resolve(pre, kinds)?)
        } else {
            Exports::V0_2(v0_2::Exports::resolve(pre, kinds)?)
        })
    }

    pub async fn metadata(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<PluginMetadata> {
        match self {
            Exports::V0_1(e) => e.metadata(store, instance).await,
            Exports::V0_2(e) => e.metadata(store, instance).await,
        }
    }

    pub async fn list_projects(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
    ) -> wasmtime::Result<Result<Vec<Project>, ProviderError>> {
        match self {
            Exports::V0_1(e) => e.list_projects(store, instance, settings, account).await,
            Exports::V0_2(e) => e.list_projects(store, instance, settings, account).await,
        }
    }

    pub async fn list_resources(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
        project: &Project,
    ) -> wasmtime::Result<Result<Vec<ResourceInfo>, ProviderError>> {
        match self {
            Exports::V0_1(e) => {
                e.list_resources(store, instance, settings, account, project)
                    .await
            }
            Exports::V0_2(e) => {
                e.list_resources(store, instance, settings, account, project)
                    .await
            }
        }
    }

    pub async fn collect_samples(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        account: &Account,
        resources: &[ResourceInfo],
    ) -> wasmtime::Result<Result<Vec<ResourceSample>, ProviderError>> {
        match self {
            Exports::V0_1(e) => {
                e.collect_samples(store, instance, settings, account, resources)
                    .await
            }
            Exports::V0_2(e) => {
                e.collect_samples(store, instance, settings, account, resources)
                    .await
            }
        }
    }

    pub async fn collect_energy_mix(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &Settings,
        locations: &[LocationQuery],
    ) -> wasmtime::Result<Result<Vec<EnergyMix>, ProviderError>> {
        match self {
            Exports::V0_1(e) => {
                e.collect_energy_mix(store, instance, settings, locations)
                    .await
            }
            Exports::V0_2(e) => {
                e.collect_energy_mix(store, instance, settings, locations)
                    .await
            }
        }
    }
}

/// An export the component's shape promised but the indices lack: the loader checks kinds
/// against exports, so this is a host bug, reported as a trap of that call.
fn missing(what: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("the component does not export {what}"))
}
