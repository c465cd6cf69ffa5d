//! What the snapshot shows of a provider's health; `collect` keeps the health itself.

use serde::Serialize;

/// What the API shows of a provider's health.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ProviderHealth {
    pub degraded: bool,
    pub consecutive_failures: u32,
    /// Milliseconds until the next call is allowed, while degraded.
    pub retry_in_ms: Option<u64>,
}
