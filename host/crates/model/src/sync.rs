//! The one policy for a poisoned lock in Carbonaut: recover the guard and go on. A lock is
//! poisoned when a thread panicked while holding it; every lock of ours guards counters,
//! status or a published snapshot, which each critical section leaves whole (it replaces or
//! increments, never half-writes), so the data is still sound. Stopping the daemon, or
//! silently skipping the update (both were done here before), would lose more than it saves.
//! Where a panic can leave a value stale, the caller says so and recomputes it
//! (`carbonaut_runtime::Namespace` recounts its bytes).

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, recovering it if poisoned.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads `lock`, recovering it if poisoned.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Writes `lock`, recovering it if poisoned.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_lock_poisoned_by_a_panic_still_gives_its_data() {
        let counter = Arc::new(Mutex::new(1));
        let held = counter.clone();
        let panicked = std::thread::spawn(move || {
            let mut guard = held.lock().unwrap_or_else(PoisonError::into_inner);
            *guard += 1;
            panic!("a panic while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(counter.is_poisoned());
        assert_eq!(*lock(&counter), 2);
        *lock(&counter) += 1;
        assert_eq!(*lock(&counter), 3);
    }
}
