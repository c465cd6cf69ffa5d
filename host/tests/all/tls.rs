//! Optional TLS: with `[server] tls` the same API is served over HTTPS only.

use crate::reload::{ONE_ACCOUNT, Site};

#[test]
fn tls_serves_https_with_the_configured_certificate() {
    let site = Site::new(ONE_ACCOUNT);
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate");
    std::fs::write(site.dir.path().join("cert.pem"), cert.cert.pem()).expect("cert");
    std::fs::write(
        site.dir.path().join("key.pem"),
        cert.key_pair.serialize_pem(),
    )
    .expect("key");
    let text = std::fs::read_to_string(site.config()).expect("read");
    std::fs::write(
        site.config(),
        format!("[server]\ntls = {{ cert = \"cert.pem\", key = \"key.pem\" }}\n\n{text}"),
    )
    .expect("write");
    let daemon = site.start();
    assert!(
        daemon.log().contains("listening on https://"),
        "{}",
        daemon.log()
    );

    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("root");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(root)
        .build()
        .expect("client");
    let url = format!("https://localhost:{}/healthz", daemon.addr.port());
    let response = client.get(&url).send().expect("HTTPS request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().expect("body"), "ok\n");
    // Plain HTTP on the same port does not get an answer from the API.
    let plain = reqwest::blocking::get(format!("http://{}/healthz", daemon.addr));
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    daemon.stop();
}

#[test]
fn a_missing_certificate_stops_the_start_with_the_file_named() {
    let site = Site::new(ONE_ACCOUNT);
    let text = std::fs::read_to_string(site.config()).expect("read");
    std::fs::write(
        site.config(),
        format!("[server]\ntls = {{ cert = \"nope.pem\", key = \"nope.key\" }}\n\n{text}"),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
        .args([
            "run",
            "--config",
            site.config().to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot load the TLS certificate") && stderr.contains("nope.pem"),
        "{stderr}"
    );
}
