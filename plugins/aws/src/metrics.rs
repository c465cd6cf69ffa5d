//! resource-metrics: each running instance's CPU utilisation, from CloudWatch at most once per
//! `utilisation_interval` for the same instances.
//!
//! Instances are grouped by region and cut into batches of 500 (one GetMetricData request
//! each); a batch's answer is kept in the key-value store for the interval, keyed by account,
//! region and the batch's instance ids, and served again until it expires. A stopped instance
//! is not asked about (it has no utilisation, and each metric read is billed). A region that
//! fails leaves its instances out of this answer; the call fails only when every region did.
//! Only instances this plugin's discovery listed are read: the `state` label and the region
//! come from there.

use std::collections::BTreeMap;

use carbonaut_sdk::kv::{ExpiringCache, StoreError};
use carbonaut_sdk::{ProviderError, ResourceInfo, ResourceSample, log, time};
use sha2::{Digest, Sha256};

use crate::cloudwatch::{self, MAX_QUERIES, Reading};
use crate::settings::Config;
use crate::sigv4::hex;
use crate::with_client;

/// Time a call may spend before it asks no more regions: one request that hangs (4 s) still
/// fits in the host's 10 s deadline after it.
const TIME_BUDGET_MS: u64 = 5_000;

/// A batch's readings as stored: which instances were asked (a digest of their ids) and
/// `[instance, percent, at_ms]` of those that had a reading, compact so that 500 fit well
/// within a value's 64 KiB. One key per account, region and batch number: a new instance
/// replaces its batch's entry rather than adding keys until the namespace's 1 MiB is full.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    asked: String,
    readings: Vec<(String, f64, u64)>,
}

pub fn collect(
    config: &Config,
    resources: &[ResourceInfo],
    now: u64,
) -> Result<Vec<ResourceSample>, ProviderError> {
    let cache = ExpiringCache::new(config.utilisation_interval_ms);
    // Regions in the order the batch first names them, so that the time budget cuts the same
    // ones each time.
    let mut by_region: Vec<(&str, Vec<String>)> = Vec::new();
    for resource in resources {
        let running = resource
            .labels
            .iter()
            .any(|(k, v)| k == "state" && v == "running");
        let Some(region) = resource.location.region.as_deref().filter(|_| running) else {
            continue;
        };
        match by_region.iter_mut().find(|(r, _)| *r == region) {
            Some((_, ids)) => ids.push(resource.id.clone()),
            None => by_region.push((region, vec![resource.id.clone()])),
        }
    }
    let mut readings: BTreeMap<String, Reading> = BTreeMap::new();
    let mut failures = Vec::new();
    for (region, mut ids) in by_region {
        ids.sort();
        ids.dedup();
        for (number, batch) in ids.chunks(MAX_QUERIES).enumerate() {
            let (key, asked) = cache_key(config, region, number, batch);
            match cache.get::<Stored>(&key, now) {
                Ok(Some(stored)) if stored.asked == asked => {
                    readings.extend(
                        stored
                            .readings
                            .into_iter()
                            .map(|(id, percent, at_ms)| (id, Reading { percent, at_ms })),
                    );
                    continue;
                }
                Ok(_) => {}
                Err(StoreError::Denied(_)) => {
                    return Err(ProviderError::BadConfig(format!(
                        "account `{}`: grant the key-value store (key_value = true): the plugin \
                         keeps CloudWatch's answers for utilisation_interval, which bills \
                         every read",
                        config.account
                    )));
                }
                Err(other) => return Err(other.into()),
            }
            // The host stops a call after 10 s: rather than lose every answer to a region that
            // hangs, later regions wait for the next collection once the budget is spent.
            let spent = time::now_ms().saturating_sub(now);
            if spent > TIME_BUDGET_MS {
                log::warn(
                    "no time left in this call for a region; it is read at the next collection",
                    &[
                        ("account", &config.account),
                        ("region", region),
                        ("spent_ms", &spent.to_string()),
                    ],
                );
                continue;
            }
            let fetched = with_client(config, "collect", |client| {
                cloudwatch::cpu_utilisation(client, region, batch, now)
            });
            match fetched {
                Ok(fetched) => {
                    let stored = Stored {
                        asked,
                        readings: fetched
                            .iter()
                            .map(|(id, r)| (id.clone(), r.percent, r.at_ms))
                            .collect(),
                    };
                    cache.remember(&key, now, &stored);
                    readings.extend(fetched);
                }
                Err(error) => {
                    log::warn(
                        "CloudWatch did not answer for a region; its instances have no reading \
                         this time",
                        &[
                            ("account", &config.account),
                            ("region", region),
                            ("error", &format!("{error:?}")),
                        ],
                    );
                    failures.push(error);
                }
            }
        }
    }
    if readings.is_empty()
        && let Some(first) = failures.into_iter().next()
    {
        return Err(first);
    }
    Ok(readings
        .into_iter()
        .map(|(id, reading)| ResourceSample {
            components: Vec::new(),
            resource_id: id,
            energy_joules: None,
            power_watts: None,
            cpu_frequency_hertz: None,
            cpu_utilization_ratio: Some((reading.percent / 100.0).clamp(0.0, 1.0)),
            read_at: reading.at_ms,
            estimated: false,
        })
        .collect())
}

/// The batch's key, and the digest of the instances it asks about.
fn cache_key(config: &Config, region: &str, number: usize, batch: &[String]) -> (String, String) {
    let account = Sha256::digest(config.account.as_bytes());
    let mut asked = Sha256::new();
    for id in batch {
        asked.update(id.as_bytes());
        asked.update(b"\n");
    }
    (
        format!("cw/{}/{region}/{number}", hex(&account[..8])),
        hex(&asked.finalize()[..16]),
    )
}
