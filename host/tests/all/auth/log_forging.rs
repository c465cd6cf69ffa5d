//! No caller can write a log line: a forged record (a newline, then a timestamp, a level and
//! "change requested" blamed on the `ops` token), with an escape sequence, Unicode line
//! separators and a forged `key=value`, is sent through every input a caller controls: the
//! request path and an uploaded plugin's name, the query string, headers, the JWT header
//! (`kid`) and claims (`sub`), and a client certificate's subject. Each that reaches the log
//! must arrive escaped, inside one value of a real record.

use reqwest::Method;
use serde_json::json;

use super::pki::{Ca, SigningKey, jwks};
use super::*;

/// The forged record, as text a caller controls.
const FORGED: &str = "x\n1999-01-01T00:00:00.000000Z  INFO carbonaut::api::auth: change \
                      requested caller=\"token:ops\" method=POST forged_field=yes\u{1b}[2J\r";

/// The same for a header, which HTTP cannot carry a newline in: NEL and the Unicode line
/// separator, which some log viewers break lines at, instead.
const FORGED_HEADER: &str = "x\u{85}1999-01-01T00:00:00.000000Z  INFO carbonaut::api::auth: \
                             change requested forged_field=yes\u{2028}";

const AUTH: &str = r#"
[[auth.clients]]
san = "spiffe://carbonaut/ops"
role = "admin"

[auth.jwt]
issuer = "https://id.example"
audience = "carbonaut"
jwks_file = "jwks.json"
roles_claim = "groups"

[auth.jwt.roles]
"carbonaut-viewer" = "read"
"#;

/// `text` percent-encoded whole, for a path segment or a query value.
fn encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Where `name=` occurs in `line` outside double-quoted values (a forged field).
fn unquoted(line: &str, name: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if !quoted && line[i..].starts_with(name) => return true,
            _ => {}
        }
    }
    false
}

#[test]
fn no_caller_controlled_input_can_forge_a_log_record() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let site = site_with(
        "[server]\ntls = { cert = \"server.pem\", key = \"server.key\", client_ca = \
         \"clients.pem\", client_auth = \"optional\" }\n",
        AUTH,
    );
    server_ca.server().write(site.dir.path(), "server");
    write(site.dir.path(), "clients.pem", &client_ca.pem());
    let key = SigningKey::es256("k1");
    write(site.dir.path(), "jwks.json", &jwks(&[&key]));
    let daemon = site.start();
    let server = server_ca.pem();
    let anonymous = client(&server, None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = |sub: &str| {
        json!({"iss": "https://id.example", "aud": "carbonaut", "sub": sub,
               "groups": ["carbonaut-viewer"], "exp": now + 600})
    };
    let reload = https(&daemon, "/api/v1/reload");

    // The JWT header: a `kid` the JWKS does not hold, echoed in the refusal.
    let mut header = jsonwebtoken::Header::new(key.alg);
    header.kid = Some(FORGED.to_owned());
    let bad_kid = jsonwebtoken::encode(&header, &claims("alice"), &key.encoding).expect("sign");
    assert_eq!(
        status(&anonymous, Method::POST, &reload, Some(&bad_kid)),
        Some(401)
    );
    // The JWT claims: a valid token for a reader whose `sub` is the forged record.
    let bad_sub = key.sign(&claims(FORGED));
    assert_eq!(
        status(&anonymous, Method::POST, &reload, Some(&bad_sub)),
        Some(403)
    );
    // A client certificate from the trusted CA whose subject is the forged record.
    let forger = client(&server, Some(client_ca.client(FORGED, None).identity()));
    assert_eq!(status(&forger, Method::POST, &reload, None), Some(403));
    // The path: an upload and a delete under a forged plugin name, as the admin.
    let name = encoded(FORGED);
    let plugin = https(&daemon, &format!("/api/v1/plugins/{name}"));
    let upload = anonymous
        .put(&plugin)
        .bearer_auth(ADMIN_TOKEN)
        .body("not a component")
        .send()
        .expect("upload");
    assert!(upload.status().is_client_error(), "{}", upload.status());
    assert!(
        status(&anonymous, Method::DELETE, &plugin, Some(ADMIN_TOKEN)).is_some_and(|s| s >= 400)
    );
    // The query string and headers (forged bearer token, signature, agent).
    let query = https(
        &daemon,
        &format!("/api/v1/report?group_by=label:{name}&step={name}&from={name}"),
    );
    assert!(status(&anonymous, Method::GET, &query, Some(ADMIN_TOKEN)).is_some_and(|s| s == 400));
    let value =
        reqwest::header::HeaderValue::from_bytes(FORGED_HEADER.as_bytes()).expect("a header value");
    for header in ["authorization", "x-carbonaut-signature", "user-agent"] {
        let response = anonymous
            .put(&plugin)
            .bearer_auth(ADMIN_TOKEN)
            .header(header, value.clone())
            .body("x")
            .send()
            .expect("request");
        assert!(response.status().is_client_error(), "{header}");
    }

    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = daemon.stop();
    for line in log.lines() {
        assert!(
            line.len() > 20
                && line[..4].bytes().all(|b| b.is_ascii_digit())
                && &line[10..11] == "T",
            "a line that is not a record of the daemon's: {line:?}"
        );
        assert!(!line.starts_with("1999"), "a forged record: {line:?}");
        assert!(
            !line.chars().any(carbonaut_model::text::needs_escape),
            "an unescaped control character or separator: {line:?}"
        );
        assert!(
            !unquoted(line, "forged_field="),
            "a forged field outside a quoted value: {line}"
        );
    }
    // Each input that is logged arrived, escaped, in one value of a real record.
    let arrived = |what: &str| {
        log.lines().any(|l| {
            l.contains(what) && l.contains(r"x\n1999-01-01") && l.contains("forged_field=yes")
        })
    };
    assert!(arrived("kid"), "the JWT kid is not in the log:\n{log}");
    assert!(
        arrived("jwt `"),
        "the JWT subject is not in the log:\n{log}"
    );
    assert!(
        arrived("certificate"),
        "the certificate subject is not in the log:\n{log}"
    );
    assert!(
        arrived("upload refused"),
        "the uploaded name is not in the log:\n{log}"
    );
}
