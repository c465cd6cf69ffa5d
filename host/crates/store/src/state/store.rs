//! sled persistence of the topology, the counters and what removed resources used. Topology
//! changes of one account are one transaction (with the counters they retire or restore);
//! counters of one collection are one transaction with its history; both are flushed before
//! returning, so what a caller was told is stored survives a crash. Keys are length-prefixed (`keys`), values JSON,
//! except the counters: a few binary chunks per account (`chunks`), so a save writes a few
//! hundred values rather than one per resource.
//! A record that cannot be read is moved to the `quarantine` tree, logged and skipped: one bad
//! record never stops a start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::chunks;
use super::counters::Counters;
use super::departed::{ArchiveKey, Departed, Expiry, Retired, Totals};
use super::keys;
use super::topology::{
    AccountNode, AccountSync, ProjectNode, ResourceId, ResourceRecord, Topology,
};

/// The layout version of the state directory. Bump it when a stored type changes shape, and
/// migrate the older versions in `migrate`. 2: length-prefixed keys and resource ids, retired
/// counters and archived totals. 3: counters in chunks per account (`chunks`).
pub const SCHEMA_VERSION: u32 = 3;
pub(super) const SCHEMA_KEY: &[u8] = b"schema_version";
/// sled caches pages in memory; its 1 GiB default would dwarf the rest of the host. Reads are
/// rare (the load at start, a history pack once an hour); 4 MiB instead of 16 came with
/// 77.0 MiB resident instead of 87.5 at 10 000 resources, in runs on different machine loads
/// (BENCHMARKS.md, "Footprint", runs A and B). The bound holds only with the patched sled in
/// `host/vendor/sled` (its PATCHED.md): stock 0.34.7 splits the cache into 256 shards that
/// each keep up to 64 recently written pages whatever the capacity, which let memory grow
/// with the history for days.
const CACHE_BYTES: u64 = 4 << 20;
/// Encoded bytes of new or changed resource records per piece of a sync stored ahead of its
/// transaction ([`StateStore::apply_sync`]). Small next to the records of a large account
/// (50 000 resources with 20 labels of 200 characters are 230 MB of JSON), large enough that a
/// first sync of 10 000 small records is a few pieces.
const PIECE_BYTES: usize = 4 << 20;
/// Where the counters live since schema version 3 (`counters` held one value per resource).
pub(super) const COUNTER_TREE: &str = "counter-chunks";

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
    #[error("a collection's history and counters (one transaction) cannot be written: {source}")]
    Collection { source: sled::Error },
    #[error("state record {key} cannot be read: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
    #[error("state record cannot be written: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("sled's log file in {dir} cannot be opened or fsynced: {source}")]
    Sync {
        dir: PathBuf,
        source: std::io::Error,
    },
}

pub struct StateStore {
    /// Where it lives, for error messages.
    dir: PathBuf,
    db: sled::Db,
    /// sled's log file, opened again only to fsync it (see [`StateStore::durable`]).
    log_file: std::fs::File,
    accounts: sled::Tree,
    projects: sled::Tree,
    resources: sled::Tree,
    /// Account and chunk → the counters of its resources in that chunk (`chunks`).
    counters: sled::Tree,
    /// Resource id → [`Retired`]: counters of removed resources, waiting for their return.
    retired: sled::Tree,
    /// Encoded (account[, project]) → [`Totals`] of resources gone for good.
    archive: sled::Tree,
    /// Records that could not be read, kept (not deleted) for an operator to look at.
    quarantine: sled::Tree,
    /// Plugin name → "disabled", for plugins an operator disabled through the API.
    plugins: sled::Tree,
}

/// One account's sync, encoded ([`StateStore::sync_write`]): keys and values to write, keys
/// to remove.
#[derive(Default)]
pub struct SyncWrite {
    account: (Vec<u8>, Vec<u8>),
    projects: Vec<(Vec<u8>, Vec<u8>)>,
    resources: Vec<(Vec<u8>, Vec<u8>)>,
    removed_projects: Vec<Vec<u8>>,
    removed_resources: Vec<Vec<u8>>,
    retired: Vec<(Vec<u8>, Vec<u8>)>,
    restored: Vec<Vec<u8>>,
    counters: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Encoded counters of some accounts, ready to write ([`StateStore::counter_batch`]).
pub struct CounterBatch(sled::Batch);

/// Records set aside while loading, for the log and `carbonaut_state_quarantined_records`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    pub quarantined: usize,
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
            Some(found) if found.as_ref() == b"1" => {
                super::migrate::from_v1(&db, dir)?;
                super::migrate::from_v2(&db, dir)?;
            }
            Some(found) if found.as_ref() == b"2" => super::migrate::from_v2(&db, dir)?,
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
            counters: db.open_tree(COUNTER_TREE)?,
            retired: db.open_tree("retired")?,
            archive: db.open_tree("archive")?,
            quarantine: db.open_tree("quarantine")?,
            plugins: db.open_tree("plugins")?,
            log_file: std::fs::File::open(dir.join("db")).map_err(|source| StateError::Sync {
                dir: dir.to_owned(),
                source,
            })?,
            dir: dir.to_owned(),
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

    /// The tree of the latest intensity forecasts (`crate::forecasts`).
    pub fn forecast_tree(&self) -> Result<sled::Tree, StateError> {
        Ok(self.db.open_tree("forecasts")?)
    }

    /// The tree of the history rollups (`crate::history`), flushed with the counters.
    pub fn history_tree(&self) -> Result<sled::Tree, StateError> {
        Ok(self.db.open_tree("history")?)
    }

    /// The whole topology as last stored; unreadable records are quarantined.
    pub fn load_topology(&self) -> Result<(Topology, LoadReport), StateError> {
        let mut topology = Topology::default();
        let mut report = LoadReport::default();
        for (key, node) in self.read_all::<AccountNode>(&self.accounts, &mut report)? {
            if keys::decode(&key).as_deref() == Some(std::slice::from_ref(&node.name)) {
                topology.accounts.insert(node.name.clone(), node);
            } else {
                self.set_aside(
                    &self.accounts,
                    &key,
                    "key does not match the account name",
                    &mut report,
                )?;
            }
        }
        for (key, project) in self.read_all::<ProjectNode>(&self.projects, &mut report)? {
            let placed = match keys::decode(&key).as_deref() {
                Some([account, pid]) if *pid == project.project.id => topology
                    .accounts
                    .get_mut(account)
                    .map(|a| a.projects.insert(pid.clone(), project))
                    .is_some(),
                _ => false,
            };
            if !placed {
                self.set_aside(
                    &self.projects,
                    &key,
                    "no account or project for this key",
                    &mut report,
                )?;
            }
        }
        for (key, record) in self.read_all::<ResourceRecord>(&self.resources, &mut report)? {
            let placed = match keys::decode(&key).as_deref() {
                Some([account, project, rid])
                    if *rid == record.info.id
                        && record.id == ResourceId::new(account, project, rid) =>
                {
                    topology
                        .accounts
                        .get_mut(account)
                        .and_then(|a| a.projects.get_mut(project))
                        .map(|p| {
                            // Unchanged records are not rewritten (see ResourceRecord).
                            let mut record = record;
                            record.last_seen_ms = record.last_seen_ms.max(p.last_seen_ms);
                            p.resources.insert(rid.clone(), record)
                        })
                        .is_some()
                }
                _ => false,
            };
            if !placed {
                self.set_aside(
                    &self.resources,
                    &key,
                    "no project for this key, or its id does not match",
                    &mut report,
                )?;
            }
        }
        Ok((topology, report))
    }

    /// Every record of `tree` that decodes; the others are quarantined.
    fn read_all<T: DeserializeOwned + Checkable>(
        &self,
        tree: &sled::Tree,
        report: &mut LoadReport,
    ) -> Result<Vec<(sled::IVec, T)>, StateError> {
        let mut out = Vec::new();
        for item in tree.iter() {
            let (key, value) = item?;
            match decode::<T>(&key, &value) {
                Ok(v) if v.is_sound() => out.push((key, v)),
                Ok(_) => {
                    self.set_aside(tree, &key, "a number is not finite or negative", report)?
                }
                Err(error) => self.set_aside(tree, &key, &error.to_string(), report)?,
            }
        }
        Ok(out)
    }

    /// Moves one record from `tree` to the quarantine, with why.
    fn set_aside(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        why: &str,
        report: &mut LoadReport,
    ) -> Result<(), StateError> {
        let tree_name = String::from_utf8_lossy(&tree.name()).into_owned();
        let shown = keys::decode(key)
            .map(|parts| parts.join("/"))
            .unwrap_or_else(|| hex::encode(key));
        tracing::error!(tree = %tree_name, key = %carbonaut_model::text::escape(&shown, 200), reason = %why, "a state record cannot be read; it is moved to the quarantine tree and skipped");
        if let Some(value) = tree.remove(key)? {
            let record = serde_json::json!({
                "tree": tree_name,
                "key": hex::encode(key),
                "reason": why,
                "value": String::from_utf8_lossy(&value),
            });
            self.quarantine.insert(
                keys::encode(&[&tree_name, &hex::encode(key)]),
                serde_json::to_vec(&record)?,
            )?;
        }
        report.quarantined += 1;
        Ok(())
    }

    /// How many records sit in the quarantine (from this start and earlier ones).
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    /// Writes one account's sync: first its new or changed records in pieces of about
    /// [`PIECE_BYTES`] ([`StateStore::write_ahead`]), then one transaction with the removal of
    /// what disappeared, the retirement of removed resources' counters (`retire`), the return of
    /// counters to resources that came back (`restore`, with their records), and the account's
    /// counters as they are after both (`counters`: they replace what is stored for the
    /// account); then a flush.
    ///
    /// Why pieces: an account's records written in one go were all held at once, encoded
    /// (`serde_json::to_vec` leaves up to twice a record's size allocated) and again in sled's
    /// transaction, whose single epoch guard also kept every tree node it replaced until the
    /// end. heaptrack, one account of 50 000 resources with 20 labels of 200 characters: 2.50
    /// GB peak heap, of which 410 MB the encoded records and over 1 GB the transaction's commit
    /// (BENCHMARKS.md, "Serving while busy"). In pieces, one piece is encoded and pinned at a
    /// time, whatever the account's size. Why ahead of the transaction is safe: after a crash
    /// between them, a stored record without counters is a resource discovered and not yet
    /// sampled, which the next sync keeps or removes like any other; what moves counters
    /// (retired, restored, the account's counters) stays in one transaction.
    pub fn apply_sync<'a>(
        &self,
        sync: &AccountSync,
        retire: &[(ResourceId, Retired)],
        restore: &[(ResourceId, Counters)],
        counters: impl IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
    ) -> Result<(), StateError> {
        self.write_ahead(sync, restore)?;
        self.write_sync(Self::sync_write(sync, retire, restore, counters)?)
    }

    /// Stores the account's node, its projects' nodes and its new or changed resource records
    /// but those that came back (`restore`: the transaction writes them with their counters),
    /// a piece at a time, each encoded just before it is written. Not flushed: the
    /// transaction's flush after it covers them.
    fn write_ahead(
        &self,
        sync: &AccountSync,
        restore: &[(ResourceId, Counters)],
    ) -> Result<(), StateError> {
        let account = &sync.node.name;
        // Parents first, so no record is stored before its project.
        self.accounts
            .insert(keys::encode(&[account]), serde_json::to_vec(&sync.node)?)?;
        let mut projects = sled::Batch::default();
        for (pid, project) in &sync.node.projects {
            projects.insert(keys::encode(&[account, pid]), serde_json::to_vec(project)?);
        }
        self.projects.apply_batch(projects)?;
        let returned: std::collections::HashSet<&ResourceId> =
            restore.iter().map(|(id, _)| id).collect();
        let mut piece = sled::Batch::default();
        let mut bytes = 0;
        for record in changed_records(sync).filter(|(_, r)| !returned.contains(&r.id)) {
            let (pid, record) = record;
            let value = serde_json::to_vec(record)?;
            bytes += value.len();
            piece.insert(keys::encode(&[account, pid, &record.info.id]), value);
            if bytes >= PIECE_BYTES {
                self.resources.apply_batch(std::mem::take(&mut piece))?;
                bytes = 0;
            }
        }
        self.resources.apply_batch(piece)?;
        Ok(())
    }

    /// What [`StateStore::apply_sync`] writes in its transaction, encoded and owned, built
    /// without touching the store.
    pub fn sync_write<'a>(
        sync: &AccountSync,
        retire: &[(ResourceId, Retired)],
        restore: &[(ResourceId, Counters)],
        counters: impl IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
    ) -> Result<SyncWrite, StateError> {
        let account = &sync.node.name;
        let mut write = SyncWrite {
            account: (keys::encode(&[account]), serde_json::to_vec(&sync.node)?),
            ..SyncWrite::default()
        };
        for (pid, project) in &sync.node.projects {
            write
                .projects
                .push((keys::encode(&[account, pid]), serde_json::to_vec(project)?));
        }
        // The other new or changed records are written ahead ([`StateStore::apply_sync`]).
        let returned: std::collections::HashSet<&ResourceId> =
            restore.iter().map(|(id, _)| id).collect();
        for (pid, record) in changed_records(sync).filter(|(_, r)| returned.contains(&r.id)) {
            write.resources.push((
                keys::encode(&[account, pid, &record.info.id]),
                serde_json::to_vec(record)?,
            ));
        }
        for (id, record) in retire {
            if sound_counters(&record.counters) {
                write
                    .retired
                    .push((id.0.as_bytes().to_vec(), serde_json::to_vec(record)?));
            }
        }
        write.restored = restore
            .iter()
            .map(|(id, _)| id.0.as_bytes().to_vec())
            .collect();
        write.removed_projects = sync
            .removed_projects
            .iter()
            .map(|pid| keys::encode(&[account, pid]))
            .collect();
        write.removed_resources = sync
            .removed_resources
            .iter()
            .map(|(pid, rid, _)| keys::encode(&[account, pid, rid]))
            .collect();
        write.counters = chunks::account_writes(account, sound_only(counters));
        Ok(write)
    }

    /// Writes one account's sync ([`StateStore::sync_write`]) in a single transaction, then
    /// flushes.
    pub fn write_sync(&self, write: SyncWrite) -> Result<(), StateError> {
        let result = (
            &self.accounts,
            &self.projects,
            &self.resources,
            &self.counters,
            &self.retired,
        )
            .transaction(|(accounts, projects, resources, counters, retired)| {
                accounts.insert(write.account.0.as_slice(), write.account.1.as_slice())?;
                for k in &write.removed_projects {
                    projects.remove(k.as_slice())?;
                }
                for k in &write.removed_resources {
                    resources.remove(k.as_slice())?;
                }
                for (k, v) in &write.retired {
                    retired.insert(k.as_slice(), v.as_slice())?;
                }
                for k in &write.restored {
                    retired.remove(k.as_slice())?;
                }
                for (k, v) in &write.counters {
                    match v {
                        Some(v) => counters.insert(k.as_slice(), v.as_slice())?,
                        None => counters.remove(k.as_slice())?,
                    };
                }
                for (k, v) in &write.projects {
                    projects.insert(k.as_slice(), v.as_slice())?;
                }
                for (k, v) in &write.resources {
                    resources.insert(k.as_slice(), v.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
            });
        committed(result)?;
        self.durable()?;
        Ok(())
    }

    /// Retired records and archived totals as last stored; unreadable ones are quarantined.
    pub fn load_departed(&self, report: &mut LoadReport) -> Result<Departed, StateError> {
        let mut departed = Departed::default();
        for (key, record) in self.read_all::<Retired>(&self.retired, report)? {
            departed
                .retired
                .insert(ResourceId(String::from_utf8_lossy(&key).into()), record);
        }
        for (key, totals) in self.read_all::<Totals>(&self.archive, report)? {
            match keys::decode(&key).as_deref() {
                Some([account]) => {
                    departed.archive.insert((account.clone(), None), totals);
                }
                Some([account, project]) => {
                    departed
                        .archive
                        .insert((account.clone(), Some(project.clone())), totals);
                }
                _ => self.set_aside(
                    &self.archive,
                    &key,
                    "key is not an account or a project",
                    report,
                )?,
            }
        }
        Ok(departed)
    }

    /// Applies one step of the retention pass in a single transaction.
    pub fn apply_expiry(&self, expiry: &Expiry) -> Result<(), StateError> {
        let archive_key = |(account, project): &ArchiveKey| match project {
            Some(p) => keys::encode(&[account, p]),
            None => keys::encode(&[account]),
        };
        let mut values = Vec::new();
        for (key, totals) in &expiry.archive {
            values.push((archive_key(key), serde_json::to_vec(totals)?));
        }
        let result = (&self.retired, &self.archive).transaction(|(retired, archive)| {
            for id in &expiry.expired {
                retired.remove(id.0.as_bytes())?;
            }
            for key in &expiry.folded {
                archive.remove(archive_key(key))?;
            }
            for (k, v) in &values {
                archive.insert(k.as_slice(), v.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
        });
        committed(result)?;
        self.durable()?;
        Ok(())
    }

    /// Removes an account that is no longer configured, with everything below it and what
    /// its removed resources used.
    pub fn remove_account(&self, node: &AccountNode) -> Result<(), StateError> {
        let mut projects = sled::Batch::default();
        let mut resources = sled::Batch::default();
        let mut counters = sled::Batch::default();
        for item in self.counters.scan_prefix(keys::encode(&[&node.name])) {
            counters.remove(item?.0);
        }
        for (pid, project) in &node.projects {
            projects.remove(keys::encode(&[&node.name, pid]));
            for rid in project.resources.keys() {
                resources.remove(keys::encode(&[&node.name, pid, rid]));
            }
        }
        let mut retired = sled::Batch::default();
        for item in self.retired.iter() {
            let (key, value) = item?;
            if decode::<Retired>(&key, &value).is_ok_and(|r| r.account == node.name) {
                retired.remove(key);
            }
        }
        let mut archive = sled::Batch::default();
        for item in self.archive.scan_prefix(keys::encode(&[&node.name])) {
            archive.remove(item?.0);
        }
        self.counters.apply_batch(counters)?;
        self.retired.apply_batch(retired)?;
        self.archive.apply_batch(archive)?;
        self.resources.apply_batch(resources)?;
        self.projects.apply_batch(projects)?;
        self.accounts.remove(keys::encode(&[&node.name]))?;
        self.durable()?;
        Ok(())
    }

    /// Every resource's counters; an unreadable chunk, or an unsound entry in one, is
    /// quarantined and the rest loads.
    pub fn load_counters(
        &self,
        report: &mut LoadReport,
    ) -> Result<HashMap<ResourceId, Counters>, StateError> {
        let mut out = HashMap::new();
        for item in self.counters.iter() {
            let (key, value) = item?;
            if chunks::parse_key(&key).is_none() {
                self.set_aside(&self.counters, &key, "not an account chunk key", report)?;
                continue;
            }
            let entries = match chunks::decode(&value) {
                Ok(entries) => entries,
                Err(error) => {
                    self.set_aside(&self.counters, &key, &error.to_string(), report)?;
                    continue;
                }
            };
            for (id, counters) in entries {
                if sound_counters(&counters) {
                    out.insert(id, counters);
                } else {
                    self.quarantine_entry(&key, &id, &counters, report)?;
                }
            }
        }
        Ok(out)
    }

    /// Keeps one unsound entry of a chunk in the quarantine; the chunk itself stays (its other
    /// entries are good) and the entry is dropped from it at the account's next save.
    fn quarantine_entry(
        &self,
        chunk: &[u8],
        id: &ResourceId,
        counters: &Counters,
        report: &mut LoadReport,
    ) -> Result<(), StateError> {
        let shown = keys::decode(chunk)
            .map(|parts| parts.join("/"))
            .unwrap_or_else(|| hex::encode(chunk));
        let why = "a number is not finite or negative";
        tracing::error!(chunk = %carbonaut_model::text::escape(&shown, 200), resource = %id, reason = %why, "stored counters cannot be believed; they are set aside in the quarantine tree and skipped");
        let record = serde_json::json!({
            "tree": COUNTER_TREE,
            "key": hex::encode(chunk),
            "resource": id.0,
            "reason": why,
            "value": format!("{counters:?}"),
        });
        self.quarantine.insert(
            keys::encode(&[COUNTER_TREE, &hex::encode(chunk), &id.0]),
            serde_json::to_vec(&record)?,
        )?;
        report.quarantined += 1;
        Ok(())
    }

    /// Stores the counters of the given accounts in one batch, each account's set replacing
    /// what was stored for it. A counter that is not finite is never written (the arithmetic
    /// refuses such deltas; this is the last line).
    pub fn save_counters<'a, C>(
        &self,
        accounts: impl IntoIterator<Item = (&'a str, C)>,
    ) -> Result<(), StateError>
    where
        C: IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
    {
        self.write_counters(Self::counter_batch(accounts))
    }

    /// The batch [`StateStore::save_counters`] writes, built without touching the store, so
    /// the encoding runs where the counters are and only the write goes to a blocking thread.
    pub fn counter_batch<'a, C>(accounts: impl IntoIterator<Item = (&'a str, C)>) -> CounterBatch
    where
        C: IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
    {
        let mut batch = sled::Batch::default();
        for (account, counters) in accounts {
            for (key, value) in chunks::account_writes(account, sound_only(counters)) {
                match value {
                    Some(v) => batch.insert(key, v),
                    None => batch.remove(key),
                }
            }
        }
        CounterBatch(batch)
    }

    /// Writes a [`CounterBatch`] and flushes the database.
    fn write_counters(&self, batch: CounterBatch) -> Result<(), StateError> {
        self.counters.apply_batch(batch.0)?;
        self.durable()?;
        Ok(())
    }

    /// Writes a collection's counters and, in the same transaction, `beside`'s batch to its
    /// tree of this database (the history's buckets); then flushes.
    ///
    /// Why one transaction: as two batches, a crash between them (or sled's background flush
    /// of the first) left the history ahead of the counters; the restarted host advanced the
    /// older counters over the same interval again and the history counted it twice. sled
    /// recovers a transaction whole or not at all. Its writes are staged in memory until the
    /// commit, like a batch's, so it holds no more than the two batches did.
    pub(crate) fn write_counters_beside(
        &self,
        beside: (&sled::Tree, &sled::Batch),
        batch: CounterBatch,
    ) -> Result<(), StateError> {
        let (tree, other) = beside;
        let result = (tree, &self.counters).transaction(|(tree, counters)| {
            tree.apply_batch(other)?;
            super::gate::fault::save_pause();
            counters.apply_batch(&batch.0)?;
            Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(source)) => {
                return Err(StateError::Collection { source });
            }
            Err(TransactionError::Abort(never)) => match never {},
        }
        self.durable()
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
        self.durable()?;
        Ok(())
    }

    /// Opens `dir` again after another [`StateStore`] on it was dropped: sled's background
    /// flusher may hold the directory's lock for up to its period after the drop.
    pub fn reopen(dir: &Path) -> Result<Self, StateError> {
        let mut tries = 0;
        loop {
            match StateStore::open(dir) {
                Err(StateError::Open { .. }) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Flushes sled and fsyncs its log file. sled's own flush ends with `sync_file_range` on
    /// Linux, which writes the pages but not the file's metadata: after a disk or kernel
    /// failure (an ext4 shutdown here), counters a flush had returned for were gone while the
    /// topology written earlier was there. fsync works on the inode, so our own read-only
    /// handle on sled's file makes what sled wrote durable, metadata included.
    fn durable(&self) -> Result<(), StateError> {
        self.db.flush()?;
        self.log_file.sync_all().map_err(|source| StateError::Sync {
            dir: self.dir.clone(),
            source,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn flush(&self) -> Result<(), StateError> {
        self.durable()?;
        Ok(())
    }
}

/// The new or changed records of `sync` ([`AccountSync::changed_resources`]), with their
/// project's id.
fn changed_records(sync: &AccountSync) -> impl Iterator<Item = (&String, &ResourceRecord)> {
    sync.changed_resources.iter().filter_map(|(pid, rid)| {
        let (pid, project) = sync.node.projects.get_key_value(pid)?;
        Some((pid, project.resources.get(rid)?))
    })
}

/// A transaction that cannot abort either committed or hit a storage error.
pub(super) fn committed(
    result: Result<(), TransactionError<std::convert::Infallible>>,
) -> Result<(), StateError> {
    match result {
        Ok(()) => Ok(()),
        Err(TransactionError::Storage(e)) => Err(e.into()),
        Err(TransactionError::Abort(never)) => match never {},
    }
}

/// Stored values whose numbers must be finite and not negative to be believed.
pub(super) trait Checkable {
    fn is_sound(&self) -> bool {
        true
    }
}

impl Checkable for AccountNode {}
impl Checkable for ProjectNode {}
impl Checkable for ResourceRecord {}
impl Checkable for Counters {
    fn is_sound(&self) -> bool {
        sound_counters(self)
    }
}
impl Checkable for Retired {
    fn is_sound(&self) -> bool {
        sound_counters(&self.counters)
    }
}
impl Checkable for Totals {}

/// `counters` without those that must not be written, each logged.
fn sound_only<'a>(
    counters: impl IntoIterator<Item = (&'a ResourceId, &'a Counters)>,
) -> impl Iterator<Item = (&'a ResourceId, &'a Counters)> {
    counters.into_iter().filter(|(id, c)| {
        let sound = sound_counters(c);
        if !sound {
            tracing::error!(resource = %id, counters = ?c, "refusing to store counters that are not finite");
        }
        sound
    })
}

pub(super) fn sound_counters(c: &Counters) -> bool {
    [
        c.energy_joules_total,
        c.emissions_grams_total,
        c.unattributed_joules,
    ]
    .iter()
    .all(|v| v.is_finite() && *v >= 0.0)
}

pub(super) fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(value).map_err(|source| StateError::Corrupt {
        key: keys::decode(key)
            .map(|parts| parts.join("/"))
            .unwrap_or_else(|| String::from_utf8_lossy(key).into_owned()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sled_is_the_patched_copy_whose_cache_stays_bounded() {
        // A build against crates.io's sled (the [patch] dropped) fails here, before a
        // daemon's memory grows for days again (BENCHMARKS.md, "Over days").
        assert_eq!(sled::CARBONAUT_LRU_PATCH, (16, 8));
    }

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
            store
                .save_counters([("acme", [(&id, &counters)])])
                .expect("save");
            let loaded = store
                .load_counters(&mut LoadReport::default())
                .expect("load");
            assert_eq!(loaded[&id].energy_joules_total.to_bits(), value.to_bits());
            assert_eq!(
                loaded[&id].emissions_grams_total.to_bits(),
                (value * 7.0).to_bits()
            );
        }
    }

    fn record(account: &str, project: &str, rid: &str, id: ResourceId) -> ResourceRecord {
        use carbonaut_model::{ResourceInfo, ResourceKind};
        let _ = (account, project);
        ResourceRecord {
            id,
            info: std::sync::Arc::new(ResourceInfo {
                id: rid.into(),
                name: rid.into(),
                kind: ResourceKind::Vm,
                location: Default::default(),
                hardware: Default::default(),
                labels: vec![],
            }),
            first_seen_ms: 1,
            last_seen_ms: 2,
            provider: "cloud".into(),
        }
    }

    #[test]
    fn a_version_1_state_is_migrated_with_its_counters_even_with_nul_in_ids() {
        use carbonaut_model::Project;
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let db = sled::open(dir.path()).expect("sled");
            db.insert(SCHEMA_KEY, b"1".as_slice()).expect("schema");
            let accounts = db.open_tree("accounts").expect("t");
            let projects = db.open_tree("projects").expect("t");
            let resources = db.open_tree("resources").expect("t");
            let counters = db.open_tree("counters").expect("t");
            let node = AccountNode {
                name: "acme".into(),
                first_seen_ms: 1,
                last_seen_ms: 2,
                provider: "cloud".into(),
                projects: Default::default(),
            };
            accounts
                .insert("acme", serde_json::to_vec(&node).expect("json"))
                .expect("insert");
            // Project `N` with resource `x\0y`, and project `N\0x` with resource `y`: the same
            // v1 key, told apart by the ids inside the records.
            for (pid, rid, joules) in [("N", "x\0y", 10.0), ("N\0x", "y", 20.0)] {
                let project = ProjectNode {
                    project: Project {
                        id: pid.into(),
                        name: pid.into(),
                        labels: vec![],
                    },
                    first_seen_ms: 1,
                    last_seen_ms: 2,
                    provider: "cloud".into(),
                    resources: Default::default(),
                };
                projects
                    .insert(
                        format!("acme\0{pid}"),
                        serde_json::to_vec(&project).expect("json"),
                    )
                    .expect("insert");
                let old = ResourceId::v1("acme", pid, rid);
                let value =
                    serde_json::to_vec(&record("acme", pid, rid, old.clone())).expect("json");
                resources
                    .insert(format!("acme\0{pid}\0{rid}"), value)
                    .expect("insert");
                let c = Counters {
                    energy_joules_total: joules,
                    ..Counters::default()
                };
                counters
                    .insert(old.0.as_bytes(), serde_json::to_vec(&c).expect("json"))
                    .expect("insert");
            }
            db.flush().expect("flush");
        }
        let store = StateStore::reopen(dir.path()).expect("migrated");
        let (topology, mut report) = store.load_topology().expect("topology");
        let counters = store.load_counters(&mut report).expect("counters");
        let acme = &topology.accounts["acme"];
        // The v1 keys of the two resources were the same bytes, so one overwrote the other in
        // v1 already: what survives is one resource, with its own counter, under its new id.
        let mut found = Vec::new();
        for (pid, p) in &acme.projects {
            for (rid, r) in &p.resources {
                assert_eq!(r.id, ResourceId::new("acme", pid, rid));
                found.push((
                    pid.clone(),
                    rid.clone(),
                    counters[&r.id].energy_joules_total,
                ));
            }
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(acme.projects.len(), 2);
        assert!(found[0].2 == 10.0 || found[0].2 == 20.0);
        let id = ResourceId::new("acme", &found[0].0, &found[0].1);
        assert_eq!(
            counters[&id].energy_joules_total,
            if found[0].0 == "N" { 10.0 } else { 20.0 },
            "the counter followed its own resource"
        );
        drop(store);
        // Opening again is a no-op: already version 2.
        let store = StateStore::reopen(dir.path()).expect("reopen");
        let (again, _) = store.load_topology().expect("topology");
        assert_eq!(again, topology);
    }

    #[test]
    fn a_version_2_state_gets_its_counters_packed_per_account() {
        let dir = tempfile::tempdir().expect("temp dir");
        let kept = ResourceId::new("acme", "p", "vm-1");
        let kept_counters = Counters {
            energy_joules_total: 37.236000061035156,
            emissions_grams_total: 0.1 + 0.2,
            unattributed_joules: 0.0,
            last: Some(crate::state::LastReading {
                energy_joules: Some(1.0),
                power_watts: None,
                read_at_ms: 42,
            }),
            footprint: Default::default(),
        };
        {
            let db = sled::open(dir.path()).expect("sled");
            db.insert(SCHEMA_KEY, b"2".as_slice()).expect("schema");
            let resources = db.open_tree("resources").expect("t");
            let counters = db.open_tree("counters").expect("t");
            resources
                .insert(
                    keys::encode(&["acme", "p", "vm-1"]),
                    serde_json::to_vec(&record("acme", "p", "vm-1", kept.clone())).expect("json"),
                )
                .expect("insert");
            counters
                .insert(
                    kept.0.as_bytes(),
                    serde_json::to_vec(&kept_counters).expect("json"),
                )
                .expect("insert");
            // A counter of no stored resource, and one that does not decode.
            counters
                .insert(
                    "0000000000000000",
                    serde_json::to_vec(&kept_counters).expect("json"),
                )
                .expect("insert");
            counters
                .insert("ffffffffffffffff", b"{".as_slice())
                .expect("insert");
            db.flush().expect("flush");
        }
        let store = StateStore::reopen(dir.path()).expect("migrated");
        let mut report = LoadReport::default();
        let loaded = store.load_counters(&mut report).expect("counters");
        assert_eq!(report.quarantined, 0);
        assert_eq!(loaded.len(), 1, "{loaded:?}");
        assert_eq!(loaded[&kept], kept_counters);
        assert_eq!(store.quarantined(), 1, "the unreadable value is kept aside");
        assert!(
            !store
                .db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == b"counters"),
            "the old tree is gone"
        );
        drop(store);
        let store = StateStore::reopen(dir.path()).expect("reopen");
        assert_eq!(
            store
                .load_counters(&mut LoadReport::default())
                .expect("again")[&kept],
            kept_counters
        );
    }

    #[test]
    fn an_unreadable_record_is_quarantined_and_the_rest_loads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::open(dir.path()).expect("open");
        let good = Counters {
            energy_joules_total: 5.0,
            ..Counters::default()
        };
        let bad_id = ResourceId("1bad".into());
        let negative = Counters {
            energy_joules_total: -4.0,
            ..Counters::default()
        };
        store
            .save_counters([("acme", [(&ResourceId("0good".into()), &good)])])
            .expect("save");
        // What a damaged disk or an older bug could leave: an entry with a negative total
        // written past the checks, a chunk cut short, and a key that is not a chunk's.
        let mut raw = chunks::account_writes("acme", [(&bad_id, &negative)]);
        let (key, value) = raw.remove(1);
        store
            .counters
            .insert(key, value.expect("chunk 1"))
            .expect("insert");
        let (key, value) =
            chunks::account_writes("other", [(&ResourceId("2x".into()), &good)]).remove(2);
        let value = value.expect("chunk 2");
        store
            .counters
            .insert(key, &value[..value.len() - 3])
            .expect("insert");
        store
            .counters
            .insert("stray", b"{}".as_slice())
            .expect("insert");
        drop(store);
        let store = StateStore::reopen(dir.path()).expect("open");
        let mut report = LoadReport::default();
        let loaded = store
            .load_counters(&mut report)
            .expect("loads despite the bad record");
        assert_eq!(report.quarantined, 3);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[&ResourceId("0good".into())], good);
        assert_eq!(store.quarantined(), 3, "kept for an operator, not deleted");
        // Counters that are not finite are never written.
        let inf = Counters {
            energy_joules_total: f64::INFINITY,
            ..Counters::default()
        };
        store
            .save_counters([("acme", [(&ResourceId("inf".into()), &inf)])])
            .expect("save");
        let loaded = store
            .load_counters(&mut LoadReport::default())
            .expect("load");
        assert!(!loaded.contains_key(&ResourceId("inf".into())));
    }

    #[test]
    fn a_large_sync_is_stored_in_pieces_and_records_written_ahead_load_as_unsampled() {
        use crate::state::{Discovered, diff_account};
        use carbonaut_model::{Hardware, Location, Project, ResourceInfo, ResourceKind};
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::open(dir.path()).expect("open");
        let value = "v".repeat(200);
        // 20 labels of 200 characters: about 4.3 KB a record, so 1 500 records are two pieces.
        let discovered = |n: usize| Discovered {
            projects: vec![(
                Project {
                    id: "p".into(),
                    name: "p".into(),
                    labels: vec![],
                },
                Some(
                    (0..n)
                        .map(|i| ResourceInfo {
                            id: format!("vm-{i}"),
                            name: format!("vm {i}"),
                            kind: ResourceKind::Vm,
                            location: Location::default(),
                            hardware: Hardware::default(),
                            labels: (0..20).map(|k| (format!("k{k}"), value.clone())).collect(),
                        })
                        .collect(),
                ),
            )],
        };
        let acme = diff_account("acme", "cloud", None, discovered(1500), 10);
        let id = acme.node.projects["p"].resources["vm-7"].id.clone();
        let counters = Counters {
            energy_joules_total: 5.0,
            ..Counters::default()
        };
        store
            .apply_sync(&acme, &[], &[], [(&id, &counters)])
            .expect("stored");
        // A crash after the records written ahead of the transaction, before it.
        let globex = diff_account("globex", "cloud", None, discovered(10), 10);
        store.write_ahead(&globex, &[]).expect("written ahead");

        let (topology, report) = store.load_topology().expect("load");
        assert_eq!(report.quarantined, 0);
        assert!(topology.accounts["acme"] == acme.node, "acme as synced");
        assert_eq!(
            topology.accounts["globex"].projects["p"].resources.len(),
            10
        );
        let loaded = store.load_counters(&mut report.clone()).expect("counters");
        assert_eq!(
            loaded.len(),
            1,
            "only acme's counters: globex's resources are unsampled"
        );
        assert_eq!(loaded[&id].energy_joules_total, 5.0);
    }
}
