//! A plugin whose `metadata` never returns: the loader must stop it at the deadline, remember
//! the refusal by the file's digest, and not hold start-up or other plugins hostage to it.

use carbonaut_sdk::{
    Account, Metadata, Plugin, ProviderError, ResourceInfo, ResourceMetrics, ResourceSample,
    Settings,
};

struct SlowMetadata;

impl Plugin for SlowMetadata {
    fn metadata() -> Metadata {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

impl ResourceMetrics for SlowMetadata {
    fn collect(
        _: Settings,
        _: Account,
        _: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        Ok(Vec::new())
    }
}

carbonaut_sdk::export!(SlowMetadata: resource_metrics);
