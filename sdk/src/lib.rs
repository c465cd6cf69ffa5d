//! Write Carbonaut provider plugins in Rust.
//!
//! A plugin is a WebAssembly component that implements the `carbonaut:provider@0.3.0` contract
//! (the WIT files in this crate's `wit/` folder, the same as `carbonaut wit` writes). With this
//! crate you implement [`Plugin`]
//! plus one trait per provider kind ([`Discovery`], [`ResourceMetrics`], [`Environment`],
//! [`Estimation`]) and
//! call [`export!`] once, naming the kinds. The component then exports exactly those kinds; the
//! host reads them from its exports.
//!
//! Build with `cargo build --release --target wasm32-wasip2` on a `cdylib` crate.
//!
//! ```no_run
//! use carbonaut_sdk::{
//!     Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, Settings,
//! };
//!
//! struct OneBox;
//!
//! impl Plugin for OneBox {
//!     fn metadata() -> Metadata {
//!         Metadata::new("one-box", env!("CARGO_PKG_VERSION"), "A single, fixed machine.")
//!             .setting("hostname", "Name reported for the machine", false)
//!     }
//! }
//!
//! impl Discovery for OneBox {
//!     fn list_projects(_: Settings, _: Account) -> Result<Vec<Project>, ProviderError> {
//!         Ok(vec![Project { id: "default".into(), name: "default".into(), labels: vec![] }])
//!     }
//!
//!     fn list_resources(
//!         settings: Settings,
//!         _: Account,
//!         _: Project,
//!     ) -> Result<Vec<ResourceInfo>, ProviderError> {
//!         let name = carbonaut_sdk::setting(&settings, "hostname").unwrap_or("box");
//!         carbonaut_sdk::log::info("listing the one box", &[("name", name)]);
//!         Ok(vec![ResourceInfo {
//!             id: "box-1".into(),
//!             name: name.into(),
//!             kind: carbonaut_sdk::ResourceKind::BareMetal,
//!             location: Default::default(),
//!             hardware: Default::default(),
//!             labels: vec![],
//!         }])
//!     }
//! }
//!
//! carbonaut_sdk::export!(OneBox: discovery);
//! # fn main() {}
//! ```

#[doc(hidden)]
pub mod bindings;
mod error;
pub mod forecast;
pub mod http;
pub mod kv;
pub mod log;
mod metadata;
pub mod time;

pub use bindings::base::carbonaut::provider::types::{
    Account, CapabilityNeeds, Component, ComponentPower, ComponentReading, Coordinates,
    EmbodiedShare, EmissionFactorType, EnergyMix, EnergySource, EstimationInput, ForecastPoint,
    Hardware, IntensityForecast, Labels, Location, LocationQuery, PluginMetadata, Project,
    ProviderError, ProviderKind, ResourceEstimate, ResourceInfo, ResourceKind, ResourceSample,
    SettingSpec, Settings, SourceShare, TimestampMs, UnavailableError,
};
pub use metadata::Metadata;

/// The version of the WIT contract this SDK builds plugins for.
pub const WIT_VERSION: &str = "0.3.0";

/// What every plugin implements: its self-description.
pub trait Plugin {
    /// Name, version, description and accepted settings. The provider kinds are filled in by
    /// [`export!`] from the kinds it names.
    fn metadata() -> Metadata;
}

/// Inventory: the projects of an account and the resources of a project.
pub trait Discovery: Plugin {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError>;

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError>;
}

/// Energy and CPU readings for a batch of resources in one call. Return at most one sample per
/// resource and leave out resources without a reading.
pub trait ResourceMetrics: Plugin {
    fn collect(
        settings: Settings,
        account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError>;
}

/// Energy mix and carbon intensity for a batch of locations in one call. Echo each query's `id`
/// in `EnergyMix::location_id`; leave out locations you know nothing about.
pub trait Environment: Plugin {
    fn collect(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError>;

    /// Carbon-intensity forecasts, at most one per location. The default has none: a provider
    /// without forecasts need not write this.
    fn forecast(
        _settings: Settings,
        _locations: Vec<LocationQuery>,
    ) -> Result<Vec<IntensityForecast>, ProviderError> {
        Ok(Vec::new())
    }
}

/// Power per component and manufacturing emissions from a resource's hardware and utilisation.
/// Echo each input's `info.id` in `ResourceEstimate::resource_id`; leave out resources the model knows
/// nothing about (the host shows them as without an estimate rather than guessing).
pub trait Estimation: Plugin {
    fn estimate(
        settings: Settings,
        inputs: Vec<EstimationInput>,
    ) -> Result<Vec<ResourceEstimate>, ProviderError>;
}

/// The value of `key` in `settings`, if present.
pub fn setting<'a>(settings: &'a Settings, key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

// The types are generated, so `derive` is not available to us.
#[allow(clippy::derivable_impls)]
impl Default for Location {
    fn default() -> Self {
        Location {
            cloud: None,
            grid_zone: None,
            country: None,
            region: None,
            zone: None,
            coordinates: None,
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Hardware {
    fn default() -> Self {
        Hardware {
            vcpus: None,
            memory_bytes: None,
            cpu_model: None,
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
        }
    }
}

/// Exports a type as a Carbonaut plugin implementing the named provider kinds.
///
/// `export!(MyPlugin: discovery, resource_metrics, environment)`: name one or more kinds; the
/// type must implement [`Plugin`] and the trait of each kind named.
#[macro_export]
macro_rules! export {
    ($ty:ident : $($kind:ident),+ $(,)?) => {
        const _: () = {
            impl $crate::bindings::base::exports::carbonaut::provider::metadata::Guest for $ty {
                fn metadata() -> $crate::PluginMetadata {
                    <$ty as $crate::Plugin>::metadata()
                        .into_wit(::std::vec![$($crate::__provider_kind!($kind)),+])
                }
            }
            $crate::bindings::base::export_metadata!($ty with_types_in $crate::bindings::base);
            $( $crate::__export_kind!($kind $ty); )+
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __provider_kind {
    (discovery) => {
        $crate::ProviderKind::Discovery
    };
    (resource_metrics) => {
        $crate::ProviderKind::ResourceMetrics
    };
    (environment) => {
        $crate::ProviderKind::Environment
    };
    (estimation) => {
        $crate::ProviderKind::Estimation
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_kind {
    (discovery $ty:ident) => {
        impl $crate::bindings::discovery::exports::carbonaut::provider::discovery::Guest for $ty {
            fn list_projects(
                settings: $crate::Settings,
                account: $crate::Account,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Project>, $crate::ProviderError> {
                <$ty as $crate::Discovery>::list_projects(settings, account)
            }

            fn list_resources(
                settings: $crate::Settings,
                account: $crate::Account,
                project: $crate::Project,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::ResourceInfo>, $crate::ProviderError>
            {
                <$ty as $crate::Discovery>::list_resources(settings, account, project)
            }
        }
        $crate::bindings::discovery::export_discovery!($ty with_types_in $crate::bindings::discovery);
    };
    (resource_metrics $ty:ident) => {
        impl $crate::bindings::resource_metrics::exports::carbonaut::provider::resource_metrics::Guest
            for $ty
        {
            fn collect(
                settings: $crate::Settings,
                account: $crate::Account,
                resources: ::std::vec::Vec<$crate::ResourceInfo>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::ResourceSample>, $crate::ProviderError>
            {
                <$ty as $crate::ResourceMetrics>::collect(settings, account, resources)
            }
        }
        $crate::bindings::resource_metrics::export_resource_metrics!(
            $ty with_types_in $crate::bindings::resource_metrics
        );
    };
    (environment $ty:ident) => {
        impl $crate::bindings::environment::exports::carbonaut::provider::environment::Guest
            for $ty
        {
            fn collect(
                settings: $crate::Settings,
                locations: ::std::vec::Vec<$crate::LocationQuery>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::EnergyMix>, $crate::ProviderError> {
                <$ty as $crate::Environment>::collect(settings, locations)
            }

            fn forecast(
                settings: $crate::Settings,
                locations: ::std::vec::Vec<$crate::LocationQuery>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::IntensityForecast>,
                $crate::ProviderError,
            > {
                <$ty as $crate::Environment>::forecast(settings, locations)
            }
        }
        $crate::bindings::environment::export_environment!(
            $ty with_types_in $crate::bindings::environment
        );
    };
    (estimation $ty:ident) => {
        impl $crate::bindings::estimation::exports::carbonaut::provider::estimation::Guest for $ty {
            fn estimate(
                settings: $crate::Settings,
                inputs: ::std::vec::Vec<$crate::EstimationInput>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::ResourceEstimate>, $crate::ProviderError> {
                <$ty as $crate::Estimation>::estimate(settings, inputs)
            }
        }
        $crate::bindings::estimation::export_estimation!(
            $ty with_types_in $crate::bindings::estimation
        );
    };
    ($other:ident $ty:ident) => {
        compile_error!(concat!(
            "unknown provider kind `",
            stringify!($other),
            "`: use discovery, resource_metrics, environment or estimation"
        ));
    };
}
