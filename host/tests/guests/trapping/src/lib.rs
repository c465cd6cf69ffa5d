//! A test guest that misbehaves on purpose: it panics (a trap) when asked for resource metrics
//! returns a guest error from discovery, and loops forever when asked for an energy mix, so
//! tests can prove the host survives all three.

use carbonaut_sdk::{
    Account, Discovery, EnergyMix, Environment, LocationQuery, Metadata, Plugin, Project,
    ProviderError, ResourceInfo, ResourceMetrics, ResourceSample, Settings,
};

struct Trapping;

impl Plugin for Trapping {
    fn metadata() -> Metadata {
        Metadata::new("trapping", "0.0.1", "Panics on purpose.")
    }
}

impl Discovery for Trapping {
    fn list_projects(_: Settings, _: Account) -> Result<Vec<Project>, ProviderError> {
        Err(ProviderError::Unauthorized(
            "the test token was refused".into(),
        ))
    }

    fn list_resources(
        _: Settings,
        _: Account,
        _: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        Ok(Vec::new())
    }
}

impl ResourceMetrics for Trapping {
    fn collect(
        _: Settings,
        _: Account,
        _: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        panic!("trapping guest: deliberate panic in collect")
    }
}

impl Environment for Trapping {
    fn collect(_: Settings, _: Vec<LocationQuery>) -> Result<Vec<EnergyMix>, ProviderError> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

carbonaut_sdk::export!(Trapping: discovery, resource_metrics, environment);
