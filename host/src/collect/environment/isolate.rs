//! Asking a batch of locations so that a refusal of some does not cost the others. The 0.2.0
//! contract has one error per call, so a plugin that is refused for one zone (a free
//! Electricity Maps token covers one; WattTime answers 403 outside the plan) can only fail
//! the whole batch with `unauthorized`. The host then halves the batch until each refusal is
//! one location alone, and every other location is priced. Any other error stops the asking:
//! it is not about one location, and asking again would only repeat it.

use crate::collect::Failure;
use carbonaut_model::{EnergyMix, LocationQuery, ProviderError};
use carbonaut_plugins::{Checked, Rejections};

/// What asking a batch came to.
#[derive(Debug, Default)]
pub struct Isolated {
    /// The mixes of every call that answered.
    pub mixes: Vec<EnergyMix>,
    pub rejected: Rejections,
    /// Locations asked alone and refused, with the provider's words.
    pub refused: Vec<(String, String)>,
    /// The last refusal, for the provider's health when nothing else answered.
    pub last_refusal: Option<Failure>,
    /// Locations answered by a call that succeeded (priced or left out by the provider).
    pub answered: Vec<String>,
    /// The error that stopped the asking, and the locations it left without an answer.
    pub failed: Option<(Failure, Vec<String>)>,
    /// Plugin calls made.
    pub calls: usize,
}

/// Whether an error refuses the credentials for (some of) the batch's locations.
pub fn is_refusal(error: &Failure) -> bool {
    matches!(error.provider_error(), Some(ProviderError::Unauthorized(_)))
}

/// Asks each group of `groups` in turn with `call`; a group refused is asked again in halves,
/// down to single locations. A group of `n` refused whole costs `2n - 1` calls; one refused
/// location among `n` at most `1 + 2 ⌈log2 n⌉`.
pub async fn isolate_refusals<F, Fut, E>(groups: Vec<Vec<LocationQuery>>, mut call: F) -> Isolated
where
    // An owned batch rather than an async closure over a slice: the collector's future must
    // stay `Send` for any lifetime, which a borrowing async closure does not prove.
    F: FnMut(Vec<LocationQuery>) -> Fut,
    Fut: Future<Output = Result<Checked<Vec<EnergyMix>>, E>>,
    E: Into<Failure>,
{
    let mut out = Isolated::default();
    // Last in, first out: the first group, and the first half, are asked first.
    let mut pending: Vec<Vec<LocationQuery>> = groups.into_iter().rev().collect();
    while let Some(batch) = pending.pop() {
        if batch.is_empty() {
            continue;
        }
        if let Some((_, unasked)) = &mut out.failed {
            unasked.extend(batch.into_iter().map(|q| q.id));
            continue;
        }
        out.calls += 1;
        match call(batch.clone()).await.map_err(Into::into) {
            Ok(checked) => {
                let (mixes, rejected) = checked.into_parts();
                out.mixes.extend(mixes);
                out.rejected.merge(rejected);
                out.answered.extend(batch.into_iter().map(|q| q.id));
            }
            Err(error) if is_refusal(&error) && batch.len() > 1 => {
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                pending.push(second);
                pending.push(first);
            }
            Err(error) if is_refusal(&error) => {
                let id = batch.into_iter().map(|q| q.id).collect::<Vec<_>>().concat();
                out.refused.push((id, error.to_string()));
                out.last_refusal = Some(error);
            }
            Err(error) => {
                out.failed = Some((error, batch.into_iter().map(|q| q.id).collect()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::{EmissionFactorType, Location};
    use carbonaut_plugins::{CallError, CallErrorKind, validate};

    fn query(id: &str) -> LocationQuery {
        LocationQuery {
            id: id.into(),
            location: Location {
                cloud: None,
                grid_zone: None,
                country: None,
                region: None,
                zone: None,
                coordinates: None,
            },
            grid_zone: None,
        }
    }

    fn guest(error: ProviderError) -> Failure {
        Failure::Call(CallError {
            plugin: "grid".into(),
            version: "1".into(),
            operation: "environment.collect",
            kind: CallErrorKind::Guest(error),
        })
    }

    /// A provider whose plan covers only `covered`, and that is down once `down` is asked.
    async fn ask(covered: &[&str], down: Option<&str>, ids: &[&str]) -> Isolated {
        let queries = ids.iter().map(|id| query(id)).collect();
        isolate_refusals(vec![queries], |batch: Vec<LocationQuery>| async move {
            if let Some(down) = down
                && batch.iter().any(|q| q.id == down)
            {
                return Err(guest(ProviderError::Other("outage".into())));
            }
            if batch.iter().any(|q| !covered.contains(&q.id.as_str())) {
                return Err(guest(ProviderError::Unauthorized("not in plan".into())));
            }
            let answer = batch
                .iter()
                .map(|q| EnergyMix {
                    zone: None,
                    location_id: q.id.clone(),
                    carbon_intensity: 100.0,
                    emission_factor: EmissionFactorType::Lifecycle,
                    shares: vec![],
                    valid_at: 0,
                    estimated: false,
                })
                .collect();
            Ok(checked(answer, &batch))
        })
        .await
    }

    /// A fake provider's answer through the real checks, the only way to a `Checked`.
    fn checked(answer: Vec<EnergyMix>, asked: &[LocationQuery]) -> Checked<Vec<EnergyMix>> {
        let rules = validate::Rules {
            now_ms: 0,
            max_power_watts: 1e6,
        };
        validate::mixes(answer, asked, &rules)
    }

    fn priced(out: &Isolated) -> Vec<&str> {
        let mut ids: Vec<&str> = out.mixes.iter().map(|m| m.location_id.as_str()).collect();
        ids.sort_unstable();
        ids
    }

    #[tokio::test]
    async fn one_refused_location_leaves_the_others_priced() {
        let out = ask(&["a", "b", "c", "e"], None, &["a", "b", "c", "d", "e"]).await;
        assert_eq!(priced(&out), ["a", "b", "c", "e"]);
        assert_eq!(out.refused.len(), 1);
        assert_eq!(out.refused[0].0, "d");
        assert!(
            out.refused[0].1.contains("not in plan"),
            "{:?}",
            out.refused
        );
        // [abcde] refused → [ab] ok, [cde] refused → [c] ok, [de] refused → [d] refused,
        // [e] ok: 1 + 2 × ⌈log2 5⌉ calls.
        assert_eq!(out.calls, 7);
        assert!(out.failed.is_none());
    }

    #[tokio::test]
    async fn a_batch_refused_whole_costs_two_n_minus_one_calls() {
        let out = ask(&[], None, &["a", "b", "c", "d"]).await;
        assert!(out.mixes.is_empty());
        assert_eq!(out.refused.len(), 4);
        assert_eq!(out.calls, 7);
        assert!(out.last_refusal.is_some());
    }

    /// The collector's groups: the batch, then each location whose backoff has passed, alone.
    #[tokio::test]
    async fn a_location_asked_alone_costs_one_call_and_never_the_batch() {
        let groups = vec![vec![query("a"), query("b")], vec![query("c")]];
        let out = isolate_refusals(groups, |batch: Vec<LocationQuery>| async move {
            if batch.iter().any(|q| q.id == "c") {
                return Err(guest(ProviderError::Unauthorized("not in plan".into())));
            }
            Ok(checked(Vec::new(), &batch))
        })
        .await;
        assert_eq!(out.calls, 2);
        assert_eq!(out.answered, ["a", "b"]);
        assert_eq!(out.refused.len(), 1);
        assert_eq!(out.refused[0].0, "c");
    }

    #[tokio::test]
    async fn another_error_stops_the_asking() {
        let out = ask(&["a", "b"], Some("c"), &["a", "b", "c", "d"]).await;
        // [abcd] fails (outage, not a refusal): nothing is split.
        assert_eq!(out.calls, 1);
        let (error, unasked) = out.failed.expect("failed");
        assert!(error.to_string().contains("outage"), "{error}");
        assert_eq!(unasked, ["a", "b", "c", "d"]);
    }
}
