//! Who may authenticate besides static tokens: client certificates (`[server] tls.client_ca`,
//! `client_auth`, `[[auth.clients]]`) and JWTs (`[auth.jwt]`). The JWKS file and the CA bundle
//! are read here, at load time, so `check-config` and every reload see a broken or changed one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use serde::Deserialize;
use serde_spanned::Spanned;
use sha2::{Digest, Sha256};

use super::Role;
use super::secrets::expand;
use super::validate::Checker;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClient {
    /// The whole subject, like `CN=prometheus` or `CN=ops, O=Acme` (attribute order is free).
    pub subject: Option<Spanned<String>>,
    /// A DNS name or URI of the certificate's subject alternative names.
    pub san: Option<Spanned<String>>,
    pub role: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJwt {
    pub issuer: String,
    pub audience: String,
    /// A JWKS document (RS256 and ES256 public keys).
    pub jwks_file: Option<Spanned<String>>,
    /// An HS256 secret; only accepted as a `${ENV}` reference.
    pub hs256_secret: Option<Spanned<String>>,
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim value → `read` or `admin`.
    #[serde(default)]
    pub roles: BTreeMap<String, Spanned<String>>,
}

fn default_roles_claim() -> String {
    "roles".to_owned()
}

/// A client CA and whether a certificate is required to connect at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCa {
    pub ca: PathBuf,
    /// `client_auth = "required"`: the handshake fails without a valid certificate.
    pub required: bool,
}

/// `[[auth.clients]]`: a certificate this rule matches gets `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRule {
    pub matches: ClientMatch,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMatch {
    /// The subject's attributes as `KEY=value`, keys upper-cased, sorted.
    Subject(Vec<String>),
    /// A DNS name or URI among the subject alternative names.
    San(String),
}

impl ClientMatch {
    /// Whether a certificate with this subject (as `KEY=value` attributes) and these SANs matches.
    pub fn matches(&self, subject: &[String], sans: &[String]) -> bool {
        match self {
            ClientMatch::Subject(want) => normalize_subject_parts(subject) == *want,
            ClientMatch::San(want) => sans.iter().any(|s| s == want),
        }
    }
}

/// `CN=ops, o=Acme` → `["CN=ops", "O=Acme"]`: keys upper-cased, sorted, so the order written
/// in the config need not be the certificate's.
pub fn normalize_subject(text: &str) -> Vec<String> {
    let parts: Vec<String> = text.split([',', '+']).map(str::to_owned).collect();
    normalize_subject_parts(&parts)
}

fn normalize_subject_parts(parts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => format!("{}={}", k.trim().to_ascii_uppercase(), v.trim()),
            None => p.trim().to_owned(),
        })
        .collect();
    out.sort();
    out
}

/// `[auth.jwt]`, with its keys read.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub jwks: Option<Jwks>,
    pub hs256_secret: Option<Vec<u8>>,
    pub roles_claim: String,
    pub roles: BTreeMap<String, Role>,
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks", &self.jwks)
            .field("hs256", &self.hs256_secret.is_some())
            .field("roles_claim", &self.roles_claim)
            .field("roles", &self.roles)
            .finish()
    }
}

/// A JWKS file as read at load time; equal when path and content are, so a reload notices a
/// rotated key set.
#[derive(Clone, PartialEq, Eq)]
pub struct Jwks {
    pub path: PathBuf,
    pub sha256: [u8; 32],
    pub set: JwkSet,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Jwks({}, {} keys)",
            self.path.display(),
            self.set.keys.len()
        )
    }
}

/// A JWKS file carbonaut cannot verify with; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a JWKS document: {source}", .path.display())]
    NotJwks {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: key {name} is not an RS256 (RSA) or ES256 (P-256) public key", .path.display())]
    Unusable { path: PathBuf, name: String },
    #[error("{} holds no key", .path.display())]
    Empty { path: PathBuf },
}

/// Reads a JWKS document and keeps only what carbonaut verifies with: RSA keys (RS256) and
/// P-256 keys (ES256). Symmetric (`oct`) keys do not belong in a file: HS256 takes a secret
/// from the environment instead.
pub fn load_jwks(path: &Path) -> Result<Jwks, JwksError> {
    let at = || path.to_owned();
    let bytes = std::fs::read(path).map_err(|source| JwksError::Read { path: at(), source })?;
    let set: JwkSet = serde_json::from_slice(&bytes)
        .map_err(|source| JwksError::NotJwks { path: at(), source })?;
    for (i, key) in set.keys.iter().enumerate() {
        let name = key.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
        let alg = key.common.key_algorithm;
        let fits = match &key.algorithm {
            AlgorithmParameters::RSA(_) => matches!(alg, None | Some(KeyAlgorithm::RS256)),
            AlgorithmParameters::EllipticCurve(ec) => {
                ec.curve == EllipticCurve::P256 && matches!(alg, None | Some(KeyAlgorithm::ES256))
            }
            _ => false,
        };
        if !fits {
            return Err(JwksError::Unusable { path: at(), name });
        }
    }
    if set.keys.is_empty() {
        return Err(JwksError::Empty { path: at() });
    }
    Ok(Jwks {
        path: path.to_owned(),
        sha256: Sha256::digest(&bytes).into(),
        set,
    })
}

pub(super) fn role(text: &str) -> Option<Role> {
    match text {
        "read" => Some(Role::Read),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}

const ROLE_FIX: &str = "use `read` (GET endpoints) or `admin` (also changes plugins and reloads)";

impl Checker<'_> {
    pub(super) fn client_ca(
        &mut self,
        ca: Option<&Spanned<String>>,
        auth: Option<&Spanned<String>>,
        base_dir: &Path,
    ) -> Option<ClientCa> {
        let required = match auth.map(|a| (a, a.get_ref().as_str())) {
            None | Some((_, "required")) => true,
            Some((_, "optional")) => false,
            Some((a, other)) => {
                self.report.push(
                    self.at(a.span()),
                    format!("client_auth is `{other}`"),
                    "use `required` (no certificate, no connection) or `optional` (tokens still work)",
                );
                true
            }
        };
        let Some(ca) = ca else {
            if let Some(a) = auth {
                self.report.push(
                    self.at(a.span()),
                    "client_auth is set without client_ca",
                    "add client_ca = \"ca.pem\", the CA bundle that signs client certificates",
                );
            }
            return None;
        };
        let path = base_dir.join(ca.get_ref());
        if let Err(error) = carbonaut_runtime::tls_roots::TlsRoots::load(&path) {
            self.report.push(
                self.at(ca.span()),
                format!("client_ca: {error}"),
                "name a PEM file of the CA certificates that sign client certificates",
            );
        }
        Some(ClientCa { ca: path, required })
    }

    pub(super) fn clients(&mut self, raw: Vec<RawClient>, have_ca: bool) -> Vec<ClientRule> {
        let mut rules = Vec::new();
        for c in raw {
            if !have_ca {
                self.report.push(
                    self.at(c.role.span()),
                    "[[auth.clients]] is set but no client certificate can arrive",
                    "add client_ca = \"ca.pem\" to [server] tls",
                );
            }
            let matches = match (&c.subject, &c.san) {
                (Some(s), None) => ClientMatch::Subject(normalize_subject(s.get_ref())),
                (None, Some(s)) => ClientMatch::San(s.get_ref().trim().to_owned()),
                _ => {
                    self.report.push(
                        self.at(c.role.span()),
                        "an [[auth.clients]] entry needs exactly one of `subject` and `san`",
                        "write subject = \"CN=prometheus\" or san = \"prometheus.monitoring.svc\"",
                    );
                    continue;
                }
            };
            let Some(role) = role(c.role.get_ref()) else {
                self.report.push(
                    self.at(c.role.span()),
                    format!("client has role `{}`", c.role.get_ref()),
                    ROLE_FIX,
                );
                continue;
            };
            rules.push(ClientRule { matches, role });
        }
        rules
    }

    pub(super) fn jwt(&mut self, raw: RawJwt, base_dir: &Path) -> JwtConfig {
        let jwks = raw.jwks_file.as_ref().and_then(|f| {
            load_jwks(&base_dir.join(f.get_ref()))
                .map_err(|error| {
                    self.report.push(
                        self.at(f.span()),
                        format!("[auth.jwt] jwks_file: {error}"),
                        "name a JSON Web Key Set file, like your identity provider's jwks_uri serves",
                    )
                })
                .ok()
        });
        let hs256_secret = raw.hs256_secret.as_ref().and_then(|s| {
            match expand(s.get_ref(), self.env) {
                Ok(e) if e.secret && !e.value.is_empty() => Some(e.value.into_bytes()),
                Ok(_) => {
                    self.report.push(
                        self.at(s.span()),
                        "[auth.jwt] hs256_secret is written in the config",
                        "keep the secret out of the file: hs256_secret = \"${CARBONAUT_JWT_SECRET}\"",
                    );
                    None
                }
                Err(errors) => {
                    let names: Vec<&str> = errors.iter().map(|e| e.reference()).collect();
                    self.report.push(
                        self.at(s.span()),
                        format!("[auth.jwt] hs256_secret: {} is not set", names.join(", ")),
                        "export the variable before starting carbonaut",
                    );
                    None
                }
            }
        });
        if raw.jwks_file.is_none() && raw.hs256_secret.is_none() {
            self.report.push(
                super::Position::START,
                "[auth.jwt] has no key to verify tokens with",
                "add jwks_file = \"jwks.json\" (RS256, ES256) or hs256_secret = \"${ENV_VAR}\"",
            );
        }
        let mut roles = BTreeMap::new();
        for (value, r) in raw.roles {
            match role(r.get_ref()) {
                Some(role) => {
                    roles.insert(value, role);
                }
                None => self.report.push(
                    self.at(r.span()),
                    format!("[auth.jwt.roles] maps `{value}` to `{}`", r.get_ref()),
                    ROLE_FIX,
                ),
            }
        }
        JwtConfig {
            issuer: raw.issuer,
            audience: raw.audience,
            jwks,
            hs256_secret,
            roles_claim: raw.roles_claim,
            roles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_whole_and_in_any_order() {
        let rule = ClientMatch::Subject(normalize_subject("cn=ops, O=Acme"));
        let cert = |parts: &[&str]| parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        assert!(rule.matches(&cert(&["O=Acme", "CN=ops"]), &[]));
        assert!(!rule.matches(&cert(&["CN=ops"]), &[]));
        assert!(!rule.matches(&cert(&["O=Acme", "CN=ops", "OU=x"]), &[]));
        assert!(!rule.matches(&cert(&["O=Acme", "CN=ops2"]), &[]));
        let san = ClientMatch::San("prom.svc".into());
        assert!(san.matches(&[], &["x".into(), "prom.svc".into()]));
        assert!(!san.matches(&cert(&["CN=prom.svc"]), &[]));
    }
}

#[cfg(test)]
mod config_tests {
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = "[paths]\nplugin_dir = \"p\"\nstate_dir = \"s\"\n\n[accounts.a]\ndiscovery = \"d\"\nresource_metrics = \"d\"\n\n[providers.d]\nplugin = \"x\"\n";

    fn errors(extra: &str) -> String {
        let env = |name: &str| (name == "JWT_SECRET").then(|| "k".to_owned());
        match Config::parse(
            &format!("{BASE}{extra}"),
            "x.toml",
            Path::new("/nonexistent"),
            &env,
        ) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_hs256_secret_must_come_from_the_environment() {
        let jwt = "[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\n";
        assert_eq!(
            errors(&format!("{jwt}hs256_secret = \"${{JWT_SECRET}}\"\n")),
            ""
        );
        let written = errors(&format!("{jwt}hs256_secret = \"k\"\n"));
        assert!(
            written.contains("x.toml:14:16: [auth.jwt] hs256_secret is written in the config"),
            "{written}"
        );
        let unset = errors(&format!("{jwt}hs256_secret = \"${{NOPE}}\"\n"));
        assert!(unset.contains("${NOPE} is not set"), "{unset}");
        let keyless = errors(jwt);
        assert!(
            keyless.contains("has no key to verify tokens with"),
            "{keyless}"
        );
        let missing = errors(&format!("{jwt}jwks_file = \"jwks.json\"\n"));
        assert!(
            missing.contains("cannot read /nonexistent/jwks.json"),
            "{missing}"
        );
    }

    #[test]
    fn client_rules_need_a_client_ca_one_match_and_a_role() {
        let e = errors("[[auth.clients]]\nsubject = \"CN=a\"\nrole = \"read\"\n");
        assert!(e.contains("no client certificate can arrive"), "{e}");
        let e = errors("[[auth.clients]]\nsubject = \"CN=a\"\nsan = \"b\"\nrole = \"root\"\n");
        assert!(e.contains("exactly one of `subject` and `san`"), "{e}");
        let e = errors("[server]\ntls = { cert = \"c\", key = \"k\", client_auth = \"maybe\" }\n");
        assert!(
            e.contains("client_auth is `maybe`") && e.contains("without client_ca"),
            "{e}"
        );
    }
}
