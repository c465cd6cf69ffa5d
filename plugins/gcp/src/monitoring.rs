//! CPU utilisation from Cloud Monitoring v3 `projects.timeSeries.list`: one request per
//! project (every page) for `compute.googleapis.com/instance/cpu/utilization`, a 0..1 ratio
//! Google samples every minute and publishes up to 240 s later. The answer is kept in the
//! key-value store for the utilisation interval, so the API, which bills per request, is asked
//! at most once per project per interval, however often the host collects.

use std::collections::BTreeMap;

use carbonaut_sdk::http::encode_component;
use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{ProviderError, log, time};
use serde::{Deserialize, Serialize};

use crate::api::{self, Action};
use crate::config::Config;

const METRIC: &str = "compute.googleapis.com/instance/cpu/utilization";
/// Google publishes a point up to 240 s after it was sampled: the window reaches that far
/// back beyond the interval, so an instance always has a point in it.
const PUBLISH_DELAY_MS: u64 = 240_000;
const MAX_PAGES: u32 = 100;
/// Instances per key-value entry: ~45 bytes each keeps an entry far below the 64 KiB limit.
const CHUNK: usize = 1000;

/// The newest utilisation of one instance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reading {
    pub ratio: f64,
    pub read_at_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    time_series: Vec<TimeSeries>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct TimeSeries {
    resource: MonitoredResource,
    #[serde(default)]
    points: Vec<Point>,
}

#[derive(Deserialize)]
struct MonitoredResource {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Point {
    interval: Interval,
    value: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Interval {
    end_time: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Value {
    #[serde(default)]
    double_value: Option<f64>,
}

/// Utilisation of every instance of `project` by instance id: the cached answer while it is
/// younger than the interval, else a new one. `token` is asked for only on a miss.
pub fn utilization(
    config: &Config,
    token: &dyn Fn() -> Result<String, ProviderError>,
    project: &str,
) -> Result<BTreeMap<String, Reading>, ProviderError> {
    let now = time::now_ms();
    let cache = ExpiringCache::new(config.utilization_ms);
    if let Some(cached) = read_cached(&cache, project, now)? {
        return Ok(cached);
    }
    let fetched = fetch(config, &token()?, project, now)?;
    store(&cache, project, now, &fetched);
    Ok(fetched)
}

fn fetch(
    config: &Config,
    token: &str,
    project: &str,
    now: u64,
) -> Result<BTreeMap<String, Reading>, ProviderError> {
    let who = config.who();
    let action = Action {
        who: &who,
        project,
        action: "monitoring.timeSeries.list",
    };
    let filter = format!(r#"metric.type = "{METRIC}" AND resource.type = "gce_instance""#);
    let start = now.saturating_sub(config.utilization_ms + PUBLISH_DELAY_MS);
    let base = format!(
        "{}/v3/projects/{project}/timeSeries?filter={}&interval.startTime={}&interval.endTime={}\
         &aggregation.alignmentPeriod={}s&aggregation.perSeriesAligner=ALIGN_MEAN&view=FULL",
        config.monitoring_base,
        encode_component(&filter),
        encode_component(&carbonaut_sdk::time::format_rfc3339_ms(start)),
        encode_component(&carbonaut_sdk::time::format_rfc3339_ms(now)),
        config.utilization_ms / 1000,
    );
    let mut readings = BTreeMap::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let url = match &page_token {
            Some(t) => format!("{base}&pageToken={}", encode_component(t)),
            None => base.clone(),
        };
        let page: Page = api::get_json(&url, token, &action)?;
        for series in page.time_series {
            let Some(id) = series.resource.labels.get("instance_id") else {
                continue;
            };
            if let Some(reading) = newest(&series.points) {
                readings.insert(id.clone(), reading);
            }
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            None => return Ok(readings),
            Some(next) => page_token = Some(next),
        }
    }
    Err(ProviderError::Other(format!(
        "{action}: the answer did not end after {MAX_PAGES} pages"
    )))
}

/// The newest point with a value, by its end time.
fn newest(points: &[Point]) -> Option<Reading> {
    points
        .iter()
        .filter_map(|p| {
            let at = time::parse_rfc3339_ms(&p.interval.end_time).ok()?;
            let ratio = p.value.double_value.filter(|v| v.is_finite())?;
            Some(Reading {
                // Rounding aside, a mean of ratios stays in 0..1; clamp what rounding moved.
                ratio: ratio.clamp(0.0, 1.0),
                read_at_ms: at,
            })
        })
        .max_by_key(|r| r.read_at_ms)
}

type Entries = Vec<(String, Reading)>;

/// The cached answer for `project`, if fresh: a header with the number of chunks, then the
/// chunks, all stored at the same time.
fn read_cached(
    cache: &ExpiringCache,
    project: &str,
    now: u64,
) -> Result<Option<BTreeMap<String, Reading>>, ProviderError> {
    let Some(chunks) = cache.get::<usize>(&format!("cpu/{project}"), now)? else {
        return Ok(None);
    };
    let mut all = BTreeMap::new();
    for i in 0..chunks {
        match cache.get::<Entries>(&format!("cpu/{project}/{i}"), now)? {
            Some(entries) => all.extend(entries),
            None => return Ok(None),
        }
    }
    Ok(Some(all))
}

fn store(cache: &ExpiringCache, project: &str, now: u64, readings: &BTreeMap<String, Reading>) {
    let entries: Entries = readings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let chunks: Vec<&[(String, Reading)]> = entries.chunks(CHUNK).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        if cache
            .set(&format!("cpu/{project}/{i}"), now, chunk)
            .is_err()
        {
            log::warn(
                "utilisation could not be cached; the next call asks Cloud Monitoring again",
                &[("project", project)],
            );
            return;
        }
    }
    // The header last: a reader sees chunks only once all are written.
    cache.remember(&format!("cpu/{project}"), now, &chunks.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_point_with_a_value_wins_whatever_the_order() {
        let answer: Page = serde_json::from_str(
            r#"{"timeSeries": [{"resource": {"type": "gce_instance", "labels": {"instance_id": "1"}},
                "points": [
                  {"interval": {"endTime": "2026-12-06T14:00:00Z"}, "value": {"doubleValue": 0.2}},
                  {"interval": {"endTime": "2026-12-06T14:10:00.5Z"}, "value": {}},
                  {"interval": {"endTime": "2026-12-06T14:05:00Z"}, "value": {"doubleValue": 1.0000001}}
                ]}]}"#,
        )
        .expect("a page");
        let reading = newest(&answer.time_series[0].points).expect("a reading");
        assert_eq!(reading.ratio, 1.0, "clamped");
        assert_eq!(
            reading.read_at_ms,
            time::parse_rfc3339_ms("2026-12-06T14:05:00Z").expect("time")
        );
        assert_eq!(answer.next_page_token, None);
    }
}
