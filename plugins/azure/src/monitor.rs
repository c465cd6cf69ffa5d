//! CPU utilisation from Azure Monitor: `Percentage CPU` of every VM of a subscription in one
//! region with one request (`Metrics - List At Subscription Scope`, api-version 2023-10-01,
//! `region`, `metricnamespace=microsoft.compute/virtualmachines`, split by the
//! `Microsoft.ResourceId` dimension), rather than one request per VM: the API bills and
//! throttles per request, and a call of 1 000 VMs could not make 1 000 requests within the
//! host's deadline. The answer is kept in the key-value store for the utilisation interval.

use std::collections::BTreeMap;

use carbonaut_sdk::http::encode_component;
use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{ProviderError, log, time};
use serde::{Deserialize, Serialize};

use crate::api::{self, Action};
use crate::config::Config;

const METRICS_API: &str = "2023-10-01";
/// Azure publishes a minute's platform metrics within about three minutes: the window reaches
/// that far back beyond the interval, so a VM always has a point in it.
const PUBLISH_DELAY_MS: u64 = 180_000;
/// Series per answer: the API's default `top` is 10.
const TOP: u32 = 5_000;
/// Readings per key-value entry: ~120 bytes each keeps an entry below the 64 KiB limit.
const CHUNK: usize = 400;

/// The newest utilisation of one VM.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reading {
    pub ratio: f64,
    pub read_at_ms: u64,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    value: Vec<Metric>,
}

#[derive(Deserialize)]
struct Metric {
    #[serde(default)]
    timeseries: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metadatavalues: Vec<MetadataValue>,
    #[serde(default)]
    data: Vec<Point>,
}

#[derive(Deserialize)]
struct MetadataValue {
    name: Name,
    value: String,
}

#[derive(Deserialize)]
struct Name {
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Point {
    time_stamp: String,
    #[serde(default)]
    average: Option<f64>,
}

/// The ISO 8601 grain for an interval: the largest Azure offers that is not longer.
fn grain(interval_ms: u64) -> &'static str {
    match interval_ms / 1000 {
        ..300 => "PT1M",
        300..900 => "PT5M",
        900..1800 => "PT15M",
        1800..3600 => "PT30M",
        _ => "PT1H",
    }
}

/// Utilisation by lower-case ARM resource id of every VM of `subscription` in `region`: the
/// cached answer while younger than the interval, else a new one.
pub fn utilization(
    config: &Config,
    token: &dyn Fn() -> Result<String, ProviderError>,
    subscription: &str,
    region: &str,
) -> Result<BTreeMap<String, Reading>, ProviderError> {
    let now = time::now_ms();
    let cache = ExpiringCache::new(config.utilization_ms);
    let key = format!("cpu/{subscription}/{region}");
    if let Some(cached) = read_cached(&cache, &key, now)? {
        return Ok(cached);
    }
    let fetched = fetch(config, &token()?, subscription, region, now)?;
    store(&cache, &key, now, &fetched);
    Ok(fetched)
}

fn fetch(
    config: &Config,
    token: &str,
    subscription: &str,
    region: &str,
    now: u64,
) -> Result<BTreeMap<String, Reading>, ProviderError> {
    let who = config.who();
    let what = format!("Microsoft.Insights/metrics/read (Percentage CPU in {region})");
    let action = Action {
        who: &who,
        subscription,
        action: &what,
    };
    let start = now.saturating_sub(config.utilization_ms + PUBLISH_DELAY_MS);
    let url = format!(
        "{}/subscriptions/{subscription}/providers/Microsoft.Insights/metrics?api-version={METRICS_API}\
         &region={}&metricnamespace=microsoft.compute%2Fvirtualmachines&metricnames=Percentage%20CPU\
         &aggregation=average&interval={}&timespan={}&%24filter={}&top={TOP}",
        config.management_base,
        encode_component(region),
        grain(config.utilization_ms),
        encode_component(&format!(
            "{}/{}",
            carbonaut_sdk::time::format_rfc3339_ms(start),
            carbonaut_sdk::time::format_rfc3339_ms(now)
        )),
        encode_component("Microsoft.ResourceId eq '*'"),
    );
    let answer: Answer = api::get_json(&url, token, &action)?;
    let mut readings = BTreeMap::new();
    for series in answer.value.into_iter().flat_map(|m| m.timeseries) {
        let Some(id) = series
            .metadatavalues
            .iter()
            .find(|m| m.name.value.eq_ignore_ascii_case("Microsoft.ResourceId"))
        else {
            continue;
        };
        if let Some(reading) = newest(&series.data) {
            readings.insert(id.value.to_ascii_lowercase(), reading);
        }
    }
    Ok(readings)
}

/// The newest point with an average (the current grain has none yet).
fn newest(points: &[Point]) -> Option<Reading> {
    points
        .iter()
        .filter_map(|p| {
            let at = time::parse_rfc3339_ms(&p.time_stamp).ok()?;
            let percent = p.average.filter(|v| v.is_finite())?;
            Some(Reading {
                ratio: (percent / 100.0).clamp(0.0, 1.0),
                read_at_ms: at,
            })
        })
        .max_by_key(|r| r.read_at_ms)
}

type Entries = Vec<(String, Reading)>;

fn read_cached(
    cache: &ExpiringCache,
    key: &str,
    now: u64,
) -> Result<Option<BTreeMap<String, Reading>>, ProviderError> {
    let Some(chunks) = cache.get::<usize>(key, now)? else {
        return Ok(None);
    };
    let mut all = BTreeMap::new();
    for i in 0..chunks {
        match cache.get::<Entries>(&format!("{key}/{i}"), now)? {
            Some(entries) => all.extend(entries),
            None => return Ok(None),
        }
    }
    Ok(Some(all))
}

fn store(cache: &ExpiringCache, key: &str, now: u64, readings: &BTreeMap<String, Reading>) {
    let entries: Entries = readings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let chunks: Vec<&[(String, Reading)]> = entries.chunks(CHUNK).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        if cache.set(&format!("{key}/{i}"), now, chunk).is_err() {
            log::warn(
                "utilisation could not be cached; the next call asks Azure Monitor again",
                &[("key", key)],
            );
            return;
        }
    }
    // The header last: a reader sees chunks only once all are written.
    cache.remember(key, now, &chunks.len());
}

/// The lower-case ARM id of a VM, as the `Microsoft.ResourceId` dimension names it.
pub fn arm_id(subscription: &str, group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourcegroups/{group}/providers/microsoft.compute/virtualmachines/{name}"
    )
    .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grain_is_the_largest_not_longer_than_the_interval() {
        assert_eq!(grain(60_000), "PT1M");
        assert_eq!(grain(299_000), "PT1M");
        assert_eq!(grain(300_000), "PT5M");
        assert_eq!(grain(900_000), "PT15M");
        assert_eq!(grain(3_600_000), "PT1H");
        assert_eq!(grain(86_400_000), "PT1H");
    }

    #[test]
    fn arm_ids_are_compared_in_lower_case() {
        assert_eq!(
            arm_id("S", "RG-Web", "Vm1"),
            "/subscriptions/s/resourcegroups/rg-web/providers/microsoft.compute/virtualmachines/vm1"
        );
    }

    #[test]
    fn the_newest_point_with_an_average_wins() {
        let point = |t: &str, average| Point {
            time_stamp: t.to_owned(),
            average,
        };
        let points = [
            point("2026-12-06T14:00:00Z", Some(10.0)),
            point("2026-12-06T14:05:00Z", Some(150.0)),
            point("2026-12-06T14:10:00Z", None),
        ];
        let newest = newest(&points).expect("a reading");
        // Over 100 % (rounding in Azure's aggregation) is clamped to a ratio of 1.
        assert_eq!(newest.ratio, 1.0);
        assert_eq!(
            newest.read_at_ms,
            time::parse_rfc3339_ms("2026-12-06T14:05:00Z").expect("time")
        );
    }
}
