//! `carbonaut:provider@0.1.0`, frozen: calls into a component built for it, with its types
//! converted to and from the host's at this boundary. 0.1.0 had no `needs`, so its plugins
//! are granted nothing beyond the sandbox's defaults, whatever a provider's config offers.
//! Every other type has the same shape in both versions; the conversions spell them out
//! field by field, so a later change to the host's types fails to compile here instead of
//! silently misreading an old plugin.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use super::missing;
use crate::runtime::HostState;
use crate::runtime::bindings as host;
use crate::runtime::bindings::v0_1 as old;

pub(in crate::plugins) struct Exports {
    metadata: old::metadata::GuestIndices,
    discovery: Option<old::discovery::GuestIndices>,
    resource_metrics: Option<old::resource_metrics::GuestIndices>,
    environment: Option<old::environment::GuestIndices>,
}

impl Exports {
    pub fn resolve(
        pre: &InstancePre<HostState>,
        kinds: &[crate::model::ProviderKind],
    ) -> wasmtime::Result<Self> {
        use crate::model::ProviderKind as Kind;
        let has = |kind| kinds.contains(&kind);
        Ok(Exports {
            metadata: old::metadata::GuestIndices::new(pre)?,
            discovery: has(Kind::Discovery)
                .then(|| old::discovery::GuestIndices::new(pre))
                .transpose()?,
            resource_metrics: has(Kind::ResourceMetrics)
                .then(|| old::resource_metrics::GuestIndices::new(pre))
                .transpose()?,
            environment: has(Kind::Environment)
                .then(|| old::environment::GuestIndices::new(pre))
                .transpose()?,
        })
    }

    pub async fn metadata(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<host::PluginMetadata> {
        let guest = self.metadata.load(&mut *store, instance)?;
        Ok(guest.call_metadata(store).await?.convert())
    }

    pub async fn list_projects(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &host::Settings,
        account: &host::Account,
    ) -> wasmtime::Result<Result<Vec<host::Project>, host::ProviderError>> {
        let indices = self
            .discovery
            .as_ref()
            .ok_or_else(|| missing("discovery"))?;
        let guest = indices.load(&mut *store, instance)?;
        let account: old::Account = account.clone().convert();
        Ok(guest
            .call_list_projects(store, settings, &account)
            .await?
            .convert())
    }

    pub async fn list_resources(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &host::Settings,
        account: &host::Account,
        project: &host::Project,
    ) -> wasmtime::Result<Result<Vec<host::ResourceInfo>, host::ProviderError>> {
        let indices = self
            .discovery
            .as_ref()
            .ok_or_else(|| missing("discovery"))?;
        let guest = indices.load(&mut *store, instance)?;
        let account: old::Account = account.clone().convert();
        let project: old::Project = project.clone().convert();
        Ok(guest
            .call_list_resources(store, settings, &account, &project)
            .await?
            .convert())
    }

    pub async fn collect_samples(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &host::Settings,
        account: &host::Account,
        resources: &[host::ResourceInfo],
    ) -> wasmtime::Result<Result<Vec<host::ResourceSample>, host::ProviderError>> {
        let indices = self
            .resource_metrics
            .as_ref()
            .ok_or_else(|| missing("resource-metrics"))?;
        let guest = indices.load(&mut *store, instance)?;
        let account: old::Account = account.clone().convert();
        let resources: Vec<old::ResourceInfo> = resources.to_vec().convert();
        Ok(guest
            .call_collect(store, settings, &account, &resources)
            .await?
            .convert())
    }

    pub async fn collect_energy_mix(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        settings: &host::Settings,
        locations: &[host::LocationQuery],
    ) -> wasmtime::Result<Result<Vec<host::EnergyMix>, host::ProviderError>> {
        let indices = self
            .environment
            .as_ref()
            .ok_or_else(|| missing("environment"))?;
        let guest = indices.load(&mut *store, instance)?;
        let locations: Vec<old::LocationQuery> = locations.to_vec().convert();
        Ok(guest
            .call_collect(store, settings, &locations)
            .await?
            .convert())
    }
}

/// A conversion between the two versions' generated types (`From` cannot be implemented for
/// `Vec`, `Option` and `Result` of foreign types, hence a trait of our own).
trait Convert<T> {
    fn convert(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => { $(impl Convert<$t> for $t { fn convert(self) -> $t { self } })* };
}
same!(String, bool, f64, u64, u32);

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

impl<A: Convert<C>, B: Convert<D>, C, D> Convert<(C, D)> for (A, B) {
    fn convert(self) -> (C, D) {
        (self.0.convert(), self.1.convert())
    }
}

impl<A: Convert<C>, B: Convert<D>, C, D> Convert<Result<C, D>> for Result<A, B> {
    fn convert(self) -> Result<C, D> {
        self.map(Convert::convert).map_err(Convert::convert)
    }
}

/// Records with the same fields, converted both ways.
macro_rules! records {
    ($($name:ident { $($field:ident),* $(,)? })*) => {$(
        impl Convert<host::$name> for old::$name {
            fn convert(self) -> host::$name {
                host::$name { $($field: self.$field.convert()),* }
            }
        }
        impl Convert<old::$name> for host::$name {
            fn convert(self) -> old::$name {
                old::$name { $($field: self.$field.convert()),* }
            }
        }
    )*};
}

/// Enums with the same cases, converted both ways.
macro_rules! enums {
    ($($name:ident { $($case:ident),* $(,)? })*) => {$(
        impl Convert<host::$name> for old::$name {
            fn convert(self) -> host::$name {
                match self { $(old::$name::$case => host::$name::$case),* }
            }
        }
        impl Convert<old::$name> for host::$name {
            fn convert(self) -> old::$name {
                match self { $(host::$name::$case => old::$name::$case),* }
            }
        }
    )*};
}

records! {
    SettingSpec { key, description, required, secret }
    Account { name, settings }
    Project { id, name, labels }
    Coordinates { latitude, longitude }
    Location { country, region, zone, coordinates }
    Hardware { vcpus, memory_bytes, cpu_model }
    ResourceInfo { id, name, kind, location, hardware, labels }
    ResourceSample {
        resource_id, energy_joules, power_watts, cpu_frequency_hertz, cpu_utilization_ratio,
        read_at, estimated,
    }
    SourceShare { source, ratio }
    LocationQuery { id, location, grid_zone }
    EnergyMix { location_id, carbon_intensity, emission_factor, shares, valid_at, estimated }
    UnavailableError { message, retry_after_ms }
}

enums! {
    ProviderKind { Discovery, ResourceMetrics, Environment }
    ResourceKind { Vm, BareMetal, Host, Container, Other }
    EnergySource {
        Coal, Gas, Oil, Nuclear, Hydro, Wind, Solar, Biomass, Geothermal, Battery, HydroStorage,
        Unknown,
    }
    EmissionFactorType { Lifecycle, Direct }
}

impl Convert<host::ProviderError> for old::ProviderError {
    fn convert(self) -> host::ProviderError {
        match self {
            old::ProviderError::BadConfig(m) => host::ProviderError::BadConfig(m),
            old::ProviderError::Unauthorized(m) => host::ProviderError::Unauthorized(m),
            old::ProviderError::Unavailable(u) => host::ProviderError::Unavailable(u.convert()),
            old::ProviderError::Other(m) => host::ProviderError::Other(m),
        }
    }
}

/// 0.1.0 metadata had no `needs`: an old plugin asks for nothing, so it is granted nothing.
impl Convert<host::PluginMetadata> for old::PluginMetadata {
    fn convert(self) -> host::PluginMetadata {
        host::PluginMetadata {
            name: self.name,
            version: self.version,
            description: self.description,
            kinds: self.kinds.convert(),
            settings: self.settings.convert(),
            needs: host::CapabilityNeeds {
                http: Vec::new(),
                read_only_dirs: Vec::new(),
                key_value: false,
            },
        }
    }
}
