//! Certificates and keys made for each test: CAs, a server certificate for `localhost`, client
//! certificates (valid, expired, from another CA), and JWT signing keys with their JWKS.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};

pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

/// A certificate and its key, PEM.
pub struct Issued {
    pub cert: String,
    pub key: String,
}

impl Issued {
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert, self.key).as_bytes())
            .expect("client identity")
    }

    pub fn write(&self, dir: &Path, name: &str) {
        std::fs::write(dir.join(format!("{name}.pem")), &self.cert).expect("cert");
        std::fs::write(dir.join(format!("{name}.key")), &self.key).expect("key");
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = dn(&[(DnType::CommonName, name)]);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The server certificate carbonaut serves: `localhost` and `127.0.0.1`.
    pub fn server(&self) -> Issued {
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
        self.issue(params)
    }

    /// A client certificate with subject `CN=cn` and, if given, a URI SAN.
    pub fn client(&self, cn: &str, uri: Option<&str>) -> Issued {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&[(DnType::CommonName, cn)]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if let Some(uri) = uri {
            params.subject_alt_names = vec![SanType::URI(uri.try_into().expect("ia5"))];
        }
        self.issue(params)
    }

    /// Like [`Ca::client`], valid only during 2020.
    pub fn expired_client(&self, cn: &str) -> Issued {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&[(DnType::CommonName, cn)]);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed certificate");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in parts {
        dn.push(t.clone(), *v);
    }
    dn
}

/// A JWT signing key and the JWK of its public half.
pub struct SigningKey {
    pub alg: jsonwebtoken::Algorithm,
    pub kid: String,
    pub encoding: jsonwebtoken::EncodingKey,
    pub jwk: serde_json::Value,
}

impl SigningKey {
    /// A P-256 key (ES256).
    pub fn es256(kid: &str) -> SigningKey {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let point = key.public_key_raw(); // 0x04 || x || y
        let b64 = |b: &[u8]| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        };
        SigningKey {
            alg: jsonwebtoken::Algorithm::ES256,
            kid: kid.to_owned(),
            encoding: jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes())
                .expect("EC key"),
            jwk: serde_json::json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            }),
        }
    }

    /// A 2048-bit RSA key (RS256), made by `openssl` (ring cannot generate RSA keys).
    pub fn rs256(kid: &str, dir: &Path) -> SigningKey {
        let openssl = crate::support::require_tool("openssl");
        let pem = dir.join(format!("{kid}.rsa.pem"));
        let ok = std::process::Command::new(&openssl)
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&pem)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl genpkey")
            .success();
        assert!(ok, "openssl genpkey failed");
        let out = std::process::Command::new(&openssl)
            .args(["rsa", "-noout", "-modulus", "-in"])
            .arg(&pem)
            .output()
            .expect("openssl rsa");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let modulus = hex::decode(text.trim().trim_start_matches("Modulus=")).expect("hex");
        let b64 = |b: &[u8]| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        };
        let private = std::fs::read(&pem).expect("key");
        SigningKey {
            alg: jsonwebtoken::Algorithm::RS256,
            kid: kid.to_owned(),
            encoding: jsonwebtoken::EncodingKey::from_rsa_pem(&private).expect("RSA key"),
            jwk: serde_json::json!({
                "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                "n": b64(&modulus), "e": "AQAB",
            }),
        }
    }

    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// A JWKS document holding these keys' public halves.
pub fn jwks(keys: &[&SigningKey]) -> String {
    serde_json::json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
        .to_string()
}
