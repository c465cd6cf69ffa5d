//! Checks of `[plugins.NAME]` (pinned digests) and `[trust]` (signing keys), part of the
//! second stage of loading (see `validate.rs`).

use std::collections::BTreeMap;

use super::raw::{RawPluginPin, RawTrust};
use super::validate::Checker;
use crate::trust::{TrustPolicy, TrustedKey};

impl Checker<'_> {
    pub(super) fn trust(
        &mut self,
        plugins: &BTreeMap<String, RawPluginPin>,
        raw: &RawTrust,
    ) -> TrustPolicy {
        let mut policy = TrustPolicy::default();
        for (name, pin) in plugins {
            let Some(sha256) = &pin.sha256 else { continue };
            let digest = sha256.get_ref().trim();
            if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                policy
                    .pins
                    .insert(name.clone(), digest.to_ascii_lowercase());
            } else {
                self.report.push(
                    self.at(sha256.span()),
                    format!("[plugins.{name}] sha256 is not 64 hexadecimal digits"),
                    "paste the digest `carbonaut plugin inspect FILE.wasm` prints",
                );
            }
        }
        for key in &raw.keys {
            match TrustedKey::parse(key.get_ref()) {
                Ok(key) => policy.keys.push(key),
                Err(reason) => self.report.push(
                    self.at(key.span()),
                    format!(
                        "[trust] key `{}` is not a minisign public key ({reason})",
                        key.get_ref()
                    ),
                    "write the base64 line of the .pub file (it starts with `RW`), as \
                     `carbonaut plugin keygen` prints it",
                ),
            }
        }
        if let Some(require) = &raw.require_signatures {
            policy.require_signatures = *require.get_ref();
            if policy.require_signatures && raw.keys.is_empty() {
                self.report.push(
                    self.at(require.span()),
                    "[trust] require_signatures = true, but no key is trusted",
                    "add the public keys plugins are signed with to [trust] keys",
                );
            }
        }
        policy
    }
}
