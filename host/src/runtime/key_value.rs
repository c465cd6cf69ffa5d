//! The host side of the `key-value` import: one namespace per provider instance in a sled
//! tree, so a plugin can keep a token or a cursor across calls (every call gets a fresh
//! instance) and across restarts. Sizes are capped so a plugin cannot fill the host's disk.

use super::bindings::carbonaut::provider::key_value::{self, StoreError};
use super::store::HostState;

/// Keys are names, not data.
pub const MAX_KEY_BYTES: usize = 256;
/// A token or a cursor fits with room to spare; a cache of API responses does not.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Keys plus values of one namespace. Two concurrent calls may overshoot it by one value.
pub const MAX_NAMESPACE_BYTES: usize = 1 << 20;

/// The store as seen by one provider instance: keys prefixed by its name and a NUL byte.
#[derive(Clone)]
pub struct Namespace {
    tree: sled::Tree,
    prefix: Vec<u8>,
}

impl Namespace {
    pub fn new(tree: sled::Tree, provider: &str) -> Self {
        let mut prefix = provider.as_bytes().to_vec();
        prefix.push(0);
        Namespace { tree, prefix }
    }

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
        let mut used = 0;
        for entry in self.tree.scan_prefix(&self.prefix) {
            let (k, v) = entry.map_err(failed)?;
            if k != full {
                used += k.len() - self.prefix.len() + v.len();
            }
        }
        let after = used + key.len() + value.len();
        if after > MAX_NAMESPACE_BYTES {
            return Err(StoreError::Full(format!(
                "the namespace would hold {after} bytes; the limit is {MAX_NAMESPACE_BYTES}"
            )));
        }
        self.tree.insert(full, value).map_err(failed)?;
        Ok(())
    }

    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full = self.key(key)?;
        self.tree.remove(full).map_err(failed)?;
        Ok(())
    }

    /// Bytes of keys and values held, for the API.
    pub fn used_bytes(&self) -> usize {
        self.tree
            .scan_prefix(&self.prefix)
            .filter_map(Result::ok)
            .map(|(k, v)| k.len() - self.prefix.len() + v.len())
            .sum()
    }
}

fn failed(error: sled::Error) -> StoreError {
    StoreError::Failed(error.to_string())
}

impl key_value::Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.key_value()?.get(&key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), StoreError> {
        self.key_value()?.set(&key, &value)
    }

    fn delete(&mut self, key: String) -> Result<(), StoreError> {
        self.key_value()?.delete(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        db.open_tree("kv").expect("tree")
    }

    #[test]
    fn namespaces_do_not_see_each_other() {
        let tree = tree();
        let a = Namespace::new(tree.clone(), "a");
        let ab = Namespace::new(tree, "a\0b");
        a.set("token", b"1").expect("set");
        assert_eq!(a.get("token").expect("get"), Some(b"1".to_vec()));
        assert_eq!(ab.get("token").expect("get"), None);
        a.delete("token").expect("delete");
        assert_eq!(a.get("token").expect("get"), None);
    }

    #[test]
    fn sizes_are_capped_and_overwrites_do_not_count_twice() {
        let ns = Namespace::new(tree(), "p");
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
        assert_eq!(ns.used_bytes(), fits * (MAX_VALUE_BYTES + 2));
    }
}
