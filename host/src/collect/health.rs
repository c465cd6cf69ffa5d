//! Provider health: a provider whose calls keep failing is left alone for an exponentially
//! growing while (its next call gets a fresh instance, so waiting is what a restart means here)
//! and shown as degraded; and a cap on its concurrent calls, so one slow provider shared by
//! many accounts cannot take every pooled instance.

use carbonaut_model::sync::lock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::Failure;
use carbonaut_model::ProviderError;
use carbonaut_plugins::CallErrorKind;

use crate::snapshot::ProviderHealth;

/// The first wait after a failure; doubles with each further failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait: a provider that recovers is back within five minutes.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct State {
    failures: u32,
    retry_at: Option<Instant>,
}

#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
    permits: Semaphore,
}

impl Health {
    /// A healthy provider that runs at most `max_concurrent_calls` calls at once.
    pub fn new(max_concurrent_calls: usize) -> Self {
        Health {
            state: Mutex::default(),
            permits: Semaphore::new(max_concurrent_calls),
        }
    }
}

impl Health {
    /// Err while the provider is backing off.
    pub fn check(&self, provider: &str, plugin: &str) -> Result<(), Failure> {
        let state = lock(&self.state);
        match state.retry_at {
            Some(at) if at > Instant::now() => Err(Failure::Backoff {
                provider: provider.to_owned(),
                plugin: plugin.to_owned(),
                failures: state.failures,
                retry_in_ms: at.saturating_duration_since(Instant::now()).as_millis() as u64,
            }),
            _ => Ok(()),
        }
    }

    pub async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    /// Counts a call's outcome: a success clears the backoff, a failure extends it (at least
    /// to the provider's own `retry-after`).
    pub fn record<T>(&self, result: &Result<T, Failure>) {
        let mut state = lock(&self.state);
        match result {
            Ok(_) => *state = State::default(),
            Err(Failure::Backoff { .. }) => {}
            Err(Failure::Call(e)) if matches!(e.kind, CallErrorKind::NotImplemented) => {}
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let exponent = state.failures.saturating_sub(1).min(16);
                let mut wait = FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
                if let Some(ProviderError::Unavailable(u)) = error.provider_error()
                    && let Some(ms) = u.retry_after_ms
                {
                    wait = wait.max(Duration::from_millis(ms)).min(MAX_BACKOFF);
                }
                state.retry_at = Some(Instant::now() + wait);
            }
        }
    }

    pub fn status(&self) -> ProviderHealth {
        let state = lock(&self.state);
        let retry_in = state
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero());
        ProviderHealth {
            degraded: state.failures > 0,
            consecutive_failures: state.failures,
            retry_in_ms: retry_in.map(|d| d.as_millis() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_plugins::CallError;

    fn failure() -> Result<(), Failure> {
        Err(Failure::Call(CallError {
            plugin: "p".into(),
            version: "1".into(),
            operation: "op",
            kind: CallErrorKind::Trap("boom".into()),
        }))
    }

    #[test]
    fn failures_back_off_exponentially_and_success_resets() {
        let health = Health::new(4);
        assert!(health.check("prov", "p").is_ok());
        health.record(&failure());
        let first = health.status();
        assert!(first.degraded && first.consecutive_failures == 1);
        assert!(first.retry_in_ms.is_some_and(|ms| ms <= 1000));
        let err = health.check("prov", "p").expect_err("backing off");
        assert_eq!(err.reason(), "backoff");
        assert!(
            err.to_string().starts_with(
                "provider `prov` (plugin p) is degraded after 1 failed calls; next try in"
            ),
            "{err}"
        );
        health.record(&failure());
        health.record(&failure());
        assert!(
            health
                .status()
                .retry_in_ms
                .is_some_and(|ms| ms > 2000 && ms <= 4000)
        );
        health.record(&Ok(()));
        assert!(!health.status().degraded);
        assert!(health.check("prov", "p").is_ok());
    }
}
