//! CloudWatch: the latest `CPUUtilization` average of each instance of a region, read with
//! `GetMetricData` in batches of at most 500 queries (the API's limit), ids `m0`, `m1`, … in
//! the order of the instances.
//!
//! The window is the last three complete periods, aligned on the period as CloudWatch
//! recommends (a datapoint arrives a few minutes after its period ends); of each instance the
//! newest datapoint is kept. An instance without one (stopped, just started) has no reading.

use std::collections::BTreeMap;

use carbonaut_sdk::{ProviderError, time};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Service};
use crate::xml;

/// GetMetricData takes at most 500 metric queries a request.
pub const MAX_QUERIES: usize = 500;
/// Basic monitoring's resolution.
pub const PERIOD_SECS: u64 = 300;
/// Periods looked back over.
const WINDOW_PERIODS: u64 = 3;

/// One instance's newest average, percent of its vCPUs, and the start of its period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub percent: f64,
    pub at_ms: u64,
}

/// The newest reading of each of `instances` in `region` that has one, at `now_ms`.
pub fn cpu_utilisation(
    client: &Client<'_>,
    region: &str,
    instances: &[String],
    now_ms: u64,
) -> Result<BTreeMap<String, Reading>, ProviderError> {
    let period_ms = PERIOD_SECS * 1000;
    let end = now_ms / period_ms * period_ms;
    let start = end.saturating_sub(WINDOW_PERIODS * period_ms);
    let mut readings = BTreeMap::new();
    for batch in instances.chunks(MAX_QUERIES) {
        let mut params = vec![
            (
                "StartTime".to_owned(),
                carbonaut_sdk::time::format_rfc3339_ms(start),
            ),
            (
                "EndTime".to_owned(),
                carbonaut_sdk::time::format_rfc3339_ms(end),
            ),
            ("ScanBy".to_owned(), "TimestampDescending".to_owned()),
        ];
        for (i, id) in batch.iter().enumerate() {
            let q = format!("MetricDataQueries.member.{}", i + 1);
            let m = format!("{q}.MetricStat.Metric");
            params.extend([
                (format!("{q}.Id"), format!("m{i}")),
                (format!("{m}.Namespace"), "AWS/EC2".to_owned()),
                (format!("{m}.MetricName"), "CPUUtilization".to_owned()),
                (
                    format!("{m}.Dimensions.member.1.Name"),
                    "InstanceId".to_owned(),
                ),
                (format!("{m}.Dimensions.member.1.Value"), id.clone()),
                (format!("{q}.MetricStat.Period"), PERIOD_SECS.to_string()),
                (format!("{q}.MetricStat.Stat"), "Average".to_owned()),
                (format!("{q}.ReturnData"), "true".to_owned()),
            ]);
        }
        let mut token: Option<String> = None;
        loop {
            let mut page = params.clone();
            if let Some(token) = &token {
                page.push(("NextToken".to_owned(), token.clone()));
            }
            let text = client.call(Service::CloudWatch, region, "GetMetricData", &page)?;
            let next = parse(&text, batch, &mut readings).map_err(|e| {
                ProviderError::Other(format!(
                    "account `{}`, region `{region}`, monitoring:GetMetricData: {e}",
                    client.account()
                ))
            })?;
            match next {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => break,
            }
        }
    }
    Ok(readings)
}

/// Adds the newest datapoint of each result to `readings`; the next page's token.
fn parse(
    text: &str,
    batch: &[String],
    readings: &mut BTreeMap<String, Reading>,
) -> Result<Option<String>, String> {
    let doc = xml::parse(text, "the answer")?;
    let result =
        xml::child(doc.root_element(), "GetMetricDataResult").ok_or("no GetMetricDataResult")?;
    for member in xml::entries(result, "MetricDataResults") {
        let Some(id) = xml::text(member, "Id") else {
            continue;
        };
        let Some(instance) = id
            .strip_prefix('m')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| batch.get(n))
        else {
            return Err(format!("a result for `{id}`, which was not asked"));
        };
        let times = xml::entries(member, "Timestamps").map(|t| t.text().unwrap_or_default());
        let values = xml::entries(member, "Values").map(|v| v.text().unwrap_or_default());
        for (at, value) in times.zip(values) {
            let at_ms = time::parse_rfc3339_ms(at.trim())
                .map_err(|e| format!("timestamp `{at}`: {e:?}"))?;
            let percent: f64 = value
                .trim()
                .parse()
                .map_err(|_| format!("value `{value}` is not a number"))?;
            let newer = readings
                .get(instance)
                .is_none_or(|r: &Reading| at_ms > r.at_ms);
            if newer && percent.is_finite() {
                readings.insert(instance.clone(), Reading { percent, at_ms });
            }
        }
    }
    Ok(xml::text(result, "NextToken").map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_datapoint_of_each_instance() {
        let answer = r#"<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricDataResult><MetricDataResults>
<member><Id>m1</Id><Timestamps><member>2026-12-06T14:10:00Z</member><member>2026-12-06T14:05:00Z</member></Timestamps><Values><member>12.5</member><member>90</member></Values><StatusCode>Complete</StatusCode></member>
<member><Id>m0</Id><Timestamps/><Values/><StatusCode>Complete</StatusCode></member>
</MetricDataResults><NextToken>t</NextToken></GetMetricDataResult></GetMetricDataResponse>"#;
        let batch = ["i-a".to_owned(), "i-b".to_owned()];
        let mut readings = BTreeMap::new();
        let next = parse(answer, &batch, &mut readings).expect("parse");
        assert_eq!(next.as_deref(), Some("t"));
        assert_eq!(readings.len(), 1);
        assert_eq!(
            readings["i-b"],
            Reading {
                percent: 12.5,
                at_ms: time::parse_rfc3339_ms("2026-12-06T14:10:00Z").expect("time")
            }
        );
        let stray = answer.replace("<Id>m1</Id>", "<Id>m7</Id>");
        assert!(parse(&stray, &batch, &mut BTreeMap::new()).is_err());
    }
}
