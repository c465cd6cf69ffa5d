//! The service account's assertion: a JWT signed with RS256 (RSASSA-PKCS1-v1_5 with SHA-256)
//! by the key's private half, as Google's "OAuth 2.0 for server to server applications"
//! describes it: `iss` the service account, `scope`, `aud` the token URI, `iat` and `exp` one
//! hour apart.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use sha2::Sha256;

/// Read-only access to instances and to monitoring data, nothing else.
pub const SCOPES: &str = "https://www.googleapis.com/auth/compute.readonly https://www.googleapis.com/auth/monitoring.read";
/// The longest lifetime Google accepts for an assertion.
const LIFETIME_SECONDS: u64 = 3600;

/// Why the key could not be used; never holds any of the key's text.
#[derive(Debug)]
pub struct KeyError(pub String);

/// Reads the PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`, what Google's key files hold), or
/// PKCS#1 (`BEGIN RSA PRIVATE KEY`).
pub fn parse_key(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    let pem = pem.trim();
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| {
            // The decoder's error names a PEM or ASN.1 fault (a label, a length), not content.
            let kind = if pem.starts_with("-----BEGIN") {
                format!("it does not decode as an RSA key ({e})")
            } else {
                "it does not start with `-----BEGIN PRIVATE KEY-----`".to_owned()
            };
            KeyError(kind)
        })
}

/// The signed assertion for `client_email`, valid from `now_seconds` for an hour.
pub fn assertion(
    key: &RsaPrivateKey,
    key_id: Option<&str>,
    client_email: &str,
    token_uri: &str,
    now_seconds: u64,
) -> String {
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let claims = serde_json::json!({
        "iss": client_email,
        "scope": SCOPES,
        "aud": token_uri,
        "iat": now_seconds,
        "exp": now_seconds + LIFETIME_SECONDS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature = signer.sign(signing_input.as_bytes()).to_vec();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier as _;

    /// A 1024-bit test key made once with `openssl genpkey -algorithm RSA -pkeyopt
    /// rsa_keygen_bits:1024` (small so that the test is fast; never used anywhere else).
    const TEST_KEY: &str = include_str!("testdata/test-key.pem");

    #[test]
    fn the_assertion_verifies_with_the_public_half_and_carries_the_claims() {
        let key = parse_key(TEST_KEY).expect("key");
        let jwt = assertion(
            &key,
            Some("kid-1"),
            "sa@p.iam.gserviceaccount.com",
            "https://t/token",
            1000,
        );
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        let signature =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).expect("b64").as_slice())
                .expect("signature");
        verifier
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("verifies");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["iss"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://t/token");
        assert_eq!(claims["exp"].as_u64(), Some(4600));
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(header["kid"], "kid-1");
    }

    #[test]
    fn a_bad_key_is_refused_without_its_text() {
        let err = parse_key("not a key at all: SECRET").expect_err("bad");
        assert!(!err.0.contains("SECRET"), "{}", err.0);
        let err = parse_key("-----BEGIN PRIVATE KEY-----\nU0VDUkVU\n-----END PRIVATE KEY-----")
            .expect_err("bad");
        assert!(!err.0.contains("U0VDUkVU"), "{}", err.0);
    }
}
