//! sled persistence of the topology and the counters. Topology changes of one account are one
//! transaction; counters of one collection are one batch; both are flushed before returning,
//! so what a caller was told is stored survives a crash.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::counters::Counters;
use super::topology::{
    AccountNode, AccountSync, ProjectNode, ResourceId, ResourceRecord, Topology,
};

/// The layout version of the state directory. Bump it when a stored type changes shape.
pub const SCHEMA_VERSION: u32 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";
/// sled caches pages in memory; its 1 GiB default would dwarf the rest of the host.
const CACHE_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the state directory {dir}: {source}")]
    Open { dir: PathBuf, source: sled::Error },
    #[error(
        "the state directory {dir} has schema version {found}, but this carbonaut reads version \
         {SCHEMA_VERSION}; use the carbonaut release that wrote it, or point state_dir elsewhere"
    )]
    UnknownSchema { dir: PathBuf, found: String },
    #[error("state storage failed: {0}")]
    Storage(#[from] sled::Error),
    #[error("state record {key} cannot be read: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
    #[error("state record cannot be written: {0}")]
    Encode(#[from] serde_json::Error),
}

pub struct StateStore {
    db: sled::Db,
    accounts: sled::Tree,
    projects: sled::Tree,
    resources: sled::Tree,
    counters: sled::Tree,
    /// Plugin name → "disabled", for plugins an operator disabled through the API.
    plugins: sled::Tree,
}

impl StateStore {
    /// Opens (or creates) the state in `dir`, refusing a state of another schema version.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| StateError::Open {
                dir: dir.to_owned(),
                source,
            })?;
        match db.get(SCHEMA_KEY)? {
            None => {
                db.insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())?;
                db.flush()?;
            }
            Some(found) if found.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(found) => {
                return Err(StateError::UnknownSchema {
                    dir: dir.to_owned(),
                    found: String::from_utf8_lossy(&found).into_owned(),
                });
            }
        }
        Ok(StateStore {
            accounts: db.open_tree("accounts")?,
            projects: db.open_tree("projects")?,
            resources: db.open_tree("resources")?,
            counters: db.open_tree("counters")?,
            plugins: db.open_tree("plugins")?,
            db,
        })
    }

    /// The tree behind the plugins' key-value store (namespaced per provider instance by the
    /// runtime). Kept with the rest of the state so it survives restarts and is flushed with it.
    pub fn key_value_tree(&self) -> Result<sled::Tree, StateError> {
        Ok(self.db.open_tree("plugin-kv")?)
    }

    /// The tree where sharding notes when each account it does not own was first seen so
    /// (`cluster::handoff`).
    pub fn cluster_tree(&self) -> Result<sled::Tree, StateError> {
        Ok(self.db.open_tree("cluster")?)
    }

    /// The whole topology as last stored.
    pub fn load_topology(&self) -> Result<Topology, StateError> {
        let mut topology = Topology::default();
        for item in self.accounts.iter() {
            let (key, value) = item?;
            let node: AccountNode = decode(&key, &value)?;
            topology.accounts.insert(node.name.clone(), node);
        }
        for item in self.projects.iter() {
            let (key, value) = item?;
            let project: ProjectNode = decode(&key, &value)?;
            let account = split_key(&key).first().cloned().unwrap_or_default();
            if let Some(a) = topology.accounts.get_mut(&account) {
                a.projects.insert(project.project.id.clone(), project);
            }
        }
        for item in self.resources.iter() {
            let (key, value) = item?;
            let record: ResourceRecord = decode(&key, &value)?;
            let parts = split_key(&key);
            if let [account, project, _] = parts.as_slice()
                && let Some(p) = topology
                    .accounts
                    .get_mut(account)
                    .and_then(|a| a.projects.get_mut(project))
            {
                p.resources.insert(record.info.id.clone(), record);
            }
        }
        Ok(topology)
    }

    /// Writes one account's sync in a single transaction: the new nodes, and the removal of
    /// what disappeared (with the counters of removed resources).
    pub fn apply_sync(&self, sync: &AccountSync) -> Result<(), StateError> {
        let account = &sync.node.name;
        let account_value = serde_json::to_vec(&sync.node)?;
        let mut project_values = Vec::new();
        let mut resource_values = Vec::new();
        for (pid, project) in &sync.node.projects {
            project_values.push((key(&[account, pid]), serde_json::to_vec(project)?));
            for (rid, record) in &project.resources {
                resource_values.push((key(&[account, pid, rid]), serde_json::to_vec(record)?));
            }
        }
        let result = (
            &self.accounts,
            &self.projects,
            &self.resources,
            &self.counters,
        )
            .transaction(|(accounts, projects, resources, counters)| {
                accounts.insert(account.as_bytes(), account_value.as_slice())?;
                for pid in &sync.removed_projects {
                    projects.remove(key(&[account, pid]))?;
                }
                for (pid, rid, id) in &sync.removed_resources {
                    resources.remove(key(&[account, pid, rid]))?;
                    counters.remove(id.0.as_bytes())?;
                }
                for (k, v) in &project_values {
                    projects.insert(k.as_slice(), v.as_slice())?;
                }
                for (k, v) in &resource_values {
                    resources.insert(k.as_slice(), v.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
            });
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(never)) => match never {},
        }
        self.db.flush()?;
        Ok(())
    }

    /// Removes an account that is no longer configured, with everything below it.
    pub fn remove_account(&self, node: &AccountNode) -> Result<(), StateError> {
        let mut projects = sled::Batch::default();
        let mut resources = sled::Batch::default();
        let mut counters = sled::Batch::default();
        for (pid, project) in &node.projects {
            projects.remove(key(&[&node.name, pid]));
            for (rid, record) in &project.resources {
                resources.remove(key(&[&node.name, pid, rid]));
                counters.remove(record.id.0.as_bytes());
            }
        }
        self.counters.apply_batch(counters)?;
        self.resources.apply_batch(resources)?;
        self.projects.apply_batch(projects)?;
        self.accounts.remove(node.name.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    pub fn load_counters(&self) -> Result<HashMap<ResourceId, Counters>, StateError> {
        let mut out = HashMap::new();
        for item in self.counters.iter() {
            let (key, value) = item?;
            let counters: Counters = decode(&key, &value)?;
            out.insert(
                ResourceId(String::from_utf8_lossy(&key).into_owned()),
                counters,
            );
        }
        Ok(out)
    }

    /// Stores the counters of one collection atomically.
    pub fn save_counters<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
    ) -> Result<(), StateError> {
        let mut batch = sled::Batch::default();
        for (id, counters) in items {
            batch.insert(id.0.as_bytes(), serde_json::to_vec(counters)?);
        }
        self.counters.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    pub fn disabled_plugins(&self) -> Result<std::collections::BTreeSet<String>, StateError> {
        let mut out = std::collections::BTreeSet::new();
        for item in self.plugins.iter() {
            let (key, value) = item?;
            if value.as_ref() == b"disabled" {
                out.insert(String::from_utf8_lossy(&key).into_owned());
            }
        }
        Ok(out)
    }

    pub fn set_plugin_disabled(&self, name: &str, disabled: bool) -> Result<(), StateError> {
        if disabled {
            self.plugins
                .insert(name.as_bytes(), b"disabled".as_slice())?;
        } else {
            self.plugins.remove(name.as_bytes())?;
        }
        self.db.flush()?;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StateError> {
        self.db.flush()?;
        Ok(())
    }
}

fn key(parts: &[&str]) -> Vec<u8> {
    // NUL cannot occur in TOML names nor, in practice, in provider ids, so it separates.
    parts.join("\0").into_bytes()
}

fn split_key(key: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(key)
        .split('\0')
        .map(str::to_owned)
        .collect()
}

fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(value).map_err(|source| StateError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_a_round_trip_bit_for_bit() {
        // Regression: without serde_json's float_roundtrip, 37.236000061035156 came back one
        // ulp lower, so a counter went backwards across a restart.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::open(dir.path()).expect("open");
        let id = ResourceId("r".into());
        let mut counters = Counters::default();
        for value in [
            37.236000061035156,
            0.1 + 0.2,
            4.0e10 / 3.0,
            f64::MIN_POSITIVE,
        ] {
            counters.energy_joules_total = value;
            counters.emissions_grams_total = value * 7.0;
            store.save_counters([(&id, &counters)]).expect("save");
            let loaded = store.load_counters().expect("load");
            assert_eq!(loaded[&id].energy_joules_total.to_bits(), value.to_bits());
            assert_eq!(
                loaded[&id].emissions_grams_total.to_bits(),
                (value * 7.0).to_bits()
            );
        }
    }
}
