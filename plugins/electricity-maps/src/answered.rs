//! When the API last answered a zone with this token. Electricity Maps may answer 401 rather
//! than 429 past a plan's rate limit (electricitymaps-contrib issue #8047: "receiving 401
//! status when the auth token is actually correct"), so a 401 for a zone it answered with the
//! same token less than a day ago is throttling, and a 401 for a zone it never answered is a
//! refusal (a free token covers one zone). A refusal is remembered for a minute, so the
//! host's halving of a refused batch costs one request per refused zone, not one per half.
//! Kept per zone and per fingerprint of the API origin and token, in the key-value store; the
//! token itself is never stored.

use carbonaut_sdk::kv;
use carbonaut_sdk::log;

use crate::Config;

/// How long after an answer a 401 for the same zone and token is taken as throttling.
pub const THROTTLE_MEMORY_MS: u64 = 24 * 60 * 60 * 1000;

/// How long a refusal is answered from memory: longer than the host's halving of a batch
/// takes, shorter than its first backoff (5 min), so its later asking reaches the API.
pub const REFUSAL_MEMORY_MS: u64 = 60 * 1000;

/// FNV-1a, 64 bits.
fn fnv1a(bytes: impl Iterator<Item = u8>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Tells (API, token) pairs apart without keeping the token: another origin or another
/// token starts afresh.
fn fingerprint(config: &Config) -> String {
    let base = config.base_url.bytes();
    fnv1a(base.chain([0]).chain(config.token.bytes()))
}

fn key(config: &Config, zone: &str) -> String {
    format!("answered/{}/{zone}", fingerprint(config))
}

/// Records that the API answered `zone` at `now`. A store that fails costs only the
/// distinction between throttling and refusal, so it is logged.
pub fn remember(config: &Config, zone: &str, now: u64) {
    if let Err(error) = kv::set(&key(config, zone), &now.to_le_bytes()) {
        log::debug(
            "when the zone was answered could not be stored",
            &[("zone", zone), ("error", &format!("{error:?}"))],
        );
    }
}

/// When the API last answered `zone` with `token`, if the store knows.
pub fn last(config: &Config, zone: &str) -> Option<u64> {
    let bytes = kv::get(&key(config, zone)).ok()??;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Whether a 401 at `now` is throttling: the zone was answered with this token lately.
pub fn throttled(config: &Config, zone: &str, now: u64) -> Option<u64> {
    last(config, zone).filter(|at| *at <= now && now - at < THROTTLE_MEMORY_MS)
}

fn refusal_key(config: &Config, zone: &str) -> String {
    format!("refused/{}/{zone}", fingerprint(config))
}

/// Records the API's refusal of `zone` at `now`, with its words.
pub fn remember_refusal(config: &Config, zone: &str, now: u64, why: &str) {
    let mut value = now.to_le_bytes().to_vec();
    value.extend_from_slice(why.as_bytes());
    if let Err(error) = kv::set(&refusal_key(config, zone), &value) {
        log::debug(
            "the refusal could not be stored",
            &[("zone", zone), ("error", &format!("{error:?}"))],
        );
    }
}

/// The API's words if it refused `zone` with `token` less than a minute before `now`.
pub fn refused_lately(config: &Config, zone: &str, now: u64) -> Option<String> {
    let bytes = kv::get(&refusal_key(config, zone)).ok()??;
    let (at, why) = bytes.split_at_checked(8)?;
    let at = u64::from_le_bytes(at.try_into().ok()?);
    (at <= now && now - at < REFUSAL_MEMORY_MS).then(|| {
        format!(
            "{} (remembered from {} s ago)",
            String::from_utf8_lossy(why),
            (now - at) / 1000
        )
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn fnv1a_matches_its_test_vectors() {
        // FNV-1a 64 test vectors (Fowler, Noll, Vo).
        assert_eq!(fnv1a("".bytes()), "cbf29ce484222325");
        assert_eq!(fnv1a("a".bytes()), "af63dc4c8601ec8c");
        assert_ne!(fnv1a("token-1".bytes()), fnv1a("token-2".bytes()));
    }
}
