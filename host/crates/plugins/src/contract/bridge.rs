//! The machinery a frozen version's module converts its generated types with: a [`Convert`]
//! trait (`From` cannot be implemented for `Vec`, `Option` and `Result` of foreign types), its
//! impls for containers, and two macros for records and enums whose shape did not change
//! between that version and the current one. What did change is written out by hand in the
//! version's module, so a change to the current types fails to compile there.

/// A conversion between two versions' generated types.
pub(super) trait Convert<T> {
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

/// Records with the same fields in `old` and `host`, converted both ways.
macro_rules! records {
    ($old:ident, $host:ident: $($name:ident { $($field:ident),* $(,)? })*) => {$(
        impl $crate::contract::bridge::Convert<$host::$name> for $old::$name {
            fn convert(self) -> $host::$name {
                $host::$name { $($field: self.$field.convert()),* }
            }
        }
        impl $crate::contract::bridge::Convert<$old::$name> for $host::$name {
            fn convert(self) -> $old::$name {
                $old::$name { $($field: self.$field.convert()),* }
            }
        }
    )*};
}
pub(super) use records;

/// Enums with the same cases in `old` and `host`, converted both ways.
macro_rules! enums {
    ($old:ident, $host:ident: $($name:ident { $($case:ident),* $(,)? })*) => {$(
        impl $crate::contract::bridge::Convert<$host::$name> for $old::$name {
            fn convert(self) -> $host::$name {
                match self { $($old::$name::$case => $host::$name::$case),* }
            }
        }
        impl $crate::contract::bridge::Convert<$old::$name> for $host::$name {
            fn convert(self) -> $old::$name {
                match self { $($host::$name::$case => $old::$name::$case),* }
            }
        }
    )*};
}
pub(super) use enums;

/// The three functions `version_exports!` calls for a frozen version: lowering the current
/// types to the old ones (owned: they are converted) and raising its answers.
macro_rules! old_version_calls {
    () => {
        fn lower<H: Clone + $crate::contract::bridge::Convert<O>, O: Clone>(
            value: &H,
        ) -> std::borrow::Cow<'static, O> {
            std::borrow::Cow::Owned(value.clone().convert())
        }

        fn lower_all<H: Clone + $crate::contract::bridge::Convert<O>, O: Clone>(
            values: &[H],
        ) -> std::borrow::Cow<'static, [O]> {
            std::borrow::Cow::Owned(values.to_vec().convert())
        }

        fn raise<O: $crate::contract::bridge::Convert<H>, H>(answer: O) -> H {
            answer.convert()
        }
    };
}
pub(super) use old_version_calls;

/// The imports every version since 0.2.0 links (log and key-value, the same shape in each),
/// forwarded to `carbonaut_runtime::HostState`: defines the version's `link`.
macro_rules! log_and_key_value_imports {
    ($wit:ident) => {
        use $wit::carbonaut::provider::{key_value, log};

        pub(super) fn link(
            linker: &mut wasmtime::component::Linker<carbonaut_runtime::HostState>,
        ) -> Result<(), carbonaut_runtime::RuntimeError> {
            use carbonaut_runtime::{HostState, RuntimeError};
            use wasmtime::component::HasSelf;
            log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state).map_err(
                |e| RuntimeError::new(concat!("linking the ", stringify!($wit), " log import"), e),
            )?;
            key_value::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
                .map_err(|e| {
                    RuntimeError::new(
                        concat!("linking the ", stringify!($wit), " key-value import"),
                        e,
                    )
                })?;
            Ok(())
        }

        impl log::Host for carbonaut_runtime::HostState {
            fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
                use carbonaut_runtime::GuestLevel;
                let level = match level {
                    log::Level::Trace => GuestLevel::Trace,
                    log::Level::Debug => GuestLevel::Debug,
                    log::Level::Info => GuestLevel::Info,
                    log::Level::Warn => GuestLevel::Warn,
                    log::Level::Error => GuestLevel::Error,
                };
                self.guest_log(level, message, fields);
            }
        }

        impl key_value::Host for carbonaut_runtime::HostState {
            fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, key_value::StoreError> {
                self.key_value()
                    .and_then(|ns| ns.get(&key))
                    .map_err(wit_error)
            }

            fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), key_value::StoreError> {
                self.key_value()
                    .and_then(|ns| ns.set(&key, &value))
                    .map_err(wit_error)
            }

            fn delete(&mut self, key: String) -> Result<(), key_value::StoreError> {
                self.key_value()
                    .and_then(|ns| ns.delete(&key))
                    .map_err(wit_error)
            }
        }

        fn wit_error(error: carbonaut_runtime::StoreError) -> key_value::StoreError {
            use carbonaut_runtime::StoreError;
            match error {
                StoreError::Full(m) => key_value::StoreError::Full(m),
                StoreError::Denied(m) => key_value::StoreError::Denied(m),
                StoreError::Failed(m) => key_value::StoreError::Failed(m),
            }
        }
    };
}
pub(super) use log_and_key_value_imports;

/// The hand-written conversions of the types 0.3.0 changed, for a version before it whose
/// shapes of them are 0.1.0's and 0.2.0's: what the old version cannot say is none or empty,
/// and what it cannot hear (a cloud, an instance type, GPUs) is left out when lowering.
macro_rules! raise_to_0_3 {
    ($old:ident, $host:ident) => {
        impl $crate::contract::bridge::Convert<$host::ProviderKind> for $old::ProviderKind {
            fn convert(self) -> $host::ProviderKind {
                match self {
                    $old::ProviderKind::Discovery => $host::ProviderKind::Discovery,
                    $old::ProviderKind::ResourceMetrics => $host::ProviderKind::ResourceMetrics,
                    $old::ProviderKind::Environment => $host::ProviderKind::Environment,
                }
            }
        }

        impl $crate::contract::bridge::Convert<$host::Location> for $old::Location {
            fn convert(self) -> $host::Location {
                $host::Location {
                    cloud: None,
                    country: self.country,
                    region: self.region,
                    zone: self.zone,
                    grid_zone: None,
                    coordinates: self.coordinates.convert(),
                }
            }
        }

        impl $crate::contract::bridge::Convert<$old::Location> for $host::Location {
            fn convert(self) -> $old::Location {
                $old::Location {
                    country: self.country,
                    region: self.region,
                    zone: self.zone,
                    coordinates: self.coordinates.convert(),
                }
            }
        }

        impl $crate::contract::bridge::Convert<$host::Hardware> for $old::Hardware {
            fn convert(self) -> $host::Hardware {
                $host::Hardware {
                    vcpus: self.vcpus,
                    memory_bytes: self.memory_bytes,
                    cpu_model: self.cpu_model,
                    instance_type: None,
                    gpu_count: None,
                    gpu_model: None,
                }
            }
        }

        impl $crate::contract::bridge::Convert<$old::Hardware> for $host::Hardware {
            fn convert(self) -> $old::Hardware {
                $old::Hardware {
                    vcpus: self.vcpus,
                    memory_bytes: self.memory_bytes,
                    cpu_model: self.cpu_model,
                }
            }
        }

        impl $crate::contract::bridge::Convert<$host::ResourceSample> for $old::ResourceSample {
            fn convert(self) -> $host::ResourceSample {
                $host::ResourceSample {
                    resource_id: self.resource_id,
                    energy_joules: self.energy_joules,
                    power_watts: self.power_watts,
                    cpu_frequency_hertz: self.cpu_frequency_hertz,
                    cpu_utilization_ratio: self.cpu_utilization_ratio,
                    read_at: self.read_at,
                    estimated: self.estimated,
                    components: Vec::new(),
                }
            }
        }

        impl $crate::contract::bridge::Convert<$host::EnergyMix> for $old::EnergyMix {
            fn convert(self) -> $host::EnergyMix {
                $host::EnergyMix {
                    location_id: self.location_id,
                    carbon_intensity: self.carbon_intensity,
                    emission_factor: self.emission_factor.convert(),
                    shares: self.shares.convert(),
                    valid_at: self.valid_at,
                    estimated: self.estimated,
                    zone: None,
                }
            }
        }

        impl $crate::contract::bridge::Convert<$host::ProviderError> for $old::ProviderError {
            fn convert(self) -> $host::ProviderError {
                match self {
                    $old::ProviderError::BadConfig(m) => $host::ProviderError::BadConfig(m),
                    $old::ProviderError::Unauthorized(m) => $host::ProviderError::Unauthorized(m),
                    $old::ProviderError::Unavailable(u) => {
                        $host::ProviderError::Unavailable(u.convert())
                    }
                    $old::ProviderError::Other(m) => $host::ProviderError::Other(m),
                }
            }
        }

        $crate::contract::bridge::records! { $old, $host:
            SettingSpec { key, description, required, secret }
            Account { name, settings }
            Project { id, name, labels }
            Coordinates { latitude, longitude }
            ResourceInfo { id, name, kind, location, hardware, labels }
            SourceShare { source, ratio }
            LocationQuery { id, location, grid_zone }
            UnavailableError { message, retry_after_ms }
        }

        $crate::contract::bridge::enums! { $old, $host:
            ResourceKind { Vm, BareMetal, Host, Container, Other }
            EnergySource {
                Coal, Gas, Oil, Nuclear, Hydro, Wind, Solar, Biomass, Geothermal, Battery,
                HydroStorage, Unknown,
            }
            EmissionFactorType { Lifecycle, Direct }
        }
    };
}
pub(super) use raise_to_0_3;
