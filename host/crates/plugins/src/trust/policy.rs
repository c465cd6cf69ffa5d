//! The policy as configured (`[plugins.NAME] sha256`, `[trust] keys` and
//! `require_signatures`) and its check of one file: pin first, then signature.

use std::collections::BTreeMap;
use std::fmt;

/// A plugin `X.wasm` is signed by `X.wasm.minisig` beside it (minisign's own default name).
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// A minisign public key the operator trusts.
#[derive(Clone)]
pub struct TrustedKey {
    /// The key ID as minisign prints it: 16 upper-case hexadecimal digits.
    pub id: String,
    /// The base64 line as written in the config.
    pub text: String,
    key: minisign_verify::PublicKey,
}

/// A line that is not a minisign public key; the message is minisign's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl TrustedKey {
    /// Parses the base64 line of a minisign public key (`RW...`, the second line of a `.pub`
    /// file).
    pub fn parse(text: &str) -> Result<TrustedKey, KeyError> {
        let text = text.trim();
        // Two crates read the same line: minisign-verify checks signatures, minisign tells the
        // key id. Their errors share no type, hence their messages.
        let key =
            minisign_verify::PublicKey::from_base64(text).map_err(|e| KeyError(e.to_string()))?;
        let id = minisign::PublicKey::from_base64(text)
            .map(|k| key_id_of(k.keynum()))
            .map_err(|e| KeyError(e.to_string()))?;
        Ok(TrustedKey {
            id,
            text: text.to_owned(),
            key,
        })
    }
}

impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({})", self.id)
    }
}

/// A key number as minisign shows it (`minisign -V` prints the same ID).
pub fn key_id_of(keynum: &[u8]) -> String {
    let mut le = [0u8; 8];
    for (dst, src) in le.iter_mut().zip(keynum) {
        *dst = *src;
    }
    format!("{:016X}", u64::from_le_bytes(le))
}

/// What the operator trusts. The default trusts every valid component (no pins, no keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustPolicy {
    /// Plugin name → the only sha256 (lower-case hex) it may have.
    pub pins: BTreeMap<String, String>,
    pub keys: Vec<TrustedKey>,
    /// When true, every plugin needs a signature by one of `keys`.
    pub require_signatures: bool,
}

/// What the check found out about a file that passed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Verdict {
    /// The ID of the trusted key whose signature verified, when the file came with one.
    pub signed_by: Option<String>,
}

/// Why a file is not trusted. Each message names the file and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error(
        "{file}: plugin `{plugin}` is pinned to sha256 {pinned} in the config, but this file's \
         sha256 is {actual}; refused. If this build is the one to run, set [plugins.{plugin}] \
         sha256 = \"{actual}\""
    )]
    PinMismatch {
        file: String,
        plugin: String,
        pinned: String,
        actual: String,
    },
    #[error(
        "{file}: no signature ({file}{SIGNATURE_SUFFIX} is missing) and [trust] \
         require_signatures = true; sign it with one of the trusted keys: \
         `carbonaut plugin sign --key KEY_FILE {file}`"
    )]
    MissingSignature { file: String },
    #[error(
        "{file}: its signature cannot be read ({reason}); a minisign signature is four lines \
         (untrusted comment, signature, trusted comment, global signature)"
    )]
    MalformedSignature { file: String, reason: String },
    #[error(
        "{file}: signed by key {key_id}, which is not one of the trusted keys ({trusted}); \
         refused. Sign it with a trusted key, or add the signer's public key to [trust] keys"
    )]
    UnknownKey {
        file: String,
        key_id: String,
        trusted: String,
    },
    #[error(
        "{file}: the signature by trusted key {key_id} does not match the file's contents: the \
         file changed after it was signed (or the signature is another file's); refused"
    )]
    Tampered { file: String, key_id: String },
    #[error(
        "{file}: the signature by key {key_id} is a legacy (not pre-hashed) minisign signature; \
         sign it again with `carbonaut plugin sign` or `minisign -S`"
    )]
    LegacySignature { file: String, key_id: String },
}

impl TrustPolicy {
    /// Checks the file `file` for the plugin `name` (its file stem before it is loaded, its
    /// metadata name after): its digest against the pin, then its signature (`signature` is
    /// the text of its `.minisig`, when there is one).
    pub fn check(
        &self,
        file: &str,
        name: &str,
        sha256: &str,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<Verdict, TrustError> {
        self.check_pin(file, name, sha256)?;
        self.check_signature(file, bytes, signature)
    }

    pub fn check_pin(&self, file: &str, name: &str, sha256: &str) -> Result<(), TrustError> {
        match self.pins.get(name) {
            Some(pinned) if !pinned.eq_ignore_ascii_case(sha256) => Err(TrustError::PinMismatch {
                file: file.to_owned(),
                plugin: name.to_owned(),
                pinned: pinned.clone(),
                actual: sha256.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether [`TrustPolicy::check_signature`] reads the file's bytes for this `signature`
    /// (otherwise it may be given none).
    pub fn reads_bytes(&self, signature: Option<&str>) -> bool {
        signature.is_some() && !self.keys.is_empty()
    }

    /// A signature is checked whenever there is one and keys are configured: a signature
    /// that does not verify is refused even where signatures are optional, since it says
    /// the file is not what its signer shipped.
    pub fn check_signature(
        &self,
        file: &str,
        bytes: &[u8],
        signature: Option<&str>,
    ) -> Result<Verdict, TrustError> {
        let Some(text) = signature else {
            return if self.require_signatures {
                Err(TrustError::MissingSignature {
                    file: file.to_owned(),
                })
            } else {
                Ok(Verdict::default())
            };
        };
        if self.keys.is_empty() {
            return Ok(Verdict::default());
        }
        let malformed = |reason: String| TrustError::MalformedSignature {
            file: file.to_owned(),
            reason,
        };
        let decoded =
            minisign_verify::Signature::decode(text).map_err(|e| malformed(e.to_string()))?;
        let key_id = minisign::SignatureBox::from_string(text)
            .map(|b| key_id_of(b.keynum()))
            .map_err(|e| malformed(e.to_string()))?;
        let Some(key) = self.keys.iter().find(|k| k.id == key_id) else {
            return Err(TrustError::UnknownKey {
                file: file.to_owned(),
                key_id,
                trusted: self
                    .keys
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        key.key
            .verify(bytes, &decoded, false)
            .map_err(|error| match error {
                minisign_verify::Error::UnexpectedAlgorithm => TrustError::LegacySignature {
                    file: file.to_owned(),
                    key_id: key_id.clone(),
                },
                minisign_verify::Error::InvalidSignature => TrustError::Tampered {
                    file: file.to_owned(),
                    key_id: key_id.clone(),
                },
                other => malformed(other.to_string()),
            })?;
        Ok(Verdict {
            signed_by: Some(key_id),
        })
    }

    /// Whether a plugin admitted earlier (with `verdict`) passes this policy too: after a
    /// config change, a kept plugin is re-checked without reading its file again.
    pub fn still_admits(&self, name: &str, sha256: &str, verdict: &Verdict) -> bool {
        let pinned_ok = self
            .pins
            .get(name)
            .is_none_or(|p| p.eq_ignore_ascii_case(sha256));
        let signed_ok = !self.require_signatures
            || verdict
                .signed_by
                .as_ref()
                .is_some_and(|id| self.keys.iter().any(|k| &k.id == id));
        pinned_ok && signed_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{generate_key_pair, sign_file};

    fn policy_with(keys: &[&str], require: bool) -> TrustPolicy {
        TrustPolicy {
            pins: BTreeMap::new(),
            keys: keys
                .iter()
                .map(|k| TrustedKey::parse(k).expect("a key"))
                .collect(),
            require_signatures: require,
        }
    }

    #[test]
    fn a_signature_verifies_and_names_its_key() {
        let pair = generate_key_pair(None).expect("keys");
        let bytes = b"\0asm a plugin".to_vec();
        let sig = sign_file(&pair.secret, None, &bytes, "x.wasm").expect("sign");
        let policy = policy_with(&[&pair.public_line()], true);
        let verdict = policy
            .check_signature("x.wasm", &bytes, Some(&sig))
            .expect("verifies");
        assert_eq!(verdict.signed_by.as_deref(), Some(pair.id.as_str()));
    }

    #[test]
    fn tampered_bytes_wrong_keys_and_missing_signatures_are_refused() {
        let ours = generate_key_pair(None).expect("keys");
        let theirs = generate_key_pair(None).expect("keys");
        let bytes = b"\0asm a plugin".to_vec();
        let sig = sign_file(&ours.secret, None, &bytes, "x.wasm").expect("sign");
        let policy = policy_with(&[&ours.public_line()], true);

        let mut tampered = bytes.clone();
        tampered[5] ^= 1;
        assert!(matches!(
            policy.check_signature("x.wasm", &tampered, Some(&sig)),
            Err(TrustError::Tampered { .. })
        ));
        let other = sign_file(&theirs.secret, None, &bytes, "x.wasm").expect("sign");
        let err = policy
            .check_signature("x.wasm", &bytes, Some(&other))
            .expect_err("an untrusted key");
        assert_eq!(
            err,
            TrustError::UnknownKey {
                file: "x.wasm".into(),
                key_id: theirs.id.clone(),
                trusted: ours.id.clone()
            }
        );
        assert!(matches!(
            policy.check_signature("x.wasm", &bytes, None),
            Err(TrustError::MissingSignature { .. })
        ));
        assert!(matches!(
            policy.check_signature("x.wasm", &bytes, Some("not a signature")),
            Err(TrustError::MalformedSignature { .. })
        ));
        // Optional signatures: an unsigned file passes, a bad signature still does not.
        let optional = policy_with(&[&ours.public_line()], false);
        assert_eq!(
            optional.check_signature("x.wasm", &bytes, None),
            Ok(Verdict::default())
        );
        assert!(
            optional
                .check_signature("x.wasm", &tampered, Some(&sig))
                .is_err()
        );
    }

    #[test]
    fn a_pin_names_both_digests() {
        let policy = TrustPolicy {
            pins: BTreeMap::from([("grid".to_owned(), "aa".repeat(32))]),
            ..TrustPolicy::default()
        };
        let err = policy
            .check_pin("grid.wasm", "grid", &"bb".repeat(32))
            .expect_err("another digest");
        let text = err.to_string();
        assert!(text.contains(&"aa".repeat(32)) && text.contains(&"bb".repeat(32)));
        assert!(
            policy
                .check_pin("grid.wasm", "grid", &"AA".repeat(32))
                .is_ok()
        );
        assert!(policy.check_pin("other.wasm", "other", "cc").is_ok());
        assert!(!policy.still_admits("grid", &"bb".repeat(32), &Verdict::default()));
        assert!(policy.still_admits("grid", &"aa".repeat(32), &Verdict::default()));
    }
}
