//! What removed resources used, so that project and account totals never go down. A removed
//! resource's counters are *retired* (kept under its id, with where it lived and when it left);
//! if it comes back within the retention window its counter continues. After the window they
//! are *archived*: added to a per-project sum (or, once the project itself is gone, to the
//! account's sum of departed projects). Totals = live counters + retired + archived, so moving
//! energy between these never changes a total.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::counters::Counters;
use super::topology::{AccountSync, ResourceId, Topology};

/// Energy and emissions summed exactly: in integer micro-units (µJ, µg). Float sums depend on
/// the order and grouping of their terms, so a total recomputed after a resource moved from
/// live to retired could come out one ulp lower, which Prometheus reads as a counter reset.
/// An integer sum of the same terms is the same whatever the grouping, and rounding each
/// (monotonic) counter down to a micro-unit keeps every term, hence every sum, monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub energy_microjoules: u128,
    pub emissions_micrograms: u128,
    /// Facility energy beyond the IT energy (PUE); stored totals from before it read as 0.
    #[serde(default)]
    pub overhead_microjoules: u128,
    /// Manufacturing emissions; stored totals from before it read as 0.
    #[serde(default)]
    pub embodied_micrograms: u128,
}

const MICRO: f64 = 1e6;

/// `x` (finite, ≥ 0) in micro-units, rounded down; anything else counts as nothing.
fn micro(x: f64) -> u128 {
    if x.is_finite() && x > 0.0 {
        (x * MICRO).floor() as u128
    } else {
        0
    }
}

impl Totals {
    pub fn of(c: &Counters) -> Totals {
        Totals {
            energy_microjoules: micro(c.energy_joules_total),
            emissions_micrograms: micro(c.emissions_grams_total),
            overhead_microjoules: micro(c.overhead_joules_total()),
            embodied_micrograms: micro(c.embodied_grams_total().unwrap_or(0.0)),
        }
    }

    pub fn add(&mut self, other: Totals) {
        self.energy_microjoules = self
            .energy_microjoules
            .saturating_add(other.energy_microjoules);
        self.emissions_micrograms = self
            .emissions_micrograms
            .saturating_add(other.emissions_micrograms);
        self.overhead_microjoules = self
            .overhead_microjoules
            .saturating_add(other.overhead_microjoules);
        self.embodied_micrograms = self
            .embodied_micrograms
            .saturating_add(other.embodied_micrograms);
    }

    pub fn energy_joules(&self) -> f64 {
        self.energy_microjoules as f64 / MICRO
    }

    pub fn emissions_grams(&self) -> f64 {
        self.emissions_micrograms as f64 / MICRO
    }

    /// IT energy plus the data centre's overhead on it.
    pub fn facility_joules(&self) -> f64 {
        self.energy_microjoules
            .saturating_add(self.overhead_microjoules) as f64
            / MICRO
    }

    pub fn embodied_grams(&self) -> f64 {
        self.embodied_micrograms as f64 / MICRO
    }
}

/// A removed resource's counters, waiting for its return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retired {
    pub account: String,
    pub project: String,
    /// The provider's id of the resource.
    pub resource: String,
    pub counters: Counters,
    pub removed_at_ms: u64,
}

/// Where archived totals are kept: a project's, or (`None`) the account's departed projects.
pub type ArchiveKey = (String, Option<String>);

/// Retired records and archived sums, as loaded from the store and kept by the collector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Departed {
    pub retired: HashMap<ResourceId, Retired>,
    pub archive: BTreeMap<ArchiveKey, Totals>,
}

/// One step of the retention pass: records to drop from `retired` and the new value of each
/// archive key they (or a departed project's sum) went into.
#[derive(Debug, Default, PartialEq)]
pub struct Expiry {
    pub expired: Vec<ResourceId>,
    pub archive: BTreeMap<ArchiveKey, Totals>,
    /// Project sums folded into their account's: removed from the archive.
    pub folded: Vec<ArchiveKey>,
}

impl Expiry {
    pub fn is_empty(&self) -> bool {
        self.expired.is_empty() && self.folded.is_empty()
    }
}

/// What a sync moves: counters of resources that left (`retire`) and of resources that came
/// back under the same id within the retention window (`restore`).
pub type SyncMoves = (Vec<(ResourceId, Retired)>, Vec<(ResourceId, Counters)>);

impl Departed {
    /// The counters `sync` retires and restores, given the live `counters`. Pure: the caller
    /// stores the moves with the sync, then applies them to its mirror.
    pub fn plan_sync(
        &self,
        sync: &AccountSync,
        counters: &HashMap<ResourceId, Counters>,
        now_ms: u64,
    ) -> SyncMoves {
        let retire = sync
            .removed_resources
            .iter()
            .filter_map(|(project, resource, id)| {
                let counters = counters.get(id)?;
                Some((
                    id.clone(),
                    Retired {
                        account: sync.node.name.clone(),
                        project: project.clone(),
                        resource: resource.clone(),
                        counters: counters.clone(),
                        removed_at_ms: now_ms,
                    },
                ))
            })
            .collect();
        let restore = sync
            .node
            .projects
            .values()
            .flat_map(|p| p.resources.values())
            .filter(|r| !counters.contains_key(&r.id))
            .filter_map(|r| Some((r.id.clone(), self.retired.get(&r.id)?.counters.clone())))
            .collect();
        (retire, restore)
    }

    /// The account's counters as they will be once `moves` apply: what the store writes with
    /// the sync (restored counters, else the live ones, of every resource still there).
    pub fn counters_after<'a>(
        sync: &'a AccountSync,
        moves: &'a SyncMoves,
        counters: &'a HashMap<ResourceId, Counters>,
    ) -> Vec<(&'a ResourceId, &'a Counters)> {
        let returned: HashMap<&ResourceId, &Counters> =
            moves.1.iter().map(|(id, c)| (id, c)).collect();
        sync.node
            .projects
            .values()
            .flat_map(|p| p.resources.values())
            .filter_map(|r| {
                returned
                    .get(&r.id)
                    .copied()
                    .or_else(|| counters.get(&r.id))
                    .map(|c| (&r.id, c))
            })
            .collect()
    }

    /// Applies `moves` (after the store has).
    pub fn apply_sync(&mut self, moves: SyncMoves, counters: &mut HashMap<ResourceId, Counters>) {
        let (retire, restore) = moves;
        for (id, record) in retire {
            counters.remove(&id);
            self.retired.insert(id, record);
        }
        for (id, c) in restore {
            self.retired.remove(&id);
            counters.insert(id, c);
        }
    }

    /// What the retention pass at `now_ms` changes, at most `max` records (small steps: a
    /// pass never holds the collector for long). Pure: [`Departed::apply`] applies it once
    /// the store has.
    pub fn expire(
        &self,
        topology: &Topology,
        now_ms: u64,
        retention_ms: u64,
        max: usize,
    ) -> Expiry {
        let live_project = |a: &str, p: &str| {
            topology
                .accounts
                .get(a)
                .is_some_and(|n| n.projects.contains_key(p))
        };
        let mut out = Expiry::default();
        let archive = |key: ArchiveKey, add: Totals, out: &mut Expiry| {
            let base = out
                .archive
                .get(&key)
                .or_else(|| self.archive.get(&key))
                .copied()
                .unwrap_or_default();
            let mut sum = base;
            sum.add(add);
            out.archive.insert(key, sum);
        };
        for (id, r) in &self.retired {
            if out.expired.len() >= max {
                break;
            }
            if r.removed_at_ms.saturating_add(retention_ms) > now_ms {
                continue;
            }
            out.expired.push(id.clone());
            let project = live_project(&r.account, &r.project).then(|| r.project.clone());
            archive(
                (r.account.clone(), project),
                Totals::of(&r.counters),
                &mut out,
            );
        }
        // A departed project's own sum joins its account's once nothing of it is retired.
        let expired: HashSet<&ResourceId> = out.expired.iter().collect();
        let waiting: HashSet<(&str, &str)> = self
            .retired
            .iter()
            .filter(|(id, _)| !expired.contains(id))
            .map(|(_, r)| (r.account.as_str(), r.project.as_str()))
            .collect();
        for ((a, p), totals) in &self.archive {
            if let Some(p) = p
                && !live_project(a, p)
                && !waiting.contains(&(a.as_str(), p.as_str()))
            {
                let own = out
                    .archive
                    .remove(&(a.clone(), Some(p.clone())))
                    .unwrap_or(*totals);
                out.folded.push((a.clone(), Some(p.clone())));
                archive((a.clone(), None), own, &mut out);
            }
        }
        out
    }

    pub fn apply(&mut self, expiry: &Expiry) {
        for id in &expiry.expired {
            self.retired.remove(id);
        }
        for key in &expiry.folded {
            self.archive.remove(key);
        }
        for (key, totals) in &expiry.archive {
            self.archive.insert(key.clone(), *totals);
        }
    }

    /// Per (account, project) and per (account, None): what departed resources add to the
    /// totals of live counters.
    pub fn by_project(&self) -> BTreeMap<ArchiveKey, Totals> {
        let mut out = self.archive.clone();
        for r in self.retired.values() {
            out.entry((r.account.clone(), Some(r.project.clone())))
                .or_default()
                .add(Totals::of(&r.counters));
        }
        out
    }

    /// Drops everything of `account` (removed from the config).
    pub fn forget_account(&mut self, account: &str) {
        self.retired.retain(|_, r| r.account != account);
        self.archive.retain(|(a, _), _| a != account);
    }
}

#[cfg(test)]
mod tests;
