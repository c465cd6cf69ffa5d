//! JWT bearer tokens: signed by the right key (RS256 and ES256), by another key, expired (and
//! within the clock-skew allowance), not yet valid, for another audience or issuer, `alg=none`,
//! HS256 without a configured secret, and a roles claim that grants nothing; a rotated JWKS
//! file applies at the next reload; a refusal names no server file.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::pki::{SigningKey, jwks};
use super::*;

const JWT: &str = r#"
[auth.jwt]
issuer = "https://id.example"
audience = "carbonaut"
jwks_file = "jwks.json"
roles_claim = "groups"

[auth.jwt.roles]
"carbonaut-admin" = "admin"
"carbonaut-viewer" = "read"
"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn claims(sub: &str, groups: &[&str]) -> Value {
    json!({
        "iss": "https://id.example", "aud": "carbonaut", "sub": sub,
        "groups": groups, "iat": now(), "exp": now() + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[test]
fn jwts_are_verified_and_their_roles_claim_decides() {
    let site = site_with("", JWT);
    let rsa = SigningKey::rs256("rsa-1", site.dir.path());
    let ec = SigningKey::es256("ec-1");
    let impostor = SigningKey::es256("ec-1");
    write(site.dir.path(), "jwks.json", &jwks(&[&rsa, &ec]));
    let daemon = site.start();
    let http = reqwest::blocking::Client::new();
    let (read_url, admin_url) = (daemon.url("/api/v1/status"), daemon.url("/api/v1/reload"));
    let try_token = |token: &str| {
        (
            status(&http, Method::GET, &read_url, Some(token)),
            status(&http, Method::POST, &admin_url, Some(token)),
        )
    };
    let refused = |token: &str| {
        let response = http
            .get(&read_url)
            .bearer_auth(token)
            .send()
            .expect("request");
        assert_eq!(response.status(), 401);
        response.text().expect("body")
    };

    let alice = rsa.sign(&claims("alice", &["staff", "carbonaut-admin"]));
    assert_eq!(
        try_token(&alice),
        (Some(200), Some(200)),
        "{}",
        daemon.log()
    );
    let record = last_reload(&http, &daemon.url("/api/v1/reloads"));
    assert_eq!(record["caller"], "jwt:alice", "{record}");

    let bob = ec.sign(&claims("bob", &["carbonaut-viewer"]));
    assert_eq!(try_token(&bob), (Some(200), Some(403)));

    // Valid signature and claims, but nothing in [auth.jwt.roles] matches.
    let carol = ec.sign(&claims("carol", &["staff"]));
    assert_eq!(try_token(&carol), (Some(403), Some(403)));
    let no_claim = ec.sign(
        &json!({"iss": "https://id.example", "aud": "carbonaut", "sub": "dan", "exp": now() + 600}),
    );
    assert_eq!(try_token(&no_claim), (Some(403), Some(403)));

    let forged = impostor.sign(&claims("mallory", &["carbonaut-admin"]));
    assert_eq!(try_token(&forged), (Some(401), Some(401)));
    assert!(refused(&forged).contains("signature"));

    let expired = rsa.sign(&with(
        claims("alice", &["carbonaut-admin"]),
        "exp",
        json!(now() - 3600),
    ));
    assert_eq!(try_token(&expired), (Some(401), Some(401)));
    assert!(refused(&expired).contains("expired"));
    // Thirty seconds past `exp` is within the minute of clock skew allowed.
    let skewed = rsa.sign(&with(
        claims("alice", &["carbonaut-viewer"]),
        "exp",
        json!(now() - 30),
    ));
    assert_eq!(try_token(&skewed), (Some(200), Some(403)));
    let early = rsa.sign(&with(
        claims("alice", &["carbonaut-admin"]),
        "nbf",
        json!(now() + 3600),
    ));
    assert!(refused(&early).contains("not valid yet"));

    let elsewhere = rsa.sign(&with(
        claims("alice", &["carbonaut-admin"]),
        "aud",
        json!("grafana"),
    ));
    assert_eq!(try_token(&elsewhere), (Some(401), Some(401)));
    assert!(refused(&elsewhere).contains("audience"));
    let stranger = rsa.sign(&with(
        claims("alice", &["carbonaut-admin"]),
        "iss",
        json!("https://evil.example"),
    ));
    assert!(refused(&stranger).contains("issuer"));

    // alg=none: an unsigned token claiming admin.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("mallory", &["carbonaut-admin"]))
    );
    assert_eq!(try_token(&unsigned), (Some(401), Some(401)));
    // HS256 keyed with the public JWKS (the classic algorithm confusion): no HS256 secret is
    // configured, so HS256 is refused outright.
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("mallory", &["carbonaut-admin"]),
        &jsonwebtoken::EncodingKey::from_secret(jwks(&[&rsa, &ec]).as_bytes()),
    )
    .expect("sign");
    assert_eq!(try_token(&confused), (Some(401), Some(401)));
    assert!(refused(&confused).contains("HS256"));
    daemon.stop();
}

#[test]
fn a_rotated_jwks_file_applies_at_the_next_reload() {
    let site = site_with("", JWT);
    let old = SigningKey::es256("2026-01");
    let new = SigningKey::es256("2026-02");
    write(site.dir.path(), "jwks.json", &jwks(&[&old]));
    let daemon = site.start();
    let http = reqwest::blocking::Client::new();
    let read_url = daemon.url("/api/v1/status");
    let by_old = old.sign(&claims("alice", &["carbonaut-admin"]));
    let by_new = new.sign(&claims("alice", &["carbonaut-admin"]));
    assert_eq!(
        status(&http, Method::GET, &read_url, Some(&by_old)),
        Some(200)
    );
    assert_eq!(
        status(&http, Method::GET, &read_url, Some(&by_new)),
        Some(401)
    );
    // The answer to a caller nobody has authenticated names the setting, not the file; the
    // log names the file.
    let refusal = http
        .get(&read_url)
        .bearer_auth(&by_new)
        .send()
        .and_then(|r| r.text())
        .expect("body");
    assert!(
        refusal.contains("no ES256 key with kid `2026-02` is in [auth.jwt] jwks_file"),
        "{refusal}"
    );
    let dir = site.dir.path().display().to_string();
    assert!(
        !refusal.contains(&dir) && !refusal.contains("jwks.json"),
        "{refusal}"
    );
    daemon.wait_for_log(10, |log| {
        log.lines()
            .any(|l| l.contains("kid=\"2026-02\"") && l.contains("jwks.json"))
    });

    // The config text does not change; only the file it names does.
    write(site.dir.path(), "jwks.json", &jwks(&[&new]));
    let record: Value = http
        .post(daemon.url("/api/v1/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .expect("reload")
        .json()
        .expect("JSON");
    assert_eq!(record["outcome"], "applied", "{record}");
    assert!(
        record["items"].to_string().contains("auth changed"),
        "{record}"
    );
    assert_eq!(record["caller"], "token:ops", "{record}");
    assert_eq!(
        status(&http, Method::GET, &read_url, Some(&by_new)),
        Some(200)
    );
    assert_eq!(
        status(&http, Method::GET, &read_url, Some(&by_old)),
        Some(401)
    );

    // A broken JWKS is refused like any bad config: the last good keys keep working.
    write(
        site.dir.path(),
        "jwks.json",
        "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}",
    );
    let record: Value = http
        .post(daemon.url("/api/v1/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .expect("reload")
        .json()
        .expect("JSON");
    assert_eq!(record["outcome"], "rolled-back", "{record}");
    assert!(
        record["reason"].to_string().contains("jwks.json"),
        "{record}"
    );
    assert_eq!(
        status(&http, Method::GET, &read_url, Some(&by_new)),
        Some(200)
    );
    daemon.stop();
}
