//! Checks of `[plugins.NAME]` (pinned digests) and `[trust]` (signing keys), part of the
//! second stage of loading (see `validate.rs`).

use std::collections::BTreeMap;

use super::raw::{RawPluginPin, RawTrust};
use super::validate::Checker;
use carbonaut_plugins::trust::{TrustPolicy, TrustedKey};

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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = "[paths]\nplugin_dir = \"p\"\nstate_dir = \"s\"\n\
        [providers.cloud]\nplugin = \"c\"\n[accounts.a]\ndiscovery = \"cloud\"\n\
        resource_metrics = \"cloud\"\n";

    fn parse(rest: &str) -> Result<Config, String> {
        Config::parse(&format!("{BASE}{rest}"), "x.toml", Path::new("/"), &|_| {
            None
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn pins_and_keys_are_read_and_checked_where_written() {
        let key = carbonaut_plugins::trust::generate_key_pair(None).expect("a key");
        let config = parse(&format!(
            "[plugins.grid]\nsha256 = \"{}\"\n[trust]\nkeys = [\"{}\"]\nrequire_signatures = true\n",
            "AB".repeat(32),
            key.public_line()
        ))
        .expect("valid");
        assert_eq!(config.trust.pins["grid"], "ab".repeat(32));
        assert_eq!(config.trust.keys[0].id, key.id);
        assert!(config.trust.require_signatures);

        let err = parse("[trust]\nrequire_signatures = true\n").expect_err("no keys");
        assert_eq!(
            err,
            "x.toml:10:22: [trust] require_signatures = true, but no key is trusted; add the \
             public keys plugins are signed with to [trust] keys"
        );
        let err = parse("[plugins.grid]\nsha = \"x\"\n").expect_err("unknown key");
        assert!(err.contains("unknown field `sha`"), "{err}");
    }
}
