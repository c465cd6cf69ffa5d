//! A real Prometheus (Debian's package) scrapes `/metrics` over mutual TLS with its
//! `tls_config` `cert_file`/`key_file`, while metrics are protected and client certificates
//! required; a second job without a certificate is refused.

use std::time::{Duration, Instant};

use super::pki::Ca;
use super::*;
use crate::support::{EVERY_SECOND, Prometheus};

#[test]
fn prometheus_scrapes_over_mutual_tls() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let site = site_with(
        "[server]\ntls = { cert = \"server.pem\", key = \"server.key\", client_ca = \"clients.pem\", client_auth = \"required\" }\n",
        "[auth]\nprotect_metrics = true\n\n[[auth.clients]]\nsubject = \"CN=prometheus\"\nrole = \"read\"\n",
    );
    let dir = site.dir.path();
    server_ca.server().write(dir, "server");
    write(dir, "clients.pem", &client_ca.pem());
    write(dir, "server-ca.pem", &server_ca.pem());
    client_ca
        .client("prometheus", None)
        .write(dir, "prometheus");
    let daemon = site.start();

    let target = format!("localhost:{}", daemon.addr.port());
    let tls = |with_cert: bool| {
        let cert = if with_cert {
            format!(
                "\n      cert_file: {}\n      key_file: {}",
                dir.join("prometheus.pem").display(),
                dir.join("prometheus.key").display()
            )
        } else {
            String::new()
        };
        format!(
            "    scheme: https\n    tls_config:\n      ca_file: {}{cert}\n",
            dir.join("server-ca.pem").display()
        )
    };
    let prometheus = Prometheus::start(&format!(
        "{EVERY_SECOND}  - job_name: carbonaut\n{}    static_configs:\n      - targets: ['{target}']\n  - job_name: no-certificate\n{}    static_configs:\n      - targets: ['{target}']\n",
        tls(true),
        tls(false)
    ));

    let query = |q: &str| prometheus.query(q).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let up = query("up");
        let value = |job: &str| {
            up.iter()
                .find(|s| s["metric"]["job"] == job)
                .map(|s| s["value"][1].as_str().unwrap_or_default().to_owned())
        };
        let series = query("carbonaut_resource_energy_joules_total");
        if value("carbonaut").as_deref() == Some("1")
            && value("no-certificate").as_deref() == Some("0")
            && !series.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape over mTLS (up: {up:?}); carbonaut log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    daemon.stop();
}
