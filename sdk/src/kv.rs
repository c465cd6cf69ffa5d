//! The plugin's key-value store: a few small values (a token, a cursor) that survive between
//! calls and restarts. Each provider instance has its own namespace; the operator grants it
//! with `key_value = true`, and the plugin asks for it with
//! [`Metadata::needs_key_value`](crate::Metadata::needs_key_value).
//! Limits: keys up to 256 bytes, values up to 64 KiB, 1 MiB per namespace.
//!
//! [`ExpiringCache`] keeps values there until they expire: an API's answer reused for a few
//! minutes, a token until shortly before it runs out.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::base::carbonaut::provider::key_value;
use crate::{ProviderError, TimestampMs, log};

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

/// Values in the store that are good for a while: each is kept with when it was stored and
/// when it expires, and read back only in between. Every call is a fresh instance of the
/// plugin, so this is how one call reuses what an earlier one fetched.
///
/// Entries are JSON (`{"stored_at_ms", "expires_at_ms", "value"}`): a few hundred bytes of
/// parsed figures rather than an API's whole body keep many keys within the namespace's 1 MiB.
///
/// ```no_run
/// use carbonaut_sdk::kv::ExpiringCache;
/// use carbonaut_sdk::{ProviderError, time};
///
/// fn intensity(zone: &str) -> Result<f64, ProviderError> {
///     let answers = ExpiringCache::new(300_000);
///     let (key, now) = (format!("intensity/{zone}"), time::now_ms());
///     if let Some(cached) = answers.get::<f64>(&key, now)? {
///         return Ok(cached);
///     }
///     let fetched = 123.0; // ask the API
///     answers.remember(&key, now, &fetched);
///     Ok(fetched)
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiringCache {
    lifetime_ms: u64,
}

/// One stored value; `T` is borrowed when writing and owned when reading.
#[derive(Serialize, serde::Deserialize)]
struct Entry<T> {
    stored_at_ms: TimestampMs,
    expires_at_ms: TimestampMs,
    value: T,
}

/// Why [`ExpiringCache::set`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the key-value store refused the entry: {0:?}")]
    Store(StoreError),
    #[error("the value could not be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<CacheError> for ProviderError {
    fn from(error: CacheError) -> Self {
        match error {
            CacheError::Store(store) => store.into(),
            encode @ CacheError::Encode(_) => ProviderError::Other(encode.to_string()),
        }
    }
}

impl ExpiringCache {
    /// Entries that [`set`](Self::set) writes are good for `lifetime_ms` after they are stored.
    pub const fn new(lifetime_ms: u64) -> Self {
        ExpiringCache { lifetime_ms }
    }

    /// The value under `key` if it is fresh at `now`: stored at or before `now`, expiring
    /// after it. An entry from the future is not trusted (the clock went backwards, and would
    /// make it look young for as long as it is off).
    ///
    /// A miss is `Ok(None)`: no entry, an expired one, one that does not read as `T` (written
    /// by another version of the plugin), or a store that failed to read (logged; asking the
    /// source again costs only a request). A denied store is returned, since only the
    /// operator can fix it (`key_value = true`), and a plugin may want to say why it needs it.
    pub fn get<T: DeserializeOwned>(
        &self,
        key: &str,
        now: TimestampMs,
    ) -> Result<Option<T>, StoreError> {
        let bytes = match get(key) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(denied @ StoreError::Denied(_)) => return Err(denied),
            Err(error) => {
                log::warn(
                    "the cache could not be read; asking the source again",
                    &[("key", key), ("error", &format!("{error:?}"))],
                );
                return Ok(None);
            }
        };
        match decode(&bytes, now) {
            Ok(fresh) => Ok(fresh),
            Err(error) => {
                log::warn(
                    "a cache entry is unreadable; asking the source again",
                    &[("key", key), ("error", &error.to_string())],
                );
                Ok(None)
            }
        }
    }

    /// Stores `value` under `key`, fetched at `now`, good for this cache's lifetime.
    pub fn set<T: Serialize>(
        &self,
        key: &str,
        now: TimestampMs,
        value: &T,
    ) -> Result<(), CacheError> {
        let bytes = encode(now, self.lifetime_ms, value)?;
        set(key, &bytes).map_err(CacheError::Store)
    }

    /// [`set`](Self::set), logging a failure instead of returning it: for a value whose loss
    /// costs only a request next time.
    pub fn remember<T: Serialize>(&self, key: &str, now: TimestampMs, value: &T) {
        if let Err(error) = self.set(key, now, value) {
            log::warn(
                "a value could not be cached; the next call fetches it again",
                &[("key", key), ("error", &error.to_string())],
            );
        }
    }
}

fn encode<T: Serialize>(
    now: TimestampMs,
    lifetime_ms: u64,
    value: &T,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Entry {
        stored_at_ms: now,
        expires_at_ms: now.saturating_add(lifetime_ms),
        value,
    })
}

/// The entry's value if it is fresh at `now`; an error if the bytes are not an entry of `T`.
fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    now: TimestampMs,
) -> Result<Option<T>, serde_json::Error> {
    let entry: Entry<T> = serde_json::from_slice(bytes)?;
    let fresh = entry.stored_at_ms <= now && now < entry.expires_at_ms;
    Ok(fresh.then_some(entry.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_fresh_from_when_it_is_stored_until_it_expires() {
        let bytes = encode(1_000, 300, &"answer").expect("encode");
        let read = |now| decode::<String>(&bytes, now).expect("decode");
        assert_eq!(read(1_000).as_deref(), Some("answer"));
        assert_eq!(read(1_299).as_deref(), Some("answer"));
        assert_eq!(read(1_300), None, "expired at stored + lifetime");
        assert_eq!(read(999), None, "stored in this clock's future");
    }

    #[test]
    fn entries_are_json_with_their_times() {
        let bytes = encode(5, 10, &vec![1, 2]).expect("encode");
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            r#"{"stored_at_ms":5,"expires_at_ms":15,"value":[1,2]}"#
        );
    }

    #[test]
    fn a_lifetime_of_zero_is_never_fresh_and_a_huge_one_never_wraps() {
        let never = encode(1_000, 0, &1u8).expect("encode");
        assert_eq!(decode::<u8>(&never, 1_000).expect("decode"), None);
        let forever = encode(1_000, u64::MAX, &1u8).expect("encode");
        assert_eq!(
            decode::<u8>(&forever, u64::MAX - 1).expect("decode"),
            Some(1)
        );
    }

    #[test]
    fn an_entry_of_another_shape_is_an_error_not_a_value() {
        let bytes = encode(0, 10, &"text").expect("encode");
        assert!(decode::<u64>(&bytes, 1).is_err());
        assert!(decode::<u64>(b"not json", 1).is_err());
        assert!(decode::<u64>(br#"{"fetched_at_ms":0,"answer":1}"#, 1).is_err());
    }
}
