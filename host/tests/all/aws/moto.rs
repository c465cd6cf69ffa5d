//! moto's server, the AWS emulator the aws plugin is tested against: started from the pinned
//! virtual environment `examples/aws-venv.sh` makes, on a loopback port, seeded with boto3 by
//! `tests/fixtures/aws/seed.py`, killed when dropped. A missing venv fails the test with the
//! command to run, never skips it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{MOCK_CLOUD, Reaped, free_port};

/// `$CARBONAUT_AWS_VENV`, else `aws-venv` in the target directory this test was built in.
pub fn venv() -> PathBuf {
    let dir = match std::env::var_os("CARBONAUT_AWS_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(MOCK_CLOUD)
            .ancestors()
            .nth(2)
            .expect("the target directory")
            .join("aws-venv"),
    };
    assert!(
        dir.join("bin/moto_server").is_file(),
        "{} has no moto_server: run `examples/aws-venv.sh` (it installs pinned \
         moto[server]==5.2.5 and botocore from PyPI there; `examples/build-polyglot.sh` and \
         .ci/run do it before `cargo test`)",
        dir.display()
    );
    dir
}

pub struct Moto {
    _process: Reaped,
    pub port: u16,
    _log: tempfile::NamedTempFile,
}

impl Moto {
    /// Starts `moto_server` on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let venv = venv();
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("temp file");
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("reopen the log"))
            .spawn()
            .expect("start moto_server");
        let mut process = Reaped(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{port}/moto-api/data.json");
        loop {
            if reqwest::blocking::get(&url).is_ok_and(|r| r.status().is_success()) {
                break;
            }
            let exited = process.0.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "moto_server did not start ({exited:?}); its log:\n{}",
                    std::fs::read_to_string(log.path()).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            _process: process,
            port,
            _log: log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs the seed script against this server: what it made (instance ids by region and
    /// name, the role's ARN, the newer datapoints' period).
    pub fn seed(&self) -> Seeded {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws/seed.py");
        let out = Command::new(venv().join("bin/python"))
            .arg(&script)
            .arg(self.url())
            .output()
            .expect("run seed.py");
        assert!(
            out.status.success(),
            "seed.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("seed JSON");
        Seeded { json }
    }
}

pub struct Seeded {
    json: serde_json::Value,
}

impl Seeded {
    /// The id of instance `name` in `region`.
    pub fn id(&self, region: &str, name: &str) -> String {
        self.json["instances"][region][name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {region}: {}", self.json))
            .to_owned()
    }

    pub fn role_arn(&self) -> String {
        self.json["role_arn"].as_str().expect("role_arn").to_owned()
    }

    /// The start of the period of the newer datapoints, ms since the epoch.
    pub fn period_ms(&self) -> u64 {
        self.json["period_ms"].as_u64().expect("period_ms")
    }
}
