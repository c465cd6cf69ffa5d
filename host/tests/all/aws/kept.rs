//! A daemon keeps the last inventory of a region that stops answering: the sync lists the
//! other regions, logs the failed one, and leaves its instances as they were (the host's rule
//! for a project whose listing fails, `collect/sync.rs`), rather than removing them.

use std::path::Path;
use std::time::{Duration, Instant};

use super::faults::{FakeAws, Mode, action};
use crate::support::*;

#[test]
fn a_daemon_keeps_the_last_inventory_of_a_region_that_stops_answering() {
    let fake = FakeAws::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins");
    for p in [AWS, MOCK_METER, STATIC_GRID] {
        std::fs::copy(p, plugins.join(Path::new(p).file_name().expect("name"))).expect("copy");
    }
    let file = dir.path().join("carbonaut.toml");
    std::fs::write(
        &file,
        format!(
            r#"[paths]
plugin_dir = {plugins:?}
state_dir = "state"

[intervals]
topology_sync = "1s"
resource_metrics = "1s"
environment = "1h"

[providers.aws]
plugin = "aws"
allow_http = ["{url}"]
key_value = true

[providers.meter]
plugin = "mock-meter"

[providers.grid]
plugin = "static-grid"

[environment]
provider = "grid"

[accounts.prod]
discovery = "aws"
resource_metrics = "meter"
settings = {{ access_key_id = "AKIDCARBONAUTTEST", secret_access_key = "${{AWS_TEST_SECRET}}", regions = "us-east-1,ap-southeast-2", endpoint_url = "{url}" }}
"#,
            plugins = plugins.display().to_string(),
            url = fake.upstream.origin(),
        ),
    )
    .expect("config");
    let daemon = Daemon::start_with_env(
        &["--config", file.to_str().expect("utf-8")],
        &[("AWS_TEST_SECRET", "secret")],
    );
    let both = |t: &str| t.contains("\"i-us-east-1\"") && t.contains("\"i-ap-southeast-2\"");
    daemon.wait_for("/api/v1/topology", 60, both);

    fake.set(Mode::AsiaHangs);
    let listings = || {
        fake.upstream
            .seen()
            .iter()
            .filter(|s| action(s) == "DescribeInstances")
            .count()
    };
    let before = listings();
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let log = daemon.log();
        let failed = log
            .lines()
            .any(|l| l.contains("keeping its previous resources") && l.contains("ap-southeast-2"));
        // A sync after the failure listed Virginia again (and Sydney, which hung).
        if failed && listings() >= before + 4 {
            break log;
        }
        assert!(Instant::now() < deadline, "no failed sync; log:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        log.contains("ec2:DescribeInstances: no answer within 4 s"),
        "the reason is logged:\n{log}"
    );
    let topology = daemon.get("/api/v1/topology").text().expect("topology");
    assert!(both(&topology), "Sydney's instance is kept: {topology}");
}
