//! The host side of the `key-value` import: one namespace per provider instance in a sled
//! tree, so a plugin can keep a token or a cursor across calls (every call gets a fresh
//! instance) and across restarts. Sizes are capped so a plugin cannot fill the host's disk.
//!
//! The bytes each namespace holds are counted once per process (one scan, the first time
//! the namespace is used) and then kept up to date by every `set` and `delete`, so a write
//! costs a lookup and an insert, not a scan of the namespace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use carbonaut_model::sync::lock;

/// Why a key-value call failed; each contract version maps it to its own `store-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Over a size limit (key, value or namespace).
    #[error("{0}")]
    Full(String),
    /// The store is not granted to this provider.
    #[error("{0}")]
    Denied(String),
    /// sled failed.
    #[error("{0}")]
    Failed(String),
}

/// Keys are names, not data.
pub const MAX_KEY_BYTES: usize = 256;
/// A token or a cursor fits with room to spare; a cache of API responses does not.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Keys plus values of one namespace.
pub const MAX_NAMESPACE_BYTES: usize = 1 << 20;

/// The tree behind the store and the bytes each namespace holds, shared by every call of the
/// runtime that owns it.
///
/// The counts are only right if every write to the tree goes through this value: the
/// runtime owns the tree (the daemon has one runtime, and sled's lock keeps other processes
/// out). A count is rebuilt from the tree the first time its namespace is used after a
/// restart, so what a crash lost is never counted.
#[derive(Clone)]
pub struct KeyValueStore {
    tree: sled::Tree,
    usage: Arc<Mutex<HashMap<Vec<u8>, Arc<Usage>>>>,
}

/// Bytes of keys and values in one namespace; `None` until counted by a scan.
///
/// Why a mutex rather than sled's compare-and-swap: the limit check needs the old value's
/// size and the count together, and a namespace's writers are the calls of one provider
/// instance (a few at once), so holding a lock for one lookup and one insert (microseconds)
/// costs nothing and keeps the limit exact, where a lock-free count would let concurrent
/// calls overshoot it.
type Usage = Mutex<Option<usize>>;

impl KeyValueStore {
    pub fn new(tree: sled::Tree) -> Self {
        KeyValueStore {
            tree,
            usage: Arc::default(),
        }
    }

    /// The store as seen by the provider instance `provider`.
    pub fn namespace(&self, provider: &str) -> Namespace {
        let mut prefix = provider.as_bytes().to_vec();
        prefix.push(0);
        let used = lock(&self.usage).entry(prefix.clone()).or_default().clone();
        Namespace {
            tree: self.tree.clone(),
            prefix,
            used,
        }
    }
}

/// The store as seen by one provider instance: keys prefixed by its name and a NUL byte.
#[derive(Clone)]
pub struct Namespace {
    tree: sled::Tree,
    prefix: Vec<u8>,
    used: Arc<Usage>,
}

impl Namespace {
    fn key(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(StoreError::Full(format!(
                "the key is {} bytes; keys are at most {MAX_KEY_BYTES}",
                key.len()
            )));
        }
        let mut full = self.prefix.clone();
        full.extend_from_slice(key.as_bytes());
        Ok(full)
    }

    /// What an entry counts against the limit: its key without the prefix, and its value.
    fn size(&self, full_key: &[u8], value: &[u8]) -> usize {
        full_key.len() - self.prefix.len() + value.len()
    }

    /// The count, locked, after counting it from the tree if this is the namespace's first
    /// use in the process.
    fn usage(&self) -> Result<MutexGuard<'_, Option<usize>>, StoreError> {
        let mut used = self.lock_usage();
        if used.is_none() {
            let mut total = 0;
            for entry in self.tree.scan_prefix(&self.prefix) {
                let (k, v) = entry.map_err(failed)?;
                total += self.size(&k, &v);
            }
            *used = Some(total);
        }
        Ok(used)
    }

    fn lock_usage(&self) -> MutexGuard<'_, Option<usize>> {
        self.used.lock().unwrap_or_else(|poisoned| {
            // A call panicked while holding it: the count may be off, so count again.
            let mut used = poisoned.into_inner();
            *used = None;
            used
        })
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let full = self.key(key)?;
        let value = self.tree.get(full).map_err(failed)?;
        Ok(value.map(|v| v.to_vec()))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let full = self.key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(StoreError::Full(format!(
                "the value is {} bytes; values are at most {MAX_VALUE_BYTES}",
                value.len()
            )));
        }
        let mut guard = self.usage()?;
        let used = guard.unwrap_or_default();
        // An overwrite replaces the old value's bytes rather than adding to them.
        let old = self.tree.get(&full).map_err(failed)?;
        let freed = old.map_or(0, |v| self.size(&full, &v));
        let added = self.size(&full, value);
        let after = used.saturating_sub(freed) + added;
        if after > MAX_NAMESPACE_BYTES {
            return Err(StoreError::Full(format!(
                "the namespace would hold {after} bytes; the limit is {MAX_NAMESPACE_BYTES}"
            )));
        }
        let previous = self.tree.insert(&full, value).map_err(failed)?;
        // The lock keeps other writers of this namespace out, so `previous` is `old`; its
        // own size is used all the same, so the count follows what the tree really replaced.
        let replaced = previous.map_or(0, |v| self.size(&full, &v));
        *guard = Some(used.saturating_sub(replaced) + added);
        Ok(())
    }

    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full = self.key(key)?;
        let mut guard = self.lock_usage();
        let removed = self.tree.remove(&full).map_err(failed)?;
        // Not counted yet: the first use counts what is left.
        if let (Some(used), Some(value)) = (guard.as_mut(), removed) {
            *used = used.saturating_sub(self.size(&full, &value));
        }
        Ok(())
    }

    /// Bytes of keys and values held, for the API.
    pub fn used_bytes(&self) -> Result<usize, StoreError> {
        Ok(self.usage()?.unwrap_or_default())
    }
}

fn failed(error: sled::Error) -> StoreError {
    StoreError::Failed(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        db.open_tree("kv").expect("tree")
    }

    /// What the namespace holds, counted from the tree itself.
    fn truth(tree: &sled::Tree, provider: &str) -> usize {
        let prefix = format!("{provider}\0");
        tree.scan_prefix(prefix.as_bytes())
            .map(|e| e.expect("entry"))
            .map(|(k, v)| k.len() - prefix.len() + v.len())
            .sum()
    }

    #[test]
    fn namespaces_do_not_see_each_other() {
        let store = KeyValueStore::new(tree());
        let a = store.namespace("a");
        let ab = store.namespace("a\0b");
        a.set("token", b"1").expect("set");
        assert_eq!(a.get("token").expect("get"), Some(b"1".to_vec()));
        assert_eq!(ab.get("token").expect("get"), None);
        a.delete("token").expect("delete");
        assert_eq!(a.get("token").expect("get"), None);
    }

    #[test]
    fn sizes_are_capped_and_overwrites_do_not_count_twice() {
        let ns = KeyValueStore::new(tree()).namespace("p");
        assert!(matches!(
            ns.set(&"k".repeat(MAX_KEY_BYTES + 1), b""),
            Err(StoreError::Full(_))
        ));
        assert!(matches!(
            ns.set("k", &vec![0; MAX_VALUE_BYTES + 1]),
            Err(StoreError::Full(_))
        ));
        let value = vec![7; MAX_VALUE_BYTES];
        let fits = MAX_NAMESPACE_BYTES / (MAX_VALUE_BYTES + 2);
        for i in 0..fits {
            ns.set(&format!("{i:02}"), &value).expect("fits");
        }
        // Overwriting an existing key replaces its bytes rather than adding to them.
        ns.set("00", &value).expect("overwrite fits");
        let error = ns.set("new", &value).expect_err("over the namespace limit");
        assert!(matches!(error, StoreError::Full(m) if m.contains("limit is 1048576")));
        assert_eq!(ns.used_bytes().expect("used"), fits * (MAX_VALUE_BYTES + 2));
    }

    #[test]
    fn the_count_follows_overwrites_deletes_and_refusals() {
        let tree = tree();
        let store = KeyValueStore::new(tree.clone());
        let ns = store.namespace("p");
        // Another namespace's bytes never count here.
        store.namespace("q").set("k", &[1; 100]).expect("set");
        let check = |what: &str| {
            assert_eq!(ns.used_bytes().expect("used"), truth(&tree, "p"), "{what}");
        };
        ns.set("a", b"12345").expect("set");
        check("a new key");
        ns.set("a", b"1").expect("set");
        check("a shorter overwrite");
        ns.set("a", &[9; 1000]).expect("set");
        check("a longer overwrite");
        ns.set("b", b"").expect("set");
        check("an empty value");
        ns.delete("a").expect("delete");
        check("a delete");
        ns.delete("a").expect("delete");
        ns.delete("never-there").expect("delete");
        check("deletes of missing keys");
        ns.set("b", &[0; MAX_VALUE_BYTES + 1])
            .expect_err("too large");
        check("a refused value");
        assert_eq!(
            truth(&tree, "p"),
            1,
            "only `b` and its empty value are left"
        );
        // A second handle on the same namespace (another call) shares the count.
        let again = store.namespace("p");
        again.set("c", b"xyz").expect("set");
        check("a write through another handle");
        assert_eq!(again.used_bytes().expect("used"), 5);
    }

    #[test]
    fn the_limit_holds_exactly_under_concurrent_writers() {
        let tree = tree();
        let store = KeyValueStore::new(tree.clone());
        let value = vec![1; 1000];
        // 8 threads each try 200 distinct keys of 1004 bytes: far more than fits.
        std::thread::scope(|scope| {
            for t in 0..8 {
                let ns = store.namespace("p");
                let value = &value;
                scope.spawn(move || {
                    for i in 0..200 {
                        let _ = ns.set(&format!("{t}{i:03}"), value);
                    }
                });
            }
        });
        let held = truth(&tree, "p");
        assert_eq!(store.namespace("p").used_bytes().expect("used"), held);
        assert!(held <= MAX_NAMESPACE_BYTES, "{held} bytes held");
        assert!(
            held > MAX_NAMESPACE_BYTES - 1004,
            "the namespace was filled: {held}"
        );
    }

    #[test]
    fn a_reopened_store_counts_what_is_on_disk() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let expected = {
            let db = sled::open(dir.path()).expect("sled");
            let tree = db.open_tree("kv").expect("tree");
            let ns = KeyValueStore::new(tree.clone()).namespace("p");
            for i in 0..100 {
                ns.set(&format!("k{i}"), &vec![3; i]).expect("set");
            }
            ns.delete("k7").expect("delete");
            ns.set("k8", b"shorter").expect("overwrite");
            db.flush().expect("flush");
            ns.used_bytes().expect("used")
        };
        // sled's flusher thread lets go of the file lock shortly after the drop.
        let mut tries = 0;
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                Err(_) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(error) => panic!("sled reopens: {error}"),
            }
        };
        let tree = db.open_tree("kv").expect("tree");
        assert_eq!(expected, truth(&tree, "p"));
        let ns = KeyValueStore::new(tree.clone()).namespace("p");
        assert_eq!(ns.used_bytes().expect("used"), expected);
        // Deleting before anything counted the namespace leaves the count to the first use.
        let fresh = KeyValueStore::new(tree.clone()).namespace("p");
        fresh.delete("k9").expect("delete");
        assert_eq!(fresh.used_bytes().expect("used"), truth(&tree, "p"));
    }
}
