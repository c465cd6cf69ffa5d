//! When the API last answered a zone with this token. Electricity Maps may answer 401 rather
//! than 429 past a plan's rate limit (electricitymaps-contrib issue #8047: "receiving 401
//! status when the auth token is actually correct"), so a 401 for a zone it answered with the
//! same token less than a day ago is throttling, and a 401 for a zone it never answered is a
//! refusal (a free token covers one zone). Kept per zone and per token fingerprint, in the
//! key-value store; the token itself is never stored.

use carbonaut_sdk::kv;
use carbonaut_sdk::log;

/// How long after an answer a 401 for the same zone and token is taken as throttling.
pub const THROTTLE_MEMORY_MS: u64 = 24 * 60 * 60 * 1000;

/// FNV-1a of the token: tells tokens apart without keeping one.
fn fingerprint(token: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn key(token: &str, zone: &str) -> String {
    format!("answered/{}/{zone}", fingerprint(token))
}

/// Records that the API answered `zone` at `now`. A store that fails costs only the
/// distinction between throttling and refusal, so it is logged.
pub fn remember(token: &str, zone: &str, now: u64) {
    if let Err(error) = kv::set(&key(token, zone), &now.to_le_bytes()) {
        log::debug(
            "when the zone was answered could not be stored",
            &[("zone", zone), ("error", &format!("{error:?}"))],
        );
    }
}

/// When the API last answered `zone` with `token`, if the store knows.
pub fn last(token: &str, zone: &str) -> Option<u64> {
    let bytes = kv::get(&key(token, zone)).ok()??;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Whether a 401 at `now` is throttling: the zone was answered with this token lately.
pub fn throttled(token: &str, zone: &str, now: u64) -> Option<u64> {
    last(token, zone).filter(|at| *at <= now && now - at < THROTTLE_MEMORY_MS)
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprints_tell_tokens_apart_and_hide_them() {
        // FNV-1a 64 test vectors (Fowler, Noll, Vo).
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint("token-1"), fingerprint("token-2"));
    }
}
