//! The plugin's key-value store: a few small values (a token, a cursor) that survive between
//! calls and restarts. Each provider instance has its own namespace; the operator grants it
//! with `key_value = true`, and the plugin asks for it with
//! [`Metadata::needs_key_value`](crate::Metadata::needs_key_value).
//! Limits: keys up to 256 bytes, values up to 64 KiB, 1 MiB per namespace.

use crate::ProviderError;
use crate::bindings::base::carbonaut::provider::key_value;

pub use key_value::StoreError;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    key_value::get(key)
}

/// Stores `value` under `key`, replacing what was there.
pub fn set(key: &str, value: &[u8]) -> Result<(), StoreError> {
    key_value::set(key, value)
}

/// Removes `key`; removing a missing key is not an error.
pub fn delete(key: &str) -> Result<(), StoreError> {
    key_value::delete(key)
}

impl From<StoreError> for ProviderError {
    /// A denied store is the operator's to fix; a full one is the plugin's bug; a failed one
    /// may pass.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Denied(m) => ProviderError::BadConfig(m),
            StoreError::Full(m) => ProviderError::Other(format!("key-value store: {m}")),
            StoreError::Failed(m) => ProviderError::Unavailable(crate::UnavailableError {
                message: format!("key-value store: {m}"),
                retry_after_ms: None,
            }),
        }
    }
}
