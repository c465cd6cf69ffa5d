//! systemd's notify protocol (sd_notify(3)), without libsystemd: `READY=1` once the server
//! listens with plugins loaded, `WATCHDOG=1` every half `WatchdogSec` while the collector
//! still finishes steps, `STOPPING=1` on shutdown. A collector that stopped stepping stops the
//! pings, so systemd restarts the service even when nothing probes `/healthz`. Only active
//! when systemd set `NOTIFY_SOCKET` (`Type=notify`); nothing happens otherwise.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

use crate::vitals::Vitals;

pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier systemd asked for, if any. A socket that cannot be reached is logged and
    /// ignored: the service still runs, only without readiness and watchdog notices.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_string_lossy().into_owned();
        match Notifier::connect(&path) {
            Ok(notifier) => Some(notifier),
            Err(error) => {
                tracing::warn!(socket = %path, %error, "cannot use systemd's NOTIFY_SOCKET; no readiness or watchdog notices");
                None
            }
        }
    }

    fn connect(path: &str) -> std::io::Result<Notifier> {
        let addr = match path.strip_prefix('@') {
            // An abstract socket (Linux): systemd writes it with a leading '@'.
            Some(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(path)?,
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            addr,
        })
    }

    pub fn send(&self, state: &str) {
        if let Err(error) = self.socket.send_to_addr(state.as_bytes(), &self.addr) {
            tracing::warn!(%error, state, "cannot notify systemd");
        }
    }

    /// Half the watchdog period systemd set for this process (`WATCHDOG_USEC`, and
    /// `WATCHDOG_PID` when it names another process: then none).
    pub fn watchdog_every() -> Option<Duration> {
        if let Some(pid) = std::env::var_os("WATCHDOG_PID")
            && pid.to_string_lossy() != std::process::id().to_string()
        {
            return None;
        }
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        (usec > 0).then(|| Duration::from_micros(usec / 2))
    }

    /// Pings the watchdog every `every` while the collector steps (see [`Vitals::stalled`]);
    /// a stalled collector is said once, then systemd's watchdog ends it.
    pub async fn watchdog(self: Arc<Self>, vitals: Arc<Vitals>, every: Duration) {
        let mut timer = tokio::time::interval(every);
        let mut said = false;
        loop {
            timer.tick().await;
            match vitals.stalled() {
                None => {
                    self.send("WATCHDOG=1");
                    said = false;
                }
                Some(age) if !said => {
                    tracing::error!(
                        stalled_s = age.as_secs(),
                        "the collector has not finished a step; no more watchdog pings, systemd restarts carbonaut"
                    );
                    said = true;
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_reach_a_path_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let notifier = Notifier::connect(path.to_str().expect("utf-8")).expect("connect");
        notifier.send("READY=1");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[tokio::test]
    async fn the_watchdog_is_fed_only_while_the_collector_steps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let notifier = Arc::new(Notifier::connect(path.to_str().expect("utf-8")).expect("connect"));
        let vitals = Arc::new(Vitals::default());
        vitals.watch_steps(Duration::from_millis(200));
        let task = tokio::spawn(notifier.watchdog(vitals.clone(), Duration::from_millis(20)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 64];
        let mut pings = 0;
        while let Ok(n) = listener.recv(&mut buf) {
            assert_eq!(&buf[..n], b"WATCHDOG=1");
            pings += 1;
        }
        assert!(pings >= 2, "{pings} pings while stepping");
        // No step for longer than the window: the pings stop.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while listener.recv(&mut buf).is_ok() {}
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(listener.recv(&mut buf).is_err(), "pinged while stalled");
        task.abort();
    }
}
