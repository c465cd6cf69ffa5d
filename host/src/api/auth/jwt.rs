//! Bearer JWTs (`[auth.jwt]`): the signature is checked with `jsonwebtoken` against the JWKS
//! file's keys (RS256, ES256) or the HS256 secret from the environment; `exp`, `nbf`, `iss`
//! and `aud` are checked with a minute of clock skew allowed; the roles claim is mapped to a
//! role through `[auth.jwt.roles]`. Any other algorithm, `none` included, is refused.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

use crate::config::{JwtConfig, Role};

/// Clocks of the issuer and of this host may disagree by this much.
const CLOCK_SKEW_SECS: u64 = 60;

/// Three base64url parts: worth verifying as a JWT rather than calling it an unknown token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Why a JWT is refused: what the caller is told after "the JWT is refused: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    #[error(
        "its header is not one carbonaut accepts ({0}); the algorithm must be RS256, ES256 or HS256"
    )]
    Header(String),
    #[error("HS256 tokens are not accepted: [auth.jwt] has no hs256_secret")]
    NoHs256Secret,
    #[error("its algorithm is {0:?}; carbonaut accepts RS256, ES256 and HS256")]
    Algorithm(Algorithm),
    #[error("{0:?} tokens are not accepted: [auth.jwt] has no jwks_file")]
    NoJwks(Algorithm),
    #[error(
        "no {alg:?} key{} is in [auth.jwt] jwks_file",
        .kid.as_ref().map(|kid| format!(" with kid `{kid}`")).unwrap_or_default()
    )]
    NoKey { alg: Algorithm, kid: Option<String> },
    #[error("no configured key fits it")]
    NoFittingKey,
    #[error("its signature does not verify with the configured keys")]
    BadSignature,
    #[error("it has expired (exp)")]
    Expired,
    #[error("it is not valid yet (nbf)")]
    NotYetValid,
    #[error("its audience (aud) is not `{0}`")]
    Audience(String),
    #[error("its issuer (iss) is not `{0}`")]
    Issuer(String),
    #[error("it has no `{0}` claim")]
    MissingClaim(String),
    #[error("its algorithm does not match the key")]
    AlgorithmMismatch,
    #[error("it is not a valid JWT ({0})")]
    Invalid(String),
}

/// The token's subject and the best role its roles claim grants, or why it is refused.
pub fn verify(token: &str, config: &JwtConfig) -> Result<(String, Option<Role>), JwtRefusal> {
    let header = decode_header(token).map_err(|e| JwtRefusal::Header(e.to_string()))?;
    let keys = keys_for(header.alg, header.kid.as_deref(), config)?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let mut last = None;
    for key in &keys {
        match decode::<serde_json::Map<String, Value>>(token, key, &validation) {
            Ok(data) => {
                let subject = data
                    .claims
                    .get("sub")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                return Ok((subject, role_of(&data.claims, config)));
            }
            // Without a `kid`, every key of the right kind is tried; only a bad signature
            // moves on to the next one.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => last = Some(e),
            Err(e) => return Err(describe(e.kind(), config)),
        }
    }
    Err(last.map_or(JwtRefusal::NoFittingKey, |e| describe(e.kind(), config)))
}

fn keys_for(
    alg: Algorithm,
    kid: Option<&str>,
    config: &JwtConfig,
) -> Result<Vec<DecodingKey>, JwtRefusal> {
    if alg == Algorithm::HS256 {
        return match &config.hs256_secret {
            Some(secret) => Ok(vec![DecodingKey::from_secret(secret)]),
            None => Err(JwtRefusal::NoHs256Secret),
        };
    }
    if !matches!(alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(JwtRefusal::Algorithm(alg));
    }
    let Some(jwks) = &config.jwks else {
        return Err(JwtRefusal::NoJwks(alg));
    };
    let fits = |params: &AlgorithmParameters| match params {
        AlgorithmParameters::RSA(_) => alg == Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(_) => alg == Algorithm::ES256,
        _ => false,
    };
    let keys: Vec<DecodingKey> = jwks
        .set
        .keys
        .iter()
        .filter(|k| kid.is_none() || k.common.key_id.as_deref() == kid)
        .filter(|k| fits(&k.algorithm))
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .collect();
    if keys.is_empty() {
        // The answer goes to a caller not yet authenticated: it names the setting, the log
        // names the file (a rotated key missing from it is the usual cause).
        tracing::info!(kid, file = %jwks.path.display(), "a JWT names a key the JWKS file does not hold; refused");
        return Err(JwtRefusal::NoKey {
            alg,
            kid: kid.map(str::to_owned),
        });
    }
    Ok(keys)
}

fn describe(kind: &ErrorKind, config: &JwtConfig) -> JwtRefusal {
    match kind {
        ErrorKind::InvalidSignature => JwtRefusal::BadSignature,
        ErrorKind::ExpiredSignature => JwtRefusal::Expired,
        ErrorKind::ImmatureSignature => JwtRefusal::NotYetValid,
        ErrorKind::InvalidAudience => JwtRefusal::Audience(config.audience.clone()),
        ErrorKind::InvalidIssuer => JwtRefusal::Issuer(config.issuer.clone()),
        ErrorKind::MissingRequiredClaim(claim) => JwtRefusal::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm => JwtRefusal::AlgorithmMismatch,
        other => JwtRefusal::Invalid(format!("{other:?}")),
    }
}

/// The best role the roles claim grants. The claim may be a string or an array of strings,
/// and may be a dotted path into nested objects (`realm_access.roles`, as Keycloak writes).
fn role_of(claims: &serde_json::Map<String, Value>, config: &JwtConfig) -> Option<Role> {
    let mut parts = config.roles_claim.split('.');
    let first = parts.next()?;
    let mut value = claims.get(first)?;
    for part in parts {
        value = value.get(part)?;
    }
    let values: Vec<&str> = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    values
        .iter()
        .filter_map(|v| config.roles.get(*v).copied())
        .max()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;

    use super::*;

    fn config(secret: Option<&[u8]>) -> JwtConfig {
        JwtConfig {
            issuer: "iss".into(),
            audience: "aud".into(),
            jwks: None,
            hs256_secret: secret.map(<[u8]>::to_vec),
            roles_claim: "realm_access.roles".into(),
            roles: BTreeMap::from([
                ("ops".to_owned(), Role::Admin),
                ("viewer".to_owned(), Role::Read),
            ]),
        }
    }

    fn hs256(secret: &[u8], claims: &Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("sign")
    }

    fn claims(roles: Value) -> Value {
        let exp = get_current_timestamp() + 60;
        json!({"iss": "iss", "aud": "aud", "sub": "svc", "exp": exp, "realm_access": {"roles": roles}})
    }

    #[test]
    fn hs256_needs_the_configured_secret() {
        let token = hs256(b"s3cret", &claims(json!(["viewer", "ops"])));
        assert_eq!(
            verify(&token, &config(Some(b"s3cret"))),
            Ok(("svc".to_owned(), Some(Role::Admin)))
        );
        assert_eq!(
            verify(&token, &config(Some(b"other"))),
            Err(JwtRefusal::BadSignature)
        );
        assert!(
            verify(&token, &config(None))
                .expect_err("no secret")
                .to_string()
                .contains("no hs256_secret")
        );
    }

    #[test]
    fn the_roles_claim_may_be_a_string_and_nested() {
        let secret = Some(b"k".as_slice());
        let token = hs256(b"k", &claims(json!("viewer")));
        assert_eq!(
            verify(&token, &config(secret)).map(|r| r.1),
            Ok(Some(Role::Read))
        );
        let token = hs256(b"k", &claims(json!(["nobody"])));
        assert_eq!(verify(&token, &config(secret)).map(|r| r.1), Ok(None));
        let token = hs256(b"k", &claims(json!(42)));
        assert_eq!(verify(&token, &config(secret)).map(|r| r.1), Ok(None));
    }

    #[test]
    fn a_token_without_sub_or_exp_is_refused() {
        let secret = Some(b"k".as_slice());
        let token = hs256(b"k", &json!({"iss": "iss", "aud": "aud", "sub": "x"}));
        assert_eq!(
            verify(&token, &config(secret)),
            Err(JwtRefusal::MissingClaim("exp".to_owned()))
        );
    }
}
