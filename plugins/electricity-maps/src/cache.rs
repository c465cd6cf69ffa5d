//! Each zone's last answer in the key-value store, with when it was fetched: what it is worth
//! keeping (a few hundred bytes of parsed figures, not the API's bodies), so hundreds of zones
//! fit in the store's 1 MiB namespace. An answer that leaves a zone out is cached too, so an
//! unknown zone is not asked about on every collection.

use carbonaut_sdk::kv::{self, StoreError};
use carbonaut_sdk::{ProviderError, log};
use serde::{Deserialize, Serialize};

use crate::parse::ZoneMix;

/// What the API said about a zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Cached {
    Mix(ZoneMix),
    /// The zone is unknown or has no figure; the reason, for the log.
    LeftOut(String),
}

#[derive(Serialize, Deserialize)]
struct Entry {
    fetched_at_ms: u64,
    answer: Cached,
}

/// The store key of a zone's answer. The emission factor asked for is part of it, so changing
/// the setting never serves figures of the other kind.
pub fn key(emission_factor: &str, zone: &str) -> String {
    format!("zone/{emission_factor}/{zone}")
}

/// The cached answer under `key` if it was fetched less than `max_age_ms` before `now`.
pub fn get(key: &str, now: u64, max_age_ms: u64) -> Result<Option<Cached>, ProviderError> {
    let bytes = match kv::get(key) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(StoreError::Denied(why)) => {
            return Err(ProviderError::BadConfig(format!(
                "the key-value store is not granted ({why}): add `key_value = true` to this \
                 provider in the config so answers are cached, or set cache_seconds = 0 to call \
                 the API on every collection"
            )));
        }
        // A store that failed to read is a miss: the API still answers, only less cheaply.
        Err(error) => {
            log::warn(
                "the cache could not be read; asking the API",
                &[("key", key), ("error", &format!("{error:?}"))],
            );
            return Ok(None);
        }
    };
    let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) else {
        log::warn(
            "a cache entry is unreadable; asking the API",
            &[("key", key)],
        );
        return Ok(None);
    };
    // A clock that went backwards makes every entry look young: trust none from the future.
    let fresh = entry.fetched_at_ms <= now && now - entry.fetched_at_ms < max_age_ms;
    Ok(fresh.then_some(entry.answer))
}

/// Stores an answer fetched at `now`. A failure only costs the next call an API request, so
/// it is logged, not returned.
pub fn set(key: &str, now: u64, answer: &Cached) {
    let entry = Entry {
        fetched_at_ms: now,
        answer: answer.clone(),
    };
    let result = match serde_json::to_vec(&entry) {
        Ok(bytes) => kv::set(key, &bytes).map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = result {
        log::warn(
            "an answer could not be cached; the next collection asks the API again",
            &[("key", key), ("error", &error)],
        );
    }
}
