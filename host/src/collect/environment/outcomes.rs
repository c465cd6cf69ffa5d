//! Each location's last answer from the environment provider, and the refusals it remembers.
//! A location the provider refused (`unauthorized`: the plan does not cover it) is left out
//! of the batch until its backoff has passed, then asked alone, so a partial plan prices what
//! it covers on every collection and the rest costs one call per backoff.

use std::collections::{BTreeMap, BTreeSet};

use crate::snapshot::{LocationOutcome, OutcomeState};
use carbonaut_model::LocationQuery;

/// The first wait after a refusal; doubles with each further one.
const FIRST_BACKOFF_MS: u64 = 5 * 60 * 1000;
/// The longest wait: a plan extended by the operator is noticed within the hour.
const MAX_BACKOFF_MS: u64 = 60 * 60 * 1000;

/// The locations of one collection, by how they are asked.
#[derive(Debug, Default)]
pub struct Split {
    /// Never refused by this provider, or answered since: asked together.
    pub batch: Vec<LocationQuery>,
    /// Refused, and their backoff has passed: each asked alone.
    pub alone: Vec<LocationQuery>,
    /// Refused and still waiting: not asked.
    pub held: Vec<String>,
}

#[derive(Debug, Default)]
pub struct LocationOutcomes {
    by_location: BTreeMap<String, LocationOutcome>,
}

impl LocationOutcomes {
    /// Sorts `queries` for `provider` at `now_ms`, and forgets locations no longer queried.
    pub fn split(&mut self, provider: &str, queries: Vec<LocationQuery>, now_ms: u64) -> Split {
        let current: BTreeSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        self.by_location
            .retain(|id, _| current.contains(id.as_str()));
        let mut split = Split::default();
        for query in queries {
            // Another provider's refusals say nothing about this one.
            let refusal = self
                .by_location
                .get(&query.id)
                .filter(|o| o.provider == provider && o.consecutive_refusals > 0);
            match refusal.and_then(|o| o.next_ask_at_ms) {
                None => split.batch.push(query),
                Some(at) if at <= now_ms => split.alone.push(query),
                Some(_) => split.held.push(query.id),
            }
        }
        split
    }

    pub fn answered(&mut self, provider: &str, id: &str, priced: bool, now_ms: u64) {
        let outcome = if priced {
            OutcomeState::Priced
        } else {
            OutcomeState::LeftOut
        };
        self.by_location
            .insert(id.to_owned(), fresh(provider, outcome, None, now_ms));
    }

    /// A refusal: the wait doubles from five minutes up to an hour.
    pub fn refused(&mut self, provider: &str, id: &str, message: String, now_ms: u64) {
        let before = self
            .by_location
            .get(id)
            .filter(|o| o.provider == provider)
            .map_or(0, |o| o.consecutive_refusals);
        let refusals = before.saturating_add(1);
        let wait = FIRST_BACKOFF_MS
            .saturating_mul(1 << refusals.saturating_sub(1).min(16))
            .min(MAX_BACKOFF_MS);
        let mut outcome = fresh(provider, OutcomeState::Refused, Some(message), now_ms);
        outcome.consecutive_refusals = refusals;
        outcome.next_ask_at_ms = Some(now_ms.saturating_add(wait));
        self.by_location.insert(id.to_owned(), outcome);
    }

    /// A failure that is not about the location: a refusal it had is kept, with its wait.
    pub fn failed(&mut self, provider: &str, id: &str, message: String, now_ms: u64) {
        let kept = self
            .by_location
            .get(id)
            .filter(|o| o.provider == provider)
            .map(|o| (o.consecutive_refusals, o.next_ask_at_ms));
        let mut outcome = fresh(provider, OutcomeState::Failed, Some(message), now_ms);
        if let Some((refusals, next)) = kept {
            outcome.consecutive_refusals = refusals;
            outcome.next_ask_at_ms = next;
        }
        self.by_location.insert(id.to_owned(), outcome);
    }

    pub fn get(&self, id: &str) -> Option<&LocationOutcome> {
        self.by_location.get(id)
    }
}

fn fresh(
    provider: &str,
    outcome: OutcomeState,
    message: Option<String>,
    now_ms: u64,
) -> LocationOutcome {
    LocationOutcome {
        provider: provider.to_owned(),
        outcome,
        message,
        asked_at_ms: now_ms,
        consecutive_refusals: 0,
        next_ask_at_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::Location;

    fn queries(ids: &[&str]) -> Vec<LocationQuery> {
        ids.iter()
            .map(|id| LocationQuery {
                id: (*id).into(),
                location: Location {
                    cloud: None,
                    grid_zone: None,
                    country: None,
                    region: None,
                    zone: None,
                    coordinates: None,
                },
                grid_zone: None,
            })
            .collect()
    }

    fn ids(list: &[LocationQuery]) -> Vec<&str> {
        list.iter().map(|q| q.id.as_str()).collect()
    }

    const MINUTE: u64 = 60_000;

    #[test]
    fn a_refused_location_waits_doubling_then_is_asked_alone() {
        let mut o = LocationOutcomes::default();
        o.answered("grid", "DE", true, 0);
        o.refused("grid", "FR", "not in plan".into(), 0);
        let split = o.split("grid", queries(&["DE", "FR"]), 4 * MINUTE);
        assert_eq!(
            (ids(&split.batch), split.held),
            (vec!["DE"], vec!["FR".to_owned()])
        );
        let split = o.split("grid", queries(&["DE", "FR"]), 5 * MINUTE);
        assert_eq!(
            (ids(&split.batch), ids(&split.alone)),
            (vec!["DE"], vec!["FR"])
        );
        o.refused("grid", "FR", "still not".into(), 5 * MINUTE);
        let fr = o.get("FR").expect("kept");
        assert_eq!(fr.consecutive_refusals, 2);
        assert_eq!(
            fr.next_ask_at_ms,
            Some(15 * MINUTE),
            "ten minutes after the second"
        );
        for _ in 0..10 {
            o.refused("grid", "FR", "no".into(), 0);
        }
        assert_eq!(
            o.get("FR").and_then(|f| f.next_ask_at_ms),
            Some(60 * MINUTE)
        );
        // An outage while refused keeps the wait; an answer clears it.
        o.failed("grid", "FR", "outage".into(), 0);
        assert_eq!(o.get("FR").map(|f| f.consecutive_refusals), Some(12));
        o.answered("grid", "FR", true, 0);
        assert_eq!(ids(&o.split("grid", queries(&["FR"]), 0).batch), ["FR"]);
    }

    #[test]
    fn another_provider_and_departed_locations_start_afresh() {
        let mut o = LocationOutcomes::default();
        o.refused("wattime", "US", "403".into(), 0);
        assert_eq!(ids(&o.split("grid", queries(&["US"]), 0).batch), ["US"]);
        o.refused("grid", "US", "403".into(), 0);
        o.split("grid", queries(&["DE"]), 0);
        assert!(o.get("US").is_none());
    }
}
