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
    s.topology
        .resources()
        .find(|(_, _, r)| {
            r.info
                .location
                .region
                .as_deref()
                .is_some_and(|region| region.eq_ignore_ascii_case(name))
        })
        .and_then(|(_, _, r)| s.location_of.get(&r.id).cloned())
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
