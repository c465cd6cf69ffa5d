//! A test guest that misbehaves on purpose: it panics (a trap) when asked for resource metrics
//! and returns a guest error from discovery, so tests can prove the host survives both.

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, ResourceMetrics,
    ResourceSample, Settings,
};

struct Trapping;

impl Plugin for Trapping {
    fn metadata() -> Metadata {
        Metadata::new("trapping", "0.0.1", "Panics on purpose.")
    }
}

impl Discovery for Trapping {
    fn list_projects(_: Settings, _: Account) -> Result<Vec<Project>, ProviderError> {
        Err(ProviderError::Unauthorized("the test token was refused".into()))
    }

    fn list_resources(_: Settings, _: Account, _: Project) -> Result<Vec<ResourceInfo>, ProviderError> {
        Ok(Vec::new())
    }
}

impl ResourceMetrics for Trapping {
    fn collect(_: Settings, _: Account, _: Vec<ResourceInfo>) -> Result<Vec<ResourceSample>, ProviderError> {
        panic!("trapping guest: deliberate panic in collect")
    }
}

carbonaut_sdk::export!(Trapping: discovery, resource_metrics);
