//! Which location a Carbon Aware SDK `location` names: a location carbonaut prices (a grid
//! zone or country, as `/api/v1/status` lists them), or the region of a resource it measures
//! (`eu-central-1`, `westeurope`), priced where that resource is. Matched whatever the case,
//! as SDK clients write `eastus` for Azure's `EastUS`.

use super::request::Problem;
use crate::snapshot::Snapshot;

/// A location as asked and the location key it resolved to.
pub struct Place {
    pub asked: String,
    pub key: String,
}

/// The location key `name` resolves to in `s`.
pub fn resolve(s: &Snapshot, name: &str) -> Option<String> {
    let known = s.locations.keys().chain(s.forecasts.keys());
    if let Some(key) = known.into_iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(key.clone());
    }
    s.location_of_region(name).map(str::to_owned)
}

/// Each of `names` resolved; the unknown ones are added to `problem` under `field`.
pub fn resolve_all(s: &Snapshot, names: &[&str], field: &str, problem: &mut Problem) -> Vec<Place> {
    let mut places = Vec::new();
    for name in names {
        match resolve(s, name) {
            Some(key) => places.push(Place {
                asked: (*name).to_owned(),
                key,
            }),
            None => problem.field(
                field,
                format!(
                    "Unknown location '{name}': not a grid zone or country carbonaut prices, nor \
                     the region of a resource it measures (see /api/v1/status)"
                ),
            ),
        }
    }
    places
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    use super::resolve;
    use crate::snapshot::Snapshot;
    use carbonaut_model::{Location, Project, ResourceInfo, ResourceKind};
    use carbonaut_store::state::{AccountNode, ProjectNode, ResourceId, ResourceRecord, Topology};

    /// One project whose resources are in `(name, region, location key)`, in that order.
    fn snapshot(resources: &[(&str, &str, Option<&str>)]) -> Snapshot {
        let mut records = BTreeMap::new();
        let mut location_of = HashMap::new();
        for (name, region, key) in resources {
            let id = ResourceId::new("acme", "web", name);
            if let Some(key) = key {
                location_of.insert(id.clone(), (*key).to_owned());
            }
            let info = ResourceInfo {
                id: (*name).into(),
                name: (*name).into(),
                kind: ResourceKind::Vm,
                location: Location {
                    region: Some((*region).into()),
                    ..Location::default()
                },
                hardware: Default::default(),
                labels: Default::default(),
            };
            let record = ResourceRecord {
                id,
                info: info.into(),
                first_seen_ms: 1,
                last_seen_ms: 1,
                provider: "cloud".into(),
            };
            records.insert((*name).to_owned(), record);
        }
        let project = ProjectNode {
            project: Project {
                id: "web".into(),
                name: "web".into(),
                labels: Default::default(),
            },
            first_seen_ms: 1,
            last_seen_ms: 1,
            provider: "cloud".into(),
            resources: records,
        };
        let account = AccountNode {
            name: "acme".into(),
            first_seen_ms: 1,
            last_seen_ms: 1,
            provider: "cloud".into(),
            projects: BTreeMap::from([("web".to_owned(), project)]),
        };
        let topology = Topology {
            accounts: BTreeMap::from([("acme".to_owned(), account)]),
        };
        Snapshot {
            topology: Arc::new(topology),
            location_of: Arc::new(location_of),
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_region_resolves_to_where_its_first_located_resource_is_priced() {
        let s = snapshot(&[
            ("a", "westeurope", None),
            ("b", "EastUS", Some("US-MIDA-PJM")),
            ("c", "eastus", Some("elsewhere")),
            ("d", "westeurope", Some("NL")),
        ]);
        assert_eq!(resolve(&s, "eastus").as_deref(), Some("US-MIDA-PJM"));
        assert_eq!(resolve(&s, "EASTUS").as_deref(), Some("US-MIDA-PJM"));
        // The first resource in the region has no location yet: the next one's counts.
        assert_eq!(resolve(&s, "WestEurope").as_deref(), Some("NL"));
        assert_eq!(resolve(&s, "northeurope"), None);
        assert_eq!(s.region_index.get().map(HashMap::len), Some(2));
    }
}
