//! The rollups in sled: one tree (`history`) in the state database, read and written only
//! here. Buckets are written in one batch per collection; old ones are pruned a bounded number
//! of keys at a time, so pruning never pauses a collection for long. Resources' hourly
//! buckets are packed, one value per hour and chunk of resource ids (`bucket::encode_pack`);
//! `scan` unpacks them, so a report sees one bucket per resource.

use std::collections::BTreeMap;

use super::RESOURCE;
use super::ReportsConfig;
use super::bucket::{self, Bucket, PENDING_PREFIX, Tier, Unpriced};
use crate::state::ResourceId;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the history store failed: {0}")]
    Storage(#[from] sled::Error),
    #[error("history record {key} cannot be read")]
    Corrupt { key: String },
}

/// One chunk's resources and their unpriced energy, written as one value.
pub type PendingChunk<'a> = (&'static str, PendingEntries<'a>);
/// Resources and their unpriced energy by hour.
pub type PendingEntries<'a> = Vec<(&'a ResourceId, &'a [(u64, f64)])>;

/// A handle on the rollup tree; clones share it (the collector writes, the API reads).
#[derive(Clone)]
pub struct HistoryStore {
    tree: sled::Tree,
}

impl HistoryStore {
    pub fn new(tree: sled::Tree) -> Self {
        HistoryStore { tree }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Bucket>, HistoryError> {
        match self.tree.get(key)? {
            None => Ok(None),
            Some(v) => Bucket::decode(&v).map(Some).ok_or_else(|| corrupt(key)),
        }
    }

    /// The resources' buckets of one hour and chunk, as last written.
    pub fn resource_pack(
        &self,
        hour_ms: u64,
        chunk: &str,
    ) -> Result<Vec<(String, Bucket)>, HistoryError> {
        let key = bucket::key(Tier::Hourly, RESOURCE, hour_ms, &bucket::pack_group(chunk));
        match self.tree.get(&key)? {
            None => Ok(Vec::new()),
            Some(v) => bucket::decode_pack(&v).ok_or_else(|| corrupt(&key)),
        }
    }

    /// Writes `buckets`, the resources' `packs` (hour, chunk, encoded) and, per chunk, all the
    /// unpriced energy of its resources (`pending`; none: the chunk's value removed) in one
    /// batch. Not flushed. (A running daemon writes the batch with the counters instead, in
    /// one transaction: `HistoryWrite::apply_with_counters`.)
    pub fn write<'a>(
        &self,
        buckets: impl IntoIterator<Item = (&'a [u8], &'a Bucket)>,
        packs: impl IntoIterator<Item = (u64, &'a str, Vec<u8>)>,
        pending: impl IntoIterator<Item = PendingChunk<'a>>,
    ) -> Result<(), HistoryError> {
        self.apply(Self::batch(buckets, packs, pending))
    }

    /// The batch [`HistoryStore::write`] applies, built without touching the tree.
    pub fn batch<'a>(
        buckets: impl IntoIterator<Item = (&'a [u8], &'a Bucket)>,
        packs: impl IntoIterator<Item = (u64, &'a str, Vec<u8>)>,
        pending: impl IntoIterator<Item = PendingChunk<'a>>,
    ) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, b) in buckets {
            batch.insert(k, b.encode());
        }
        for (hour, chunk, value) in packs {
            let k = bucket::key(Tier::Hourly, RESOURCE, hour, &bucket::pack_group(chunk));
            batch.insert(k, value);
        }
        for (chunk, entries) in pending {
            write_pending(&mut batch, chunk, &entries);
        }
        batch
    }

    /// Applies a batch made by [`HistoryStore::batch`] (not flushed, as `write`).
    pub fn apply(&self, batch: sled::Batch) -> Result<(), HistoryError> {
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// The tree, for a transaction that writes it with the counters.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Every resource's unpriced energy, by hour. Values of the per-resource layout an
    /// earlier release wrote are rewritten as chunks (one batch) the first time.
    pub fn load_pending(&self) -> Result<Vec<(ResourceId, Unpriced)>, HistoryError> {
        let mut out = Vec::new();
        let mut legacy = Vec::new();
        for item in self.tree.scan_prefix([PENDING_PREFIX]) {
            let (k, v) = item?;
            if k.get(1) == Some(&PACK_MARK) {
                let entries = bucket::decode_pending_pack(&v).ok_or_else(|| corrupt(&k))?;
                out.extend(
                    entries
                        .into_iter()
                        .map(|(id, held)| (ResourceId(id.into()), held)),
                );
            } else {
                let id = String::from_utf8_lossy(&k[1..]).into_owned();
                out.push((ResourceId(id.into()), bucket::decode_pending(&v)));
                legacy.push(k);
            }
        }
        if !legacy.is_empty() {
            let mut chunks: BTreeMap<&'static str, PendingEntries<'_>> = BTreeMap::new();
            for (id, held) in &out {
                chunks
                    .entry(crate::state::chunk_of(&id.0))
                    .or_default()
                    .push((id, held.as_slice()));
            }
            let mut batch = sled::Batch::default();
            for k in legacy {
                batch.remove(k);
            }
            for (chunk, entries) in chunks {
                write_pending(&mut batch, chunk, &entries);
            }
            self.tree.apply_batch(batch)?;
        }
        Ok(out)
    }

    /// Buckets of one dimension whose start lies in `[from, to)`, in key order (time, then
    /// group).
    pub fn scan(
        &self,
        tier: Tier,
        dimension: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> impl Iterator<Item = Result<(u64, String, Bucket), HistoryError>> + use<> {
        let start = bucket::key(tier, dimension, from_ms, "");
        let end = bucket::key(tier, dimension, to_ms, "");
        let packed = tier == Tier::Hourly && dimension == RESOURCE;
        self.tree.range(start..end).flat_map(move |item| {
            let unpacked = || -> Result<Vec<(u64, String, Bucket)>, HistoryError> {
                let (k, v) = item?;
                let (_, _, start, group) = bucket::parse_key(&k).ok_or_else(|| corrupt(&k))?;
                if packed {
                    let entries = bucket::decode_pack(&v).ok_or_else(|| corrupt(&k))?;
                    return Ok(entries.into_iter().map(|(id, b)| (start, id, b)).collect());
                }
                let b = Bucket::decode(&v).ok_or_else(|| corrupt(&k))?;
                Ok(vec![(start, group.to_owned(), b)])
            };
            match unpacked() {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(error) => vec![Err(error)],
            }
        })
    }

    /// The start of the oldest bucket of a dimension, if it has any.
    pub fn oldest(&self, tier: Tier, dimension: &str) -> Result<Option<u64>, HistoryError> {
        let prefix = bucket::dimension_prefix(tier, dimension);
        match self.tree.scan_prefix(&prefix).keys().next() {
            None => Ok(None),
            Some(k) => {
                let k = k?;
                Ok(bucket::parse_key(&k).map(|(_, _, start, _)| start))
            }
        }
    }

    /// The dimensions that have buckets in `tier` (a few range seeks, one per dimension).
    pub fn dimensions(&self, tier: Tier) -> Result<Vec<String>, HistoryError> {
        let mut out = Vec::new();
        let mut cursor = vec![tier.byte()];
        let end = vec![tier.byte() + 1];
        while let Some(item) = self.tree.range(cursor.clone()..end.clone()).keys().next() {
            let k = item?;
            let Some((_, dimension, _, _)) = bucket::parse_key(&k) else {
                return Err(corrupt(&k));
            };
            out.push(dimension.to_owned());
            // NUL ends a dimension in the key, so `dimension + 0x01` is past all its keys and
            // before any longer dimension it is a prefix of.
            cursor = bucket::dimension_prefix(tier, dimension);
            if let Some(last) = cursor.last_mut() {
                *last = 1;
            }
        }
        Ok(out)
    }

    /// Removes at most `budget` buckets older than their tier's retention; returns how many.
    /// Called once per collection, so a backlog (retention shortened, a long stop) drains
    /// over a few collections instead of in one pause.
    pub fn prune_step(
        &self,
        now_ms: u64,
        settings: &ReportsConfig,
        budget: usize,
    ) -> Result<usize, HistoryError> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for tier in [Tier::Hourly, Tier::Daily] {
            for dimension in self.dimensions(tier)? {
                let keep = match (tier, dimension.as_str()) {
                    (Tier::Hourly, super::RESOURCE) => settings.resource_retention,
                    (Tier::Hourly, _) => settings.hourly_retention,
                    (Tier::Daily, _) => settings.daily_retention,
                };
                let cutoff = tier.start(now_ms.saturating_sub(keep.as_millis() as u64));
                let start = bucket::dimension_prefix(tier, &dimension);
                let end = bucket::key(tier, &dimension, cutoff, "");
                for k in self.tree.range(start..end).keys().take(budget - removed) {
                    batch.remove(k?);
                    removed += 1;
                }
                if removed >= budget {
                    break;
                }
            }
        }
        if removed > 0 {
            self.tree.apply_batch(batch)?;
        }
        Ok(removed)
    }

    /// Bytes of the tree's keys and values (what the README's size figures count).
    pub fn payload_bytes(&self) -> Result<(usize, u64), HistoryError> {
        let mut count = 0;
        let mut bytes = 0;
        for item in self.tree.iter() {
            let (k, v) = item?;
            count += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((count, bytes))
    }
}

/// One chunk's unpriced energy into `batch`: its value, or its removal when it holds none.
fn write_pending(batch: &mut sled::Batch, chunk: &str, entries: &PendingEntries<'_>) {
    let k = pending_key(chunk);
    if entries.is_empty() {
        batch.remove(k);
    } else {
        let entries = entries.iter().map(|(id, held)| (id.as_str(), *held));
        batch.insert(k, bucket::encode_pending_pack(entries));
    }
}

/// `p#` and the chunk: resource ids (hex) never start with `#`, so the per-resource keys of
/// earlier releases (`p` and the id) are told apart.
const PACK_MARK: u8 = b'#';

fn pending_key(chunk: &str) -> Vec<u8> {
    let mut k = vec![PENDING_PREFIX, PACK_MARK];
    k.extend_from_slice(chunk.as_bytes());
    k
}

fn corrupt(key: &[u8]) -> HistoryError {
    HistoryError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::bucket::{DAY_MS, HOUR_MS, key};

    fn store() -> (tempfile::TempDir, HistoryStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        let tree = db.open_tree("history").expect("tree");
        (dir, HistoryStore::new(tree))
    }

    fn one(joules: f64) -> Bucket {
        Bucket {
            energy_joules: joules,
            ..Bucket::default()
        }
    }

    #[test]
    fn pruning_removes_only_what_is_past_retention_a_step_at_a_time() {
        let (_dir, s) = store();
        let now = 400 * DAY_MS;
        let mut keys = Vec::new();
        for h in 0..48 {
            keys.push(key(Tier::Hourly, "account", now - h * HOUR_MS, "a"));
            keys.push(key(Tier::Hourly, "resource", now - h * HOUR_MS, "r"));
        }
        for d in 0..10 {
            keys.push(key(Tier::Daily, "account", now - d * DAY_MS, "a"));
        }
        let b = one(1.0);
        s.write(keys.iter().map(|k| (k.as_slice(), &b)), [], [])
            .expect("write");
        let settings = ReportsConfig {
            hourly_retention: std::time::Duration::from_secs(24 * 3600),
            resource_retention: std::time::Duration::from_secs(6 * 3600),
            daily_retention: std::time::Duration::from_secs(5 * 86_400),
            ..ReportsConfig::default()
        };
        // 23 hourly account buckets, 41 resource ones and 4 daily ones are too old: 68.
        let mut total = 0;
        loop {
            let n = s.prune_step(now, &settings, 10).expect("prune");
            assert!(n <= 10);
            total += n;
            if n == 0 {
                break;
            }
        }
        assert_eq!(total, 23 + 41 + 4);
        assert_eq!(
            s.oldest(Tier::Hourly, "account").expect("oldest"),
            Some(now - 24 * HOUR_MS)
        );
        assert_eq!(
            s.oldest(Tier::Hourly, "resource").expect("oldest"),
            Some(now - 6 * HOUR_MS)
        );
        assert_eq!(
            s.dimensions(Tier::Hourly).expect("dims"),
            ["account", "resource"]
        );
        let days: Vec<_> = s
            .scan(Tier::Daily, "account", 0, u64::MAX)
            .map(|r| r.expect("bucket").0)
            .collect();
        assert_eq!(days.len(), 6);
    }

    #[test]
    fn pending_energy_is_stored_per_chunk_and_removed() {
        let (_dir, s) = store();
        let (a, b) = (ResourceId("abc".into()), ResourceId("a12".into()));
        let held = vec![(HOUR_MS, 5.0), (2 * HOUR_MS, 0.1 + 0.2)];
        let other = vec![(HOUR_MS, 7.0)];
        let chunk = crate::state::chunk_of("abc");
        assert_eq!(chunk, crate::state::chunk_of("a12"));
        s.write(
            [],
            [],
            [(chunk, vec![(&a, held.as_slice()), (&b, other.as_slice())])],
        )
        .expect("write");
        let mut loaded = s.load_pending().expect("load");
        loaded.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(loaded, vec![(b.clone(), other), (a.clone(), held)]);
        assert_eq!(
            s.payload_bytes().expect("size").0,
            1,
            "one value for the chunk"
        );
        s.write([], [], [(chunk, vec![])]).expect("write");
        assert!(s.load_pending().expect("load").is_empty());
    }

    #[test]
    fn per_resource_pending_values_of_an_earlier_release_are_rewritten_as_chunks() {
        let (_dir, s) = store();
        let held = vec![(HOUR_MS, 5.0)];
        for id in ["abc", "a12", "0ff"] {
            let mut k = vec![PENDING_PREFIX];
            k.extend_from_slice(id.as_bytes());
            s.tree
                .insert(k, bucket::encode_pending(&held))
                .expect("insert");
        }
        let mut first = s.load_pending().expect("load");
        first.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(first.len(), 3);
        // Two chunks ("a" and "0"), no per-resource value left, and the same energy again.
        assert_eq!(s.payload_bytes().expect("size").0, 2);
        let mut again = s.load_pending().expect("load again");
        again.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(again, first);
    }
}
