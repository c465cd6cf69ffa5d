//! Each region's last answer in the key-value store with when it was fetched, so collections
//! closer together than the MOER's five-minute period reuse it instead of asking again. A
//! region WattTime does not know is cached as `None`, so it is not asked about every time.

use carbonaut_sdk::kv;
use carbonaut_sdk::log;
use serde::{Deserialize, Serialize};

use crate::api::Moer;

#[derive(Serialize, Deserialize)]
struct Entry {
    fetched_at_ms: u64,
    moer: Option<Moer>,
}

/// `Some(answer)` when the entry under `key` was fetched less than `max_age_ms` before `now`.
pub fn get(key: &str, now: u64, max_age_ms: u64) -> Option<Option<Moer>> {
    let bytes = match kv::get(key) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return None,
        // The token needs the store anyway: a denied store is reported by the login.
        Err(error) => {
            log::warn(
                "the cache could not be read; asking the API",
                &[("key", key), ("error", &format!("{error:?}"))],
            );
            return None;
        }
    };
    let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) else {
        log::warn(
            "a cache entry is unreadable; asking the API",
            &[("key", key)],
        );
        return None;
    };
    // A clock that went backwards makes every entry look young: trust none from the future.
    let fresh = entry.fetched_at_ms <= now && now - entry.fetched_at_ms < max_age_ms;
    fresh.then_some(entry.moer)
}

/// Stores an answer fetched at `now`; a failure costs only a request next time, so it is
/// logged.
pub fn set(key: &str, now: u64, moer: &Option<Moer>) {
    let entry = Entry {
        fetched_at_ms: now,
        moer: moer.clone(),
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
