//! Compute Engine v1: every instance of a project from `instances.aggregatedList` (all zones,
//! page by page with `nextPageToken`), and the vCPUs and memory of each machine type from
//! `machineTypes.get`, cached a day per zone and type (custom types are read from their name).

use std::collections::BTreeMap;

use carbonaut_sdk::http::encode_component;
use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{ProviderError, log, time};
use serde::{Deserialize, Serialize};

use crate::api::{self, Action};
use crate::config::Config;

/// A listing that keeps going is a server bug, not a big project: 200 pages of 500 are
/// 100 000 instances, more than a project's quota allows.
const MAX_PAGES: u32 = 200;
/// Machine types do not change: a day keeps one request per type and zone a day.
const MACHINE_TYPE_CACHE_MS: u64 = 86_400_000;

/// One page of `instances.aggregatedList`: `items` keyed by scope (`zones/us-central1-a`),
/// each holding `instances` or a `warning` (`NO_RESULTS_ON_PAGE`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregatedPage {
    #[serde(default)]
    items: BTreeMap<String, ScopedList>,
    #[serde(default)]
    next_page_token: Option<String>,
    /// Scopes that could not be listed (with `returnPartialSuccess=true`).
    #[serde(default)]
    unreachables: Vec<String>,
}

#[derive(Deserialize)]
struct ScopedList {
    #[serde(default)]
    instances: Vec<Instance>,
}

/// An instance, with the fields the plugin uses.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// A uint64 sent as a string.
    pub id: String,
    pub name: String,
    /// A URL ending in `zones/us-central1-a`.
    pub zone: String,
    /// A URL ending in `zones/us-central1-a/machineTypes/n2-standard-4`.
    pub machine_type: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub cpu_platform: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// GPUs attached to the instance.
    #[serde(default)]
    pub guest_accelerators: Vec<Accelerator>,
}

/// `{"acceleratorType": ".../acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 1}`.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Accelerator {
    pub accelerator_type: String,
    #[serde(default)]
    pub accelerator_count: u32,
}

impl Instance {
    /// `us-central1-a`.
    pub fn zone_name(&self) -> &str {
        last_segment(&self.zone)
    }

    /// `n2-standard-4`.
    pub fn machine_type_name(&self) -> &str {
        last_segment(&self.machine_type)
    }

    /// The number of GPUs and their type (`nvidia-tesla-t4`): from `guestAccelerators`; none
    /// listed is 0 GPUs, except for the accelerator-optimized families (A2, A3, A4, G2), whose
    /// GPUs come with the machine type: unknown there.
    pub fn gpus(&self) -> (Option<u32>, Option<String>) {
        if let Some(first) = self.guest_accelerators.first() {
            let count = self
                .guest_accelerators
                .iter()
                .map(|a| a.accelerator_count)
                .sum();
            return (
                Some(count),
                Some(last_segment(&first.accelerator_type).to_owned()),
            );
        }
        let family = self
            .machine_type_name()
            .split('-')
            .next()
            .unwrap_or_default();
        if matches!(family, "a2" | "a3" | "a4" | "g2") {
            (None, None)
        } else {
            (Some(0), None)
        }
    }
}

fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// What a machine type gives an instance.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineType {
    pub guest_cpus: u32,
    pub memory_mb: u64,
}

/// Every instance of `project`, across zones and pages.
pub fn instances(
    config: &Config,
    token: &str,
    project: &str,
) -> Result<Vec<Instance>, ProviderError> {
    let who = config.who();
    let action = Action {
        who: &who,
        project,
        action: "compute.instances.aggregatedList",
    };
    let mut instances = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!(
            "{}/compute/v1/projects/{project}/aggregated/instances?maxResults={}&returnPartialSuccess=true",
            config.compute_base, config.page_size
        );
        if let Some(t) = &page_token {
            url.push_str(&format!("&pageToken={}", encode_component(t)));
        }
        let page: AggregatedPage = api::get_json(&url, token, &action)?;
        for scope in page.items.into_values() {
            instances.extend(scope.instances);
        }
        if !page.unreachables.is_empty() {
            log::warn(
                "some zones could not be listed; their instances are missing this time",
                &[
                    ("project", project),
                    ("unreachable", &page.unreachables.join(",")),
                ],
            );
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            None => return Ok(instances),
            Some(next) if Some(&next) == page_token.as_ref() => {
                return Err(ProviderError::Other(format!(
                    "{action}: nextPageToken repeats; the listing would never end"
                )));
            }
            Some(next) => page_token = Some(next),
        }
    }
    Err(ProviderError::Other(format!(
        "{action}: the listing did not end after {MAX_PAGES} pages"
    )))
}

/// The vCPUs and memory of `instance`'s machine type: from its name for a custom type, else
/// from the cache, else from `machineTypes.get`. `None` (logged) when the API does not know it.
pub fn machine_type(
    config: &Config,
    token: &str,
    project: &str,
    instance: &Instance,
) -> Result<Option<MachineType>, ProviderError> {
    let name = instance.machine_type_name();
    if let Some(custom) = parse_custom(name) {
        return Ok(Some(custom));
    }
    let zone = instance.zone_name();
    let cache = ExpiringCache::new(MACHINE_TYPE_CACHE_MS);
    let key = format!("machine-type/{zone}/{name}");
    let now = time::now_ms();
    if let Some(known) = cache.get::<MachineType>(&key, now)? {
        return Ok(Some(known));
    }
    let who = config.who();
    let action = Action {
        who: &who,
        project,
        action: "compute.machineTypes.get",
    };
    let url = format!(
        "{}/compute/v1/projects/{project}/zones/{}/machineTypes/{}",
        config.compute_base,
        encode_component(zone),
        encode_component(name)
    );
    match api::get_json::<MachineType>(&url, token, &action) {
        Ok(found) => {
            cache.remember(&key, now, &found);
            Ok(Some(found))
        }
        // A type the API no longer lists (retired): the instance is kept without its size.
        Err(ProviderError::BadConfig(message)) => {
            log::warn(
                "machine type unknown; instance listed without vCPUs and memory",
                &[("error", &message)],
            );
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// `custom-4-16384`, `n2-custom-8-32768`, `n2d-custom-2-4096-ext` (extended memory): vCPUs and
/// MiB are the two numbers after `custom-`. Shared-core custom types
/// (`e2-custom-micro-2048`) have no vCPU count in the name: `None`, asked of the API.
pub fn parse_custom(name: &str) -> Option<MachineType> {
    let (_, rest) = name.split_once("custom-")?;
    let rest = rest.strip_suffix("-ext").unwrap_or(rest);
    let (cpus, memory) = rest.split_once('-')?;
    Some(MachineType {
        guest_cpus: cpus.parse().ok()?,
        memory_mb: memory.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_types_are_read_from_their_names() {
        let t = |c, m| {
            Some(MachineType {
                guest_cpus: c,
                memory_mb: m,
            })
        };
        assert_eq!(parse_custom("custom-4-16384"), t(4, 16384));
        assert_eq!(parse_custom("n2-custom-8-32768"), t(8, 32768));
        assert_eq!(parse_custom("n2d-custom-2-4096-ext"), t(2, 4096));
        assert_eq!(parse_custom("e2-custom-micro-2048"), None);
        assert_eq!(parse_custom("n2-standard-4"), None);
    }
}
