//! Mutual TLS: a certificate from the right CA, from another CA, expired, and none, against
//! `/metrics` (protected), a read endpoint and an admin endpoint; `optional` falls back to
//! tokens, `required` refuses the handshake.

use reqwest::Method;

use super::pki::Ca;
use super::*;

const CLIENTS: &str = r#"
[auth]
protect_metrics = true

[[auth.clients]]
subject = "CN=prometheus"
role = "read"

[[auth.clients]]
san = "spiffe://carbonaut/ops"
role = "admin"
"#;

struct Setup {
    site: Site,
    server_ca: Ca,
    client_ca: Ca,
}

fn setup(client_auth: &str) -> Setup {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let site = site_with(
        &format!(
            "[server]\ntls = {{ cert = \"server.pem\", key = \"server.key\", client_ca = \"clients.pem\", client_auth = \"{client_auth}\" }}\n"
        ),
        CLIENTS,
    );
    server_ca.server().write(site.dir.path(), "server");
    write(site.dir.path(), "clients.pem", &client_ca.pem());
    Setup {
        site,
        server_ca,
        client_ca,
    }
}

#[test]
fn client_certificates_get_the_role_their_mapping_grants() {
    let s = setup("optional");
    let daemon = s.site.start();
    let other_ca = Ca::new("client CA");
    let server_ca = s.server_ca.pem();
    let with = |issued: &super::pki::Issued| client(&server_ca, Some(issued.identity()));
    let prometheus = with(&s.client_ca.client("prometheus", None));
    let ops = with(&s.client_ca.client("ops", Some("spiffe://carbonaut/ops")));
    let stranger = with(&s.client_ca.client("stranger", None));
    let expired = with(&s.client_ca.expired_client("prometheus"));
    let foreign = with(&other_ca.client("prometheus", None));
    let none = client(&server_ca, None);

    let (metrics, status_url, reload) = (
        https(&daemon, "/metrics"),
        https(&daemon, "/api/v1/status"),
        https(&daemon, "/api/v1/reload"),
    );
    let matrix = |c: &reqwest::blocking::Client, bearer: Option<&str>| {
        [
            status(c, Method::GET, &metrics, bearer),
            status(c, Method::GET, &status_url, bearer),
            status(c, Method::POST, &reload, bearer),
        ]
    };
    assert_eq!(matrix(&prometheus, None), [Some(200), Some(200), Some(403)]);
    assert_eq!(matrix(&ops, None), [Some(200), Some(200), Some(200)]);
    // Signed by the right CA but mapped to nothing: known, and allowed nothing.
    assert_eq!(matrix(&stranger, None), [Some(403), Some(403), Some(403)]);
    // Expired, or from another CA: the handshake itself fails, even with optional.
    assert_eq!(matrix(&expired, None), [None, None, None]);
    assert_eq!(matrix(&foreign, None), [None, None, None]);
    assert_eq!(matrix(&foreign, Some(ADMIN_TOKEN)), [None, None, None]);
    // No certificate: optional falls back to bearer tokens.
    assert_eq!(matrix(&none, None), [Some(401), Some(401), Some(401)]);
    assert_eq!(
        matrix(&none, Some(ADMIN_TOKEN)),
        [Some(200), Some(200), Some(200)]
    );
    assert_eq!(
        matrix(&none, Some("not-a-token")),
        [Some(401), Some(401), Some(401)]
    );

    let body = stranger
        .get(&status_url)
        .send()
        .expect("request")
        .text()
        .expect("body");
    assert!(
        body.contains("certificate `CN=stranger` has no role"),
        "{body}"
    );

    // The reload asked for by the `ops` certificate names it in the history and the log.
    assert_eq!(
        status(&ops, Method::POST, &reload, None),
        Some(200),
        "{}",
        daemon.log()
    );
    let record = last_reload(&none, &https(&daemon, "/api/v1/reloads"));
    assert_eq!(record["caller"], "certificate:CN=ops", "{record}");
    let log = daemon.stop();
    assert!(
        log.contains("change requested") && log.contains("certificate:CN=ops"),
        "{log}"
    );
    assert!(
        log.contains("change refused") && log.contains("certificate:CN=prometheus"),
        "{log}"
    );
}

#[test]
fn required_client_auth_refuses_the_handshake_without_a_certificate() {
    let s = setup("required");
    let daemon = s.site.start();
    let server_ca = s.server_ca.pem();
    let none = client(&server_ca, None);
    let prometheus = client(
        &server_ca,
        Some(s.client_ca.client("prometheus", None).identity()),
    );
    let metrics = https(&daemon, "/metrics");
    assert_eq!(status(&none, Method::GET, &metrics, None), None);
    // A token does not help: the connection never gets as far as HTTP.
    assert_eq!(
        status(&none, Method::GET, &metrics, Some(ADMIN_TOKEN)),
        None
    );
    assert_eq!(status(&prometheus, Method::GET, &metrics, None), Some(200));
    let body = prometheus
        .get(&metrics)
        .send()
        .expect("scrape")
        .text()
        .expect("body");
    assert!(body.contains("carbonaut_"), "{body}");
    // With a certificate, a token still decides when it is sent (it wins over the certificate).
    assert_eq!(
        status(
            &prometheus,
            Method::POST,
            &https(&daemon, "/api/v1/reload"),
            Some(ADMIN_TOKEN)
        ),
        Some(200)
    );
    daemon.stop();
}
