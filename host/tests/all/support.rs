//! Shared helpers: the runtime, guest paths, fixtures, a daemon started as a user starts it,
//! and (in `external`) the programs from outside the repository that tests run.

pub mod bare_wit;
pub mod external;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonaut_runtime::{Limits, Runtime};

pub use external::{
    EVERY_SECOND, NodeExporter, Prometheus, Reaped, free_port, job, require_tool, require_tool_from,
};

pub const MOCK_CLOUD: &str = env!("CARBONAUT_GUEST_MOCK_CLOUD");
pub const MOCK_METER: &str = env!("CARBONAUT_GUEST_MOCK_METER");
pub const MOCK_GRID: &str = env!("CARBONAUT_GUEST_MOCK_GRID");
pub const STATIC_GRID: &str = env!("CARBONAUT_GUEST_STATIC_GRID");
pub const LINUX_HOST: &str = env!("CARBONAUT_GUEST_LINUX_HOST");
pub const PROMETHEUS: &str = env!("CARBONAUT_GUEST_PROMETHEUS");
pub const AWS: &str = env!("CARBONAUT_GUEST_AWS");
pub const HETZNER_CLOUD: &str = env!("CARBONAUT_GUEST_HETZNER_CLOUD");
pub const GCP: &str = env!("CARBONAUT_GUEST_GCP");
pub const AZURE: &str = env!("CARBONAUT_GUEST_AZURE");
pub const TRAPPING: &str = env!("CARBONAUT_GUEST_TRAPPING");
pub const OTHER_WORLD: &str = env!("CARBONAUT_GUEST_OTHER_WORLD");

pub fn runtime() -> Arc<Runtime> {
    Arc::new(carbonaut_plugins::new_runtime(Limits::default()).expect("runtime"))
}

/// The folder holding the shipped plugins (`target/plugins`).
pub fn plugin_dir() -> PathBuf {
    Path::new(MOCK_CLOUD)
        .parent()
        .expect("plugin folder")
        .to_path_buf()
}

pub fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A `carbonaut run` process started the way a user starts it, on an ephemeral port.
pub struct Daemon {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `carbonaut run` with `args` (plus `--listen 127.0.0.1:0`) and waits for it to
    /// say where it listens.
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_with_env(args, &[])
    }

    /// [`Daemon::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(args, env)
    }

    /// [`Daemon::start`] under Debian's libfaketime at `rate` times the real clock's speed
    /// (`"x30"`): minutes of backoff in seconds. The daemon's clocks, timers and its plugins'
    /// clocks all run fast; its log's timestamps say the fake time. Preloaded into the daemon
    /// itself, not through the `faketime` wrapper, which would take the SIGTERM of `stop`. `.ci/run`
    /// installs the package.
    pub fn start_fast(rate: &str, args: &[&str]) -> Daemon {
        let library = std::fs::read_dir("/usr/lib")
            .into_iter()
            .flatten()
            .flatten()
            .map(|arch| arch.path().join("faketime/libfaketimeMT.so.1"))
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("libfaketimeMT.so.1 not found: install Debian's `faketime` package")
            });
        let library = library.to_str().expect("utf-8").to_owned();
        let speed = format!("+0 {rate}");
        Daemon::spawn(args, &[("LD_PRELOAD", &library), ("FAKETIME", &speed)])
    }

    /// Starts `carbonaut run` with `args` and `env`, and waits for it to say where it listens.
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"))
            .arg("run")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start carbonaut");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                // Logged before the address is announced, so a caller that checks the log
                // right after `start` sees the line it waited for.
                sink.lock().expect("log lock").push(line.clone());
                let rest = line
                    .split("listening on http://")
                    .nth(1)
                    .or_else(|| line.split("listening on https://").nth(1));
                if let Some(rest) = rest {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "carbonaut did not start listening; its log:\n{}",
                    log.lock().expect("log").join("\n")
                );
            }
        };
        Daemon { child, addr, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(self.url(path)).expect("HTTP request")
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .post(self.url(path))
            .json(body)
            .send()
            .expect("HTTP request")
    }

    /// Polls `path` until `check` accepts its body, for at most `secs` seconds.
    pub fn wait_for(&self, path: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Ok(resp) = reqwest::blocking::get(self.url(path))
                && let Ok(body) = resp.text()
                && check(&body)
            {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never satisfied the check; log:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Waits at most `secs` seconds for the log to satisfy `check` and returns it; panics
    /// with the log otherwise. A line the daemon wrote before answering a request reaches
    /// this process through a pipe and a reader thread, so it can arrive after the answer:
    /// a test that checks a line right after a request waits for it here.
    pub fn wait_for_log(&self, secs: u64, check: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let log = self.log();
            if check(&log) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the log never satisfied the check:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits at most `secs` seconds for the process to exit on its own; `None` if it did not.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Give the log reader a moment to drain.
                std::thread::sleep(std::time::Duration::from_millis(100));
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        // Give the log reader a moment to drain.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let log = self.log();
        assert!(exit.success(), "carbonaut exited with {exit}; log:\n{log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first sample of `metric` whose labels contain `labels`, from exposition text.
pub fn metric_value(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Sample lines of one metric family.
pub fn series<'a>(text: &'a str, metric: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .collect()
}

/// What `carbonaut check-config` said about a shipped example.
pub struct Checked {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `carbonaut check-config` on `examples/NAME` as shipped, except that its
/// `plugin_dir = "../target/plugins"` points at the plugins this build made (the target
/// directory may be elsewhere), with each of `env` set (`Some`) or removed (`None`).
pub fn check_example(name: &str, env: &[(&str, Option<&str>)]) -> Checked {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("the example");
    let line = "plugin_dir = \"../target/plugins\"";
    assert!(text.contains(line), "{name} loads ../target/plugins");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(name);
    let plugins = format!("plugin_dir = {:?}", plugin_dir().display().to_string());
    std::fs::write(&file, text.replace(line, &plugins)).expect("write");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_carbonaut"));
    command.arg("check-config").arg(&file);
    for (var, value) in env {
        match value {
            Some(value) => command.env(var, value),
            None => command.env_remove(var),
        };
    }
    let out = command.output().expect("run check-config");
    Checked {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
