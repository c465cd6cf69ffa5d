//! The collector's side of the rollups: each advanced sample is split over the hours it
//! spans and added to its resource's bucket and to a staged bucket of its group (resources
//! with the same account, project, location and configured labels share one); once per
//! collection the staged buckets are added to the buckets of each of their dimensions, the
//! touched buckets are written in one transaction with the counters and a few old ones pruned.
//! Staging makes a sample one map update instead of one per dimension and tier. Buckets of the
//! current and previous hour (and day) stay in memory, so a collection reads nothing back from
//! sled.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::ReportsConfig;
use super::bucket::{self, Bucket, DAY_MS, HOUR_MS, Tier};
use super::store::{HistoryError, HistoryStore};
use super::{ACCOUNT, LOCATION, PROJECT};
use crate::state::{CounterBatch, ResourceId, StateError, StateStore, Topology};

/// Buckets pruned per collection at most (see [`HistoryStore::prune_step`]).
const PRUNE_BUDGET: usize = 2000;
/// Hours of unpriced energy remembered per resource; older hours merge into the next.
const MAX_PENDING_HOURS: usize = 24 * 14;
/// The group of resources without a configured label, and of values past the cap.
pub const UNSET_LABEL: &str = "(unset)";
pub const OTHER_LABEL: &str = "other";

/// One sample's advance of a resource's counters, as the collector computed it.
pub struct Advance<'a> {
    pub resource: &'a ResourceId,
    /// The grid location its emissions are computed with.
    pub location: Option<&'a str>,
    /// The resource-metrics provider instance that read it.
    pub provider: &'a str,
    /// The environment provider instance whose intensity priced it, if any.
    pub priced_by: Option<&'a str>,
    /// The previous sample's time (`None` for the first sample).
    pub previous_ms: Option<u64>,
    pub read_at_ms: u64,
    /// Energy the counters added.
    pub joules: f64,
    /// Emissions the counters added: this energy priced, plus any energy held unpriced
    /// before that the same intensity priced now.
    pub grams: f64,
    /// The intensity that priced it (g/kWh); `None` holds the energy unpriced.
    pub intensity: Option<f64>,
    pub estimated: bool,
}

/// Manufacturing emissions a resource's counters added, over `(from_ms, to_ms]`.
pub struct Embodied<'a> {
    pub resource: &'a ResourceId,
    /// The grid location its emissions are computed with.
    pub location: Option<&'a str>,
    /// When its embodied share was last counted (`None` the first time).
    pub from_ms: Option<u64>,
    pub to_ms: u64,
    pub grams: f64,
}

/// A resource's groups other than its location, from the topology.
#[derive(PartialEq, Eq, Hash)]
struct Groups {
    account: String,
    project: String,
    /// (dimension, value) per configured label key.
    labels: Vec<(String, String)>,
}

/// Where a sample's share of an hour is staged until [`Recorder::persist`]: the hour, the
/// resource's groups (an index into `Recorder::group_sets`) and its location (an index into
/// `Recorder::locations`).
type StageKey = (u64, u32, u32);

struct Cached {
    bucket: Bucket,
    dirty: bool,
}

/// The hourly buckets of the resources of one chunk, stored as one value.
#[derive(Default)]
struct Pack {
    /// Hashed, not ordered: looked up once per sample, and its order is not stored.
    buckets: HashMap<String, Bucket>,
    dirty: bool,
}

pub struct Recorder {
    store: HistoryStore,
    settings: ReportsConfig,
    indexed: Option<Arc<Topology>>,
    /// Resource → index into `group_sets`.
    groups: HashMap<ResourceId, u32>,
    /// Distinct group sets of the indexed topology.
    group_sets: Vec<Groups>,
    /// Location keys seen, by index; `location_ids` the other way.
    locations: Vec<String>,
    location_ids: HashMap<String, u32>,
    stage: HashMap<StageKey, Bucket>,
    cache: HashMap<Vec<u8>, Cached>,
    /// (hour, chunk) → the resources' buckets of that hour.
    packs: HashMap<(u64, &'static str), Pack>,
    pending: HashMap<ResourceId, Vec<(u64, f64)>>,
    pending_dirty: HashSet<ResourceId>,
}

impl Recorder {
    /// Starts recording into `store`, with the unpriced energy a previous run left there.
    pub fn new(store: HistoryStore, settings: ReportsConfig) -> Self {
        let pending = match store.load_pending() {
            Ok(p) => p.into_iter().collect(),
            Err(error) => {
                tracing::error!(%error, "reading unpriced energy from the history failed; its emissions will land in the hour they are priced");
                HashMap::new()
            }
        };
        Recorder {
            store,
            settings,
            indexed: None,
            groups: HashMap::new(),
            group_sets: Vec::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
            stage: HashMap::new(),
            cache: HashMap::new(),
            packs: HashMap::new(),
            pending,
            pending_dirty: HashSet::new(),
        }
    }

    /// Adds one advance to the buckets (in memory until [`Recorder::persist`]).
    pub fn record(
        &mut self,
        topology: &Arc<Topology>,
        settings: &ReportsConfig,
        advance: Advance<'_>,
    ) {
        self.refresh(topology, settings);
        let Some(&group) = self.groups.get(advance.resource) else {
            return;
        };
        let location = self.location_id(advance.location.unwrap_or("unknown"));
        let target = (group, location);
        let resource = advance.resource.as_str();
        let providers = [Some(advance.provider), advance.priced_by];

        let pieces = bucket::split_interval(advance.previous_ms, advance.read_at_ms);
        let grams_now = match advance.intensity {
            Some(i) => crate::state::emissions_grams(advance.joules, i),
            None => 0.0,
        };
        for piece in &pieces {
            let joules = advance.joules * piece.fraction;
            let mut b = Bucket {
                energy_joules: joules,
                resource_seconds: piece.seconds,
                hours: bucket::hour_bit(piece.hour_ms),
                ..Bucket::default()
            };
            if advance.estimated {
                b.estimated_joules = joules;
            }
            let priced = advance.intensity.is_some();
            match advance.intensity {
                Some(_) => {
                    b.emissions_grams = grams_now * piece.fraction;
                    b.priced_joules = joules;
                }
                None => {
                    let held = self.pending.entry(advance.resource.clone()).or_default();
                    bucket::hold_unpriced(held, piece.hour_ms, joules, MAX_PENDING_HOURS);
                    self.pending_dirty.insert(advance.resource.clone());
                }
            }
            // The environment provider only names the energy it priced.
            let named = if priced {
                &providers[..]
            } else {
                &providers[..1]
            };
            self.add(piece.hour_ms, target, resource, &b, named);
        }

        // What the counters added beyond this sample's own energy: energy held unpriced,
        // priced now. It lands in the hours that energy was used.
        let late = advance.grams - grams_now;
        if advance.intensity.is_some()
            && let Some(held) = self.pending.remove(advance.resource)
        {
            self.pending_dirty.insert(advance.resource.clone());
            for (hour, joules, grams) in bucket::spread_late_grams(&held, late) {
                let b = Bucket {
                    emissions_grams: grams,
                    priced_joules: joules,
                    ..Bucket::default()
                };
                self.add(hour, target, resource, &b, &[]);
            }
        } else if late != 0.0 {
            // Unpriced energy the history did not see held (it predates the history, or a
            // store error lost it): keep the counters' total, in the sample's hour.
            let hour = pieces.last().map_or(0, |p| p.hour_ms);
            let b = Bucket {
                emissions_grams: late,
                ..Bucket::default()
            };
            self.add(hour, target, resource, &b, &[]);
        }
    }

    /// Records a resource's share of its machine's manufacturing emissions in the hours of the
    /// interval it was counted over (in proportion to time, as its energy). No energy, time or
    /// provider: those come with its samples.
    pub fn record_embodied(
        &mut self,
        topology: &Arc<Topology>,
        settings: &ReportsConfig,
        embodied: Embodied<'_>,
    ) {
        let Embodied {
            resource,
            location,
            from_ms,
            to_ms,
            grams,
        } = embodied;
        if !(grams.is_finite() && grams > 0.0) {
            return;
        }
        self.refresh(topology, settings);
        let Some(&group) = self.groups.get(resource) else {
            return;
        };
        let target = (group, self.location_id(location.unwrap_or("unknown")));
        for piece in bucket::split_interval(from_ms, to_ms) {
            let b = Bucket {
                embodied_grams: grams * piece.fraction,
                ..Bucket::default()
            };
            self.add(piece.hour_ms, target, resource.as_str(), &b, &[]);
        }
    }

    fn location_id(&mut self, location: &str) -> u32 {
        if let Some(id) = self.location_ids.get(location) {
            return *id;
        }
        let id = self.locations.len() as u32;
        self.locations.push(location.to_owned());
        self.location_ids.insert(location.to_owned(), id);
        id
    }

    /// Adds `b` (and `providers`) to the resource's bucket and its group's staged one.
    fn add(
        &mut self,
        hour_ms: u64,
        (group, location): (u32, u32),
        resource: &str,
        b: &Bucket,
        providers: &[Option<&str>],
    ) {
        let staged = self.stage.entry((hour_ms, group, location)).or_default();
        staged.add(b);
        for p in providers.iter().flatten() {
            staged.add_provider(p);
        }
        self.add_to_pack(hour_ms, resource, b, providers);
    }

    /// Adds the staged buckets to every dimension of their group, hourly and daily.
    fn unstage(&mut self) {
        let stage = std::mem::take(&mut self.stage);
        for ((hour_ms, group, location), b) in &stage {
            let (Some(groups), Some(location)) = (
                self.group_sets.get(*group as usize),
                self.locations.get(*location as usize),
            ) else {
                continue;
            };
            let mut dims: Vec<(&str, &str)> = vec![
                (ACCOUNT, groups.account.as_str()),
                (PROJECT, groups.project.as_str()),
                (LOCATION, location.as_str()),
            ];
            dims.extend(groups.labels.iter().map(|(d, v)| (d.as_str(), v.as_str())));
            let day = bucket::day_start(*hour_ms);
            let keys: Vec<Vec<u8>> = dims
                .iter()
                .flat_map(|(dim, value)| {
                    [
                        bucket::key(Tier::Hourly, dim, *hour_ms, value),
                        bucket::key(Tier::Daily, dim, day, value),
                    ]
                })
                .collect();
            for key in keys {
                self.add_to(key, b);
            }
        }
        self.stage = stage;
        self.stage.clear();
    }

    fn add_to_pack(
        &mut self,
        hour_ms: u64,
        resource: &str,
        b: &Bucket,
        providers: &[Option<&str>],
    ) {
        let chunk = crate::state::chunk_of(resource);
        let store = &self.store;
        let pack = self.packs.entry((hour_ms, chunk)).or_insert_with(|| {
            let stored = store.resource_pack(hour_ms, chunk).unwrap_or_else(|error| {
                tracing::error!(%error, "reading resources' history buckets failed; they start again from zero");
                Vec::new()
            });
            Pack {
                buckets: stored.into_iter().collect(),
                dirty: false,
            }
        });
        let bucket = match pack.buckets.get_mut(resource) {
            Some(bucket) => bucket,
            None => pack.buckets.entry(resource.to_owned()).or_default(),
        };
        bucket.add(b);
        for p in providers.iter().flatten() {
            bucket.add_provider(p);
        }
        pack.dirty = true;
    }

    fn add_to(&mut self, key: Vec<u8>, b: &Bucket) {
        let store = &self.store;
        let entry = self.cache.entry(key).or_insert_with_key(|k| {
            let bucket = store.get(k).unwrap_or_else(|error| {
                tracing::error!(%error, "reading a history bucket failed; it starts again from zero");
                None
            });
            Cached {
                bucket: bucket.unwrap_or_default(),
                dirty: false,
            }
        });
        entry.bucket.add(b);
        entry.dirty = true;
    }

    /// Rebuilds the resource → groups index when the topology or the settings changed.
    fn refresh(&mut self, topology: &Arc<Topology>, settings: &ReportsConfig) {
        let same_topology = self
            .indexed
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, topology));
        if same_topology && *settings == self.settings {
            return;
        }
        self.settings = settings.clone();
        self.indexed = Some(topology.clone());
        // Staged figures belong to the group sets they were staged under.
        self.unstage();
        let labels = capped_label_values(topology, settings);
        let mut ids: HashMap<Groups, u32> = HashMap::new();
        self.groups = topology
            .resources()
            .map(|(a, p, r)| {
                let labels = settings
                    .label_keys
                    .iter()
                    .map(|k| {
                        let value = r.info.labels.iter().find(|(rk, _)| rk == k).map_or(
                            UNSET_LABEL,
                            |(_, v)| {
                                if labels.get(k).is_some_and(|kept| kept.contains(v)) {
                                    v.as_str()
                                } else {
                                    OTHER_LABEL
                                }
                            },
                        );
                        (super::label_dimension(k), value.to_owned())
                    })
                    .collect();
                let groups = Groups {
                    account: a.name.clone(),
                    project: super::project_group(&a.name, &p.project.id),
                    labels,
                };
                let next = ids.len() as u32;
                (r.id.clone(), *ids.entry(groups).or_insert(next))
            })
            .collect();
        let mut sets: Vec<(u32, Groups)> = ids.into_iter().map(|(g, id)| (id, g)).collect();
        sets.sort_by_key(|(id, _)| *id);
        self.group_sets = sets.into_iter().map(|(_, g)| g).collect();
        // Unpriced energy of resources that are gone can never be priced.
        let gone: Vec<ResourceId> = self
            .pending
            .keys()
            .filter(|id| !self.groups.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.pending.remove(&id);
            self.pending_dirty.insert(id);
        }
    }

    /// Every chunk holding a resource whose unpriced energy changed, with all of that chunk's
    /// unpriced energy (the store keeps one value per chunk).
    fn pending_chunks(&self) -> Vec<super::store::PendingChunk<'_>> {
        let dirty: BTreeSet<&'static str> = self
            .pending_dirty
            .iter()
            .map(|id| crate::state::chunk_of(&id.0))
            .collect();
        let mut chunks: BTreeMap<&'static str, super::store::PendingEntries<'_>> =
            dirty.iter().map(|c| (*c, Vec::new())).collect();
        for (id, held) in &self.pending {
            if let Some(entries) = chunks.get_mut(crate::state::chunk_of(&id.0)) {
                entries.push((id, held.as_slice()));
            }
        }
        chunks.into_iter().collect()
    }

    /// Writes the buckets touched since the last call in one batch, forgets buckets older
    /// than the previous hour (and day), and prunes a few buckets past their retention.
    pub fn persist(&mut self, now_ms: u64) {
        let write = self.prepare_write(now_ms);
        let written = write.apply();
        if let Err(error) = &written {
            tracing::error!(%error, "writing the history failed; it is retried with the next collection");
        }
        self.finish_write(now_ms, written.is_ok());
    }

    /// What [`Recorder::persist`] writes, owned, so it can be written on another thread; then
    /// [`Recorder::finish_write`] with whether it was.
    pub fn prepare_write(&mut self, now_ms: u64) -> HistoryWrite {
        self.unstage();
        let batch = HistoryStore::batch(
            self.cache
                .iter()
                .filter(|(_, c)| c.dirty)
                .map(|(k, c)| (k.as_slice(), &c.bucket)),
            self.packs
                .iter()
                .filter(|(_, p)| p.dirty)
                .map(|((hour, chunk), p)| {
                    let entries = p.buckets.iter().map(|(id, b)| (id.as_str(), b));
                    (*hour, *chunk, bucket::encode_pack(entries))
                }),
            self.pending_chunks(),
        );
        HistoryWrite {
            store: self.store.clone(),
            batch,
            settings: self.settings.clone(),
            now_ms,
        }
    }

    /// After a [`HistoryWrite`]: what was written is clean (or stays dirty, to be written
    /// with the next collection), and buckets older than the previous hour (and day) are
    /// forgotten unless they still wait to be written.
    pub fn finish_write(&mut self, now_ms: u64, written: bool) {
        if written {
            for c in self.cache.values_mut() {
                c.dirty = false;
            }
            for p in self.packs.values_mut() {
                p.dirty = false;
            }
            self.pending_dirty.clear();
        }
        let (hour, day) = (
            bucket::hour_start(now_ms).saturating_sub(HOUR_MS),
            bucket::day_start(now_ms).saturating_sub(DAY_MS),
        );
        self.packs.retain(|(start, _), p| p.dirty || *start >= hour);
        self.cache.retain(|k, c| {
            c.dirty
                || match bucket::parse_key(k) {
                    Some((Tier::Hourly, _, start, _)) => start >= hour,
                    Some((Tier::Daily, _, start, _)) => start >= day,
                    None => false,
                }
        });
    }
}

/// One collection's history write ([`Recorder::prepare_write`]): the batch, then a bounded
/// pruning step.
pub struct HistoryWrite {
    store: HistoryStore,
    batch: sled::Batch,
    settings: ReportsConfig,
    now_ms: u64,
}

impl HistoryWrite {
    /// Writes the batch alone, not flushed, then prunes (`HistoryWrite::prune`). For a
    /// recorder without counters to keep in step (tests, benches); the collector saves with
    /// [`HistoryWrite::apply_with_counters`].
    pub fn apply(mut self) -> Result<(), HistoryError> {
        self.store.apply(std::mem::take(&mut self.batch))?;
        self.prune();
        Ok(())
    }

    /// Writes the batch and a collection's `counters` to `state` in one transaction, flushed,
    /// so a crash leaves both or neither and no interval is counted twice; then prunes
    /// (`HistoryWrite::prune`). `state` must be the database the history's tree is in.
    pub fn apply_with_counters(
        self,
        state: &StateStore,
        counters: CounterBatch,
    ) -> Result<(), StateError> {
        state.write_counters_beside((self.store.tree(), &self.batch), counters)?;
        self.prune();
        Ok(())
    }

    /// Removes a few buckets past their retention, after the write's commit: it only deletes
    /// what no report counts any more, so it need not be atomic with it. A failure is logged,
    /// not returned: the next collection prunes again.
    fn prune(&self) {
        if let Err(error) = self
            .store
            .prune_step(self.now_ms, &self.settings, PRUNE_BUDGET)
        {
            tracing::error!(%error, "pruning old history buckets failed");
        }
    }
}

/// Per configured label key, the values kept apart: the `max_label_values` most common in
/// the topology (ties by value), so the set is the same for the same inventory.
fn capped_label_values(
    topology: &Topology,
    settings: &ReportsConfig,
) -> BTreeMap<String, HashSet<String>> {
    let mut counts: BTreeMap<&str, HashMap<&str, usize>> = BTreeMap::new();
    for (_, _, r) in topology.resources() {
        for (k, v) in &r.info.labels {
            if settings.label_keys.iter().any(|x| x == k) {
                *counts.entry(k).or_default().entry(v).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(|(k, values)| {
            let mut values: Vec<(&str, usize)> = values.into_iter().collect();
            values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let kept = values
                .into_iter()
                .take(settings.max_label_values)
                .map(|(v, _)| v.to_owned())
                .collect();
            (k.to_owned(), kept)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AccountNode, Counters, ProjectNode, ResourceRecord};
    use carbonaut_model::{Hardware, Location, Project, ResourceInfo, ResourceKind};

    const H0: u64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn topology(id: &ResourceId) -> Arc<Topology> {
        let info = ResourceInfo {
            id: "vm1".into(),
            name: "vm1".into(),
            kind: ResourceKind::Vm,
            location: Location {
                cloud: None,
                grid_zone: None,
                country: Some("DE".into()),
                region: None,
                zone: None,
                coordinates: None,
            },
            hardware: Hardware {
                instance_type: None,
                gpu_count: None,
                gpu_model: None,
                vcpus: None,
                memory_bytes: None,
                cpu_model: None,
            },
            labels: vec![("team".into(), "blue".into())],
        };
        let record = ResourceRecord {
            id: id.clone(),
            info: info.into(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            provider: "cloud".into(),
        };
        let project = ProjectNode {
            project: Project {
                id: "p1".into(),
                name: "p1".into(),
                labels: vec![],
            },
            first_seen_ms: 0,
            last_seen_ms: 0,
            provider: "cloud".into(),
            resources: [("vm1".to_owned(), record)].into(),
        };
        let account = AccountNode {
            name: "acme".into(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            provider: "cloud".into(),
            projects: [("p1".to_owned(), project)].into(),
        };
        Arc::new(Topology {
            accounts: [("acme".to_owned(), account)].into(),
        })
    }

    fn advance<'a>(id: &'a ResourceId, at: u64, intensity: Option<f64>, grams: f64) -> Advance<'a> {
        Advance {
            resource: id,
            location: Some("DE"),
            provider: "meter",
            priced_by: intensity.map(|_| "grid"),
            previous_ms: Some(at - 5 * 60_000),
            read_at_ms: at,
            joules: 3.6e6,
            grams,
            intensity,
            estimated: false,
        }
    }

    #[test]
    fn energy_priced_late_lands_in_the_hour_it_was_used_across_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        let store = HistoryStore::new(db.open_tree("history").expect("tree"));
        let settings = ReportsConfig {
            label_keys: vec!["team".into()],
            ..ReportsConfig::default()
        };
        let id = ResourceId("r1".into());
        let topology = topology(&id);
        let mut recorder = Recorder::new(store.clone(), settings.clone());
        // 1 kWh at 00:10 with no intensity known: the counters hold it unpriced.
        recorder.record(
            &topology,
            &settings,
            advance(&id, H0 + 10 * 60_000, None, 0.0),
        );
        recorder.persist(H0 + 10 * 60_000);
        // A restart; then at 01:10 another kWh, and 100 g/kWh prices both: 200 g in all.
        let mut recorder = Recorder::new(store.clone(), settings.clone());
        let at = H0 + HOUR_MS + 10 * 60_000;
        recorder.record(&topology, &settings, advance(&id, at, Some(100.0), 200.0));
        recorder.persist(at);

        for dim in ["account", "project", "location", "label:team", "resource"] {
            let group = match dim {
                "account" => "acme",
                "project" => "acme/p1",
                "location" => "DE",
                "label:team" => "blue",
                _ => "r1",
            };
            let hour = |h: u64| {
                let start = H0 + h * HOUR_MS;
                if dim == "resource" {
                    // Resources' buckets are packed; a scan unpacks them.
                    let rows: Vec<_> = store
                        .scan(Tier::Hourly, dim, start, start + HOUR_MS)
                        .collect::<Result<_, _>>()
                        .expect("read");
                    assert_eq!(rows.len(), 1, "{rows:?}");
                    assert_eq!((rows[0].0, rows[0].1.as_str()), (start, group));
                    return rows[0].2.clone();
                }
                store
                    .get(&bucket::key(Tier::Hourly, dim, start, group))
                    .expect("read")
                    .expect("bucket")
            };
            let (first, second) = (hour(0), hour(1));
            assert_eq!(first.energy_joules, 3.6e6, "{dim}");
            assert!(
                (first.emissions_grams - 100.0).abs() < 1e-9,
                "{dim}: {first:?}"
            );
            assert_eq!(first.mean_intensity().map(f64::round), Some(100.0));
            assert_eq!(second.energy_joules, 3.6e6);
            assert!((second.emissions_grams - 100.0).abs() < 1e-9);
            assert_eq!(second.providers, ["grid", "meter"]);
            if dim != "resource" {
                let day = store
                    .get(&bucket::key(Tier::Daily, dim, H0, group))
                    .expect("read")
                    .expect("bucket");
                assert_eq!(day.energy_joules, 7.2e6);
                assert!((day.emissions_grams - 200.0).abs() < 1e-9);
                assert_eq!(day.hours, 0b11);
            }
        }
        assert!(store.load_pending().expect("pending").is_empty());
    }

    /// A report row with operational and embodied columns, by hand: 1 kWh at 300 g/kWh in
    /// each of two hours (300 g each), and an embodied share of 1.467 965 182 648 402 g an hour
    /// (CCF's worked example: 1 234 500 g × 4/96 / 35 040 h) counted from 00:30 to 01:30, so
    /// half of it in each hour; the day's row holds 600 g operational and the hour's worth of
    /// embodied grams.
    #[test]
    fn a_report_row_has_operational_and_embodied_columns() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        let store = HistoryStore::new(db.open_tree("history").expect("tree"));
        let settings = ReportsConfig::default();
        let id = ResourceId("r1".into());
        let topology = topology(&id);
        let mut recorder = Recorder::new(store.clone(), settings.clone());
        let per_hour = 1_234_500.0 * (4.0 / 96.0) / 35_040.0;
        for hour in [0, 1] {
            let at = H0 + hour * HOUR_MS + 50 * 60_000;
            let mut a = advance(&id, at, Some(300.0), 300.0);
            a.previous_ms = Some(at - 10 * 60_000);
            recorder.record(&topology, &settings, a);
        }
        recorder.record_embodied(
            &topology,
            &settings,
            Embodied {
                resource: &id,
                location: Some("DE"),
                from_ms: Some(H0 + 30 * 60_000),
                to_ms: H0 + 90 * 60_000,
                grams: per_hour,
            },
        );
        recorder.persist(H0 + 2 * HOUR_MS);
        let query = crate::history::ReportQuery {
            from_ms: H0,
            to_ms: H0 + DAY_MS,
            group_by: crate::history::GroupBy::Account,
            step: crate::history::Step::Day,
        };
        let report = crate::history::Report::build(&store, &query, None).expect("report");
        assert_eq!(report.rows.len(), 1);
        let row = &report.rows[0];
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(row.emissions_kgco2e, 0.6), "{row:?}");
        assert!(
            close(row.embodied_kgco2e, 1.467_965_182_648_402e-3),
            "{row:?}"
        );
        assert!(close(report.totals.embodied_kgco2e, row.embodied_kgco2e));
        let hourly = crate::history::ReportQuery {
            step: crate::history::Step::Hour,
            ..query
        };
        let report = crate::history::Report::build(&store, &hourly, None).expect("report");
        let embodied: Vec<f64> = report.rows.iter().map(|r| r.embodied_kgco2e).collect();
        assert_eq!(embodied.len(), 2);
        for kg in embodied {
            assert!(
                close(kg, per_hour / 2.0 / 1000.0),
                "half in each hour: {kg}"
            );
        }
        let csv = report.to_csv().expect("csv");
        assert!(
            csv.lines()
                .next()
                .expect("header")
                .ends_with(",embodied_kgco2e")
        );
    }

    #[test]
    fn a_resource_hour_continues_across_a_restart_in_its_pack() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        let store = HistoryStore::new(db.open_tree("history").expect("tree"));
        let settings = ReportsConfig::default();
        let id = ResourceId("r1".into());
        let topology = topology(&id);
        for minute in [10, 40] {
            // A new recorder each time: the second must read the pack the first wrote.
            let mut recorder = Recorder::new(store.clone(), settings.clone());
            let at = H0 + minute * 60_000;
            recorder.record(&topology, &settings, advance(&id, at, Some(100.0), 100.0));
            recorder.persist(at);
        }
        let rows: Vec<_> = store
            .scan(Tier::Hourly, "resource", H0, H0 + HOUR_MS)
            .collect::<Result<_, _>>()
            .expect("read");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].1, "r1");
        assert_eq!(rows[0].2.energy_joules, 7.2e6);
        let (values, _) = store.payload_bytes().expect("size");
        assert!(
            values < 10,
            "one pack per hour and chunk, not a value per resource: {values}"
        );
    }

    #[test]
    fn a_collection_writes_its_history_and_counters_together() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = ResourceId("r1".into());
        let topology = topology(&id);
        let settings = ReportsConfig::default();
        let counters = Counters {
            energy_joules_total: 3.6e6,
            ..Counters::default()
        };
        {
            let state = StateStore::open(dir.path()).expect("open");
            let store = HistoryStore::new(state.history_tree().expect("tree"));
            let mut recorder = Recorder::new(store, settings.clone());
            let at = H0 + 10 * 60_000;
            recorder.record(&topology, &settings, advance(&id, at, Some(100.0), 100.0));
            let batch = StateStore::counter_batch([("acme", [(&id, &counters)])]);
            recorder
                .prepare_write(at)
                .apply_with_counters(&state, batch)
                .expect("save");
        }
        let state = StateStore::reopen(dir.path()).expect("reopen");
        let loaded = state
            .load_counters(&mut crate::state::LoadReport::default())
            .expect("counters");
        assert_eq!(loaded.get(&id), Some(&counters));
        let store = HistoryStore::new(state.history_tree().expect("tree"));
        let hour = store
            .get(&bucket::key(Tier::Hourly, "account", H0, "acme"))
            .expect("read")
            .expect("bucket");
        assert_eq!(hour.energy_joules, 3.6e6);
    }

    #[test]
    fn a_history_of_another_database_is_refused_not_written_apart() {
        let (here, there) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let state = StateStore::open(here.path()).expect("open");
        let other = sled::open(there.path()).expect("sled");
        let store = HistoryStore::new(other.open_tree("history").expect("tree"));
        let id = ResourceId("r1".into());
        let topology = topology(&id);
        let settings = ReportsConfig::default();
        let mut recorder = Recorder::new(store.clone(), settings.clone());
        recorder.record(
            &topology,
            &settings,
            advance(&id, H0 + 60_000, Some(1.0), 1.0),
        );
        let batch = StateStore::counter_batch([("acme", [(&id, &Counters::default())])]);
        let result = recorder
            .prepare_write(H0 + 60_000)
            .apply_with_counters(&state, batch);
        assert!(
            matches!(result, Err(StateError::Collection { .. })),
            "{result:?}"
        );
        assert_eq!(store.payload_bytes().expect("size").0, 0);
    }

    #[test]
    fn a_resource_without_a_configured_label_is_unset() {
        let id = ResourceId("r1".into());
        let topology = topology(&id);
        let capped = ReportsConfig {
            label_keys: vec!["team".into(), "cost-center".into()],
            max_label_values: 1,
            ..ReportsConfig::default()
        };
        let values = capped_label_values(&topology, &capped);
        assert!(values["team"].contains("blue"));
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        let store = HistoryStore::new(db.open_tree("history").expect("tree"));
        let mut recorder = Recorder::new(store.clone(), capped.clone());
        recorder.record(
            &topology,
            &capped,
            advance(&id, H0 + 60_000, Some(1.0), 1.0),
        );
        recorder.persist(H0 + 60_000);
        let unset = bucket::key(Tier::Hourly, "label:cost-center", H0, UNSET_LABEL);
        assert!(store.get(&unset).expect("read").is_some());
    }
}
