//! Which grid location each resource is priced in: computed once per topology (and zone
//! mapping), not in every collection and every publish, and shared with the snapshot
//! without a copy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::location_key;
use carbonaut_store::state::{ResourceId, Topology};

#[derive(Default)]
pub(super) struct LocationIndex {
    /// The topology and zone mapping it was computed for.
    topology: Option<Arc<Topology>>,
    zones: BTreeMap<String, String>,
    /// Resource → location key.
    pub of: Arc<HashMap<ResourceId, String>>,
    /// Location key → how many resources are there.
    pub counts: BTreeMap<String, usize>,
}

impl LocationIndex {
    /// Brings the index up to date with `topology` and `zones`; cheap when neither changed.
    pub fn refresh(&mut self, topology: &Arc<Topology>, zones: &BTreeMap<String, String>) {
        let current = self
            .topology
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, topology));
        if current && self.zones == *zones {
            return;
        }
        let mut of = HashMap::with_capacity(topology.resource_count());
        let mut counts = BTreeMap::new();
        for (_, _, r) in topology.resources() {
            let key = location_key(&r.info.location, zones);
            *counts.entry(key.clone()).or_default() += 1;
            of.insert(r.id.clone(), key);
        }
        *self = LocationIndex {
            topology: Some(topology.clone()),
            zones: zones.clone(),
            of: Arc::new(of),
            counts,
        };
    }
}
