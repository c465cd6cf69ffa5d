//! The one door a running daemon writes its state through: each write runs on a blocking
//! thread, off the async runtime, and is waited for at most a bounded time. On a full or
//! failing disk sled returns an error for every write from then on, or never returns from a
//! flush at all (both seen here); either way the caller gets an error it can handle, and
//! `/healthz`, `/readyz` and the metrics keep answering.
//!
//! Writes run side by side (sled is thread-safe: the collector's and an operator's disable
//! through the API may overlap). A write that did not return in time keeps its thread (sled
//! cannot be interrupted); until it returns, later writes are refused at once (`Busy`) rather
//! than piling up threads behind it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use carbonaut_model::sync::lock;
use std::time::{Duration, Instant};

use humantime_serde::re::humantime;

use super::store::StateStore;

type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing the {store} to the state directory {dir} failed: {source}")]
    Failed {
        store: &'static str,
        dir: PathBuf,
        source: Source,
    },
    #[error(
        "writing the {store} to the state directory {dir} did not finish within {}; \
         the disk may be full or failing",
        humantime::format_duration(*timeout)
    )]
    TimedOut {
        store: &'static str,
        dir: PathBuf,
        timeout: Duration,
    },
    #[error(
        "the state directory {dir} is still stuck in a {busy_with} write that has not returned \
         for {}s; the {store} write is not attempted",
        waited.as_secs()
    )]
    Busy {
        store: &'static str,
        busy_with: &'static str,
        dir: PathBuf,
        waited: Duration,
    },
    #[error("the {store} write to the state directory {dir} stopped: {reason}")]
    Stopped {
        store: &'static str,
        dir: PathBuf,
        reason: String,
    },
}

impl WriteError {
    /// The reason without the state directory's path (the probes answer anyone): the OS
    /// error of a failed write, or what kept a write from finishing.
    pub fn cause(&self) -> String {
        match self {
            WriteError::Failed { source, .. } => {
                let mut cause: &dyn std::error::Error = source.as_ref();
                while let Some(next) = cause.source() {
                    cause = next;
                }
                cause.to_string()
            }
            WriteError::TimedOut { timeout, .. } => format!(
                "a write did not finish within {}",
                humantime::format_duration(*timeout)
            ),
            WriteError::Busy { waited, .. } => {
                format!("a write has not returned for {}s", waited.as_secs())
            }
            WriteError::Stopped { reason, .. } => reason.clone(),
        }
    }
}

/// Who hears of each write's outcome. The daemon's vitals count, log and serve it (`/readyz`);
/// the store only reports, so it needs nothing from the layers above.
pub trait WriteWatch: Send + Sync + 'static {
    fn write_succeeded(&self);
    /// `error` is the whole message (with the state directory), `cause` the OS error alone.
    fn write_failed(&self, store: &'static str, error: &str, cause: &str);
}

/// Writes to the state, off the runtime, bounded in time, reported to a [`WriteWatch`].
pub struct WriteGate<W> {
    store: Arc<StateStore>,
    watch: Arc<W>,
    /// A write that timed out and has not returned yet.
    stuck: Arc<Mutex<Option<Stuck>>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Copy)]
struct Stuck {
    id: u64,
    store: &'static str,
    started: Instant,
}

// By hand: a derive would ask `W: Clone`, but only the `Arc` is cloned.
impl<W> Clone for WriteGate<W> {
    fn clone(&self) -> Self {
        WriteGate {
            store: self.store.clone(),
            watch: self.watch.clone(),
            stuck: self.stuck.clone(),
            next_id: self.next_id.clone(),
        }
    }
}

impl<W: WriteWatch> WriteGate<W> {
    pub fn new(store: Arc<StateStore>, watch: Arc<W>) -> Self {
        WriteGate {
            store,
            watch,
            stuck: Arc::default(),
            next_id: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<StateStore> {
        &self.store
    }

    pub fn watch(&self) -> &Arc<W> {
        &self.watch
    }

    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// Runs `write` on a blocking thread and waits for it at most `timeout`. A failure, a
    /// timeout or a refusal (an earlier write still stuck) is reported to the watch (which
    /// counts, logs and serves it) and returned; a success ends a run of failures.
    pub async fn write<T, E>(
        &self,
        store: &'static str,
        timeout: Duration,
        write: impl FnOnce(&StateStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, WriteError>
    where
        T: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let result = self.attempt(store, timeout, write).await;
        match &result {
            Ok(_) => self.watch.write_succeeded(),
            Err(error) => self
                .watch
                .write_failed(store, &error.to_string(), &error.cause()),
        }
        result
    }

    async fn attempt<T, E>(
        &self,
        store: &'static str,
        timeout: Duration,
        write: impl FnOnce(&StateStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, WriteError>
    where
        T: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let dir = self.dir().to_owned();
        if let Some(stuck) = *lock(&self.stuck) {
            return Err(WriteError::Busy {
                store,
                busy_with: stuck.store,
                dir,
                waited: stuck.started.elapsed(),
            });
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let returned = Returned {
            id,
            done: done.clone(),
            stuck: self.stuck.clone(),
        };
        let state = self.store.clone();
        let task = tokio::task::spawn_blocking(move || {
            // Marks the write returned (and no longer stuck) even when it unwinds.
            let _returned = returned;
            fault::delay();
            write(&state)
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(source))) => Err(WriteError::Failed {
                store,
                dir,
                source: Box::new(source),
            }),
            Ok(Err(joined)) => Err(WriteError::Stopped {
                store,
                dir,
                reason: joined.to_string(),
            }),
            Err(_) => {
                // Under the lock `Returned` takes too: a write that returns right now is
                // either seen done here, or clears the mark it finds.
                let mut stuck = lock(&self.stuck);
                if !done.load(std::sync::atomic::Ordering::Acquire) {
                    *stuck = Some(Stuck { id, store, started });
                }
                Err(WriteError::TimedOut {
                    store,
                    dir,
                    timeout,
                })
            }
        }
    }
}

/// Dropped when a write returns (or unwinds): ends its stuck mark, if it had one.
struct Returned {
    id: u64,
    done: Arc<std::sync::atomic::AtomicBool>,
    stuck: Arc<Mutex<Option<Stuck>>>,
}

impl Drop for Returned {
    fn drop(&mut self) {
        let mut stuck = lock(&self.stuck);
        self.done.store(true, std::sync::atomic::Ordering::Release);
        if stuck.is_some_and(|s| s.id == self.id) {
            *stuck = None;
        }
    }
}

/// Hooks for the fault-injection tests, read only with the `fault-injection` feature. Without
/// it they are nothing, so release builds carry no test hook.
/// - A slow store: every write first sleeps for `CARBONAUT_FAULT_STORE_DELAY` (a duration like
///   `5s`).
/// - A kill inside a collection's save: its transaction sleeps for
///   `CARBONAUT_FAULT_SAVE_PAUSE` (`4s`) between the history's part and the counters' part,
///   after logging that it does, so a test can SIGKILL the process there.
pub(super) mod fault {
    #[cfg(feature = "fault-injection")]
    fn duration(var: &str) -> Option<std::time::Duration> {
        std::env::var(var)
            .ok()
            .and_then(|d| super::humantime::parse_duration(&d).ok())
    }

    #[cfg(feature = "fault-injection")]
    pub fn delay() {
        static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
        if let Some(delay) = DELAY.get_or_init(|| duration("CARBONAUT_FAULT_STORE_DELAY")) {
            std::thread::sleep(*delay);
        }
    }

    #[cfg(feature = "fault-injection")]
    pub fn save_pause() {
        static PAUSE: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
        if let Some(pause) = PAUSE.get_or_init(|| duration("CARBONAUT_FAULT_SAVE_PAUSE")) {
            tracing::info!(
                pause = %super::humantime::format_duration(*pause),
                "fault injection: a collection's save pauses between its history and its counters"
            );
            std::thread::sleep(*pause);
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    pub fn delay() {}

    #[cfg(not(feature = "fault-injection"))]
    pub fn save_pause() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateError;
    use std::collections::BTreeMap;

    /// Failures per store, and whether the latest write failed.
    #[derive(Default)]
    struct Tally(Mutex<(BTreeMap<&'static str, u64>, bool)>);

    impl WriteWatch for Tally {
        fn write_succeeded(&self) {
            lock(&self.0).1 = false;
        }
        fn write_failed(&self, store: &'static str, _: &str, _: &str) {
            let mut tally = lock(&self.0);
            *tally.0.entry(store).or_default() += 1;
            tally.1 = true;
        }
    }

    impl Tally {
        fn failing(&self) -> bool {
            lock(&self.0).1
        }
        fn failures(&self, store: &str) -> u64 {
            lock(&self.0).0.get(store).copied().unwrap_or(0)
        }
    }

    fn gate() -> (tempfile::TempDir, WriteGate<Tally>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(StateStore::open(dir.path()).expect("open"));
        (dir, WriteGate::new(store, Arc::default()))
    }

    #[tokio::test]
    async fn a_write_that_returns_is_a_success_and_ends_a_failure() {
        let (_dir, gate) = gate();
        let failed = gate
            .write("counters", Duration::from_secs(5), |_| {
                Err::<(), _>(StateError::Storage(sled::Error::Unsupported("full".into())))
            })
            .await;
        assert!(
            matches!(failed, Err(WriteError::Failed { .. })),
            "{failed:?}"
        );
        assert!(gate.watch().failing());
        let value = gate
            .write("counters", Duration::from_secs(5), |s| {
                s.flush().map(|()| 7)
            })
            .await
            .expect("write");
        assert_eq!(value, 7);
        assert!(!gate.watch().failing());
    }

    #[tokio::test]
    async fn a_slow_write_in_progress_does_not_refuse_another() {
        let (_dir, gate) = gate();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let slow = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.write("counters", Duration::from_secs(10), move |_| {
                    let _ = held.recv();
                    Ok::<(), StateError>(())
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.write("plugins", Duration::from_secs(5), |s| s.flush())
            .await
            .expect("a write beside a slow one");
        release.send(()).expect("release");
        slow.await.expect("join").expect("the slow write");
    }

    #[tokio::test]
    async fn a_stuck_write_times_out_and_blocks_later_writes_until_it_returns() {
        let (_dir, gate) = gate();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let stuck = gate
            .write("counters", Duration::from_millis(50), move |_| {
                let _ = held.recv();
                Ok::<(), StateError>(())
            })
            .await;
        assert!(
            matches!(stuck, Err(WriteError::TimedOut { .. })),
            "{stuck:?}"
        );
        let refused = gate
            .write("history", Duration::from_secs(5), |_| {
                Ok::<(), StateError>(())
            })
            .await;
        match refused {
            Err(WriteError::Busy { busy_with, .. }) => assert_eq!(busy_with, "counters"),
            other => panic!("expected Busy, got {other:?}"),
        }
        assert_eq!(gate.watch().failures("history"), 1);
        release.send(()).expect("release");
        // The stuck write returns; the next one goes through.
        let mut done = false;
        for _ in 0..100 {
            if gate
                .write("history", Duration::from_secs(5), |_| {
                    Ok::<(), StateError>(())
                })
                .await
                .is_ok()
            {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(done, "the gate stayed busy after the stuck write returned");
        assert!(!gate.watch().failing());
    }
}
