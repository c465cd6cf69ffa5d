//! `carbonaut:provider@0.1.0`, frozen: calls into a component built for it, with its types
//! converted to and from the host's at this boundary. 0.1.0 had no `needs`, so its plugins
//! are granted nothing beyond the sandbox's defaults, whatever a provider's config offers.
//! Every other type has the same shape in both versions; the conversions spell them out
//! field by field, so a later change to the host's types fails to compile here instead of
//! silently misreading an old plugin.

pub(crate) mod wit;

use std::borrow::Cow;

use wasmtime::component::{HasSelf, Linker};

use super::current;
use super::current as host;
use crate::inspect::WitVersion;
use carbonaut_runtime::{GuestLevel, HostState, RuntimeError};
use wit as old;

pub(super) const VERSION: WitVersion = WitVersion {
    major: 0,
    minor: 1,
    patch: 0,
};

/// 0.1.0's one import, `log@0.1.0`, forwarded to the host's log.
pub(super) fn link(linker: &mut Linker<HostState>) -> Result<(), RuntimeError> {
    old::carbonaut::provider::log::add_to_linker::<HostState, HasSelf<HostState>>(
        linker,
        |state| state,
    )
    .map_err(|e| RuntimeError::new("linking the 0.1.0 log import", e))?;
    Ok(())
}

impl old::carbonaut::provider::log::Host for HostState {
    fn log(
        &mut self,
        level: old::carbonaut::provider::log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        use old::carbonaut::provider::log::Level as Old;
        let level = match level {
            Old::Trace => GuestLevel::Trace,
            Old::Debug => GuestLevel::Debug,
            Old::Info => GuestLevel::Info,
            Old::Warn => GuestLevel::Warn,
            Old::Error => GuestLevel::Error,
        };
        self.guest_log(level, message, fields);
    }
}

fn lower<H: Clone + Convert<O>, O: Clone>(value: &H) -> Cow<'static, O> {
    Cow::Owned(value.clone().convert())
}

fn lower_all<H: Clone + Convert<O>, O: Clone>(values: &[H]) -> Cow<'static, [O]> {
    Cow::Owned(values.to_vec().convert())
}

fn raise<O: Convert<H>, H>(answer: O) -> H {
    answer.convert()
}

super::version_exports!(wit);

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
