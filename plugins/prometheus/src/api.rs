//! The Prometheus HTTP API (`/api/v1/query`, `/api/v1/targets`): requests, the JSON envelope
//! `{"status", "data", "errorType", "error"}`, and its error statuses mapped to provider errors.

use carbonaut_sdk::ProviderError;
use carbonaut_sdk::http::encode_component;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::fetch;
use crate::series::Series;
use crate::template::Labels;

pub struct Client<'a> {
    base: &'a str,
    bearer_token: Option<&'a str>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// `[unix seconds, "value"]`: Prometheus writes values as strings so NaN and ±Inf survive.
type Point = (f64, String);

#[derive(Deserialize)]
struct VectorItem {
    metric: Labels,
    value: Point,
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: Labels,
    values: Vec<Point>,
}

#[derive(Deserialize)]
struct TargetsData {
    #[serde(rename = "activeTargets")]
    active_targets: Vec<Target>,
}

/// One active scrape target; its `labels` are those its series carry (`job`, `instance`, ...).
#[derive(Deserialize)]
pub struct Target {
    pub labels: Labels,
    /// How often the target is scraped (a Prometheus duration); servers before 2.30 and some
    /// compatible ones leave it out.
    #[serde(rename = "scrapeInterval", default)]
    pub scrape_interval: Option<String>,
}

#[derive(Deserialize)]
struct ConfigData {
    yaml: String,
}

impl<'a> Client<'a> {
    pub fn new(base: &'a str, bearer_token: Option<&'a str>) -> Self {
        Client { base, bearer_token }
    }

    /// Runs an instant query. A vector gives each series' value at the evaluation time; a
    /// range selector's matrix gives each series' last raw sample, at the time it was scraped.
    pub fn query(&self, promql: &str) -> Result<Vec<Series>, ProviderError> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.base,
            encode_component(promql)
        );
        let data: QueryData = self.get(&url, &format!("query `{promql}`"))?;
        let malformed = |what: String| {
            ProviderError::Other(format!(
                "the answer of {} to query `{promql}` is malformed: {what}",
                self.base
            ))
        };
        let mut out = Vec::new();
        match data.result_type.as_str() {
            "vector" => {
                let items: Vec<VectorItem> = serde_json::from_value(data.result)
                    .map_err(|e| malformed(format!("data.result: {e}")))?;
                for item in items {
                    out.push(series(item.metric, &item.value).map_err(&malformed)?);
                }
            }
            "matrix" => {
                let items: Vec<MatrixItem> = serde_json::from_value(data.result)
                    .map_err(|e| malformed(format!("data.result: {e}")))?;
                for item in items {
                    if let Some(last) = item.values.last() {
                        out.push(series(item.metric, last).map_err(&malformed)?);
                    }
                }
            }
            other => {
                return Err(malformed(format!(
                    "data.resultType is `{other}`, expected a vector or a matrix"
                )));
            }
        }
        Ok(out)
    }

    /// The server's active scrape targets.
    pub fn targets(&self) -> Result<Vec<Target>, ProviderError> {
        let url = format!("{}/api/v1/targets?state=active", self.base);
        let data: TargetsData = self.get(&url, "the targets")?;
        Ok(data.active_targets)
    }

    /// The server's loaded configuration, as the YAML Prometheus writes back.
    pub fn config_yaml(&self) -> Result<String, ProviderError> {
        let url = format!("{}/api/v1/status/config", self.base);
        let data: ConfigData = self.get(&url, "the configuration")?;
        Ok(data.yaml)
    }

    fn get<T: DeserializeOwned>(&self, url: &str, what: &str) -> Result<T, ProviderError> {
        let response = fetch::get(url, what, "application/json", self.bearer_token, |body| {
            let e: ErrorBody = serde_json::from_slice(body).ok()?;
            Some(format!(
                "{} ({})",
                e.error?,
                e.error_type.as_deref().unwrap_or("error")
            ))
        })?;
        let envelope: Envelope<T> = serde_json::from_slice(&response.body).map_err(|e| {
            ProviderError::Other(format!(
                "the answer of {} for {what} is not the API's JSON ({e}): {}",
                self.base,
                response.excerpt()
            ))
        })?;
        if envelope.status != "success" {
            let message = format!(
                "{} refused {what}: {} ({})",
                self.base,
                envelope.error.as_deref().unwrap_or("no error message"),
                envelope.error_type.as_deref().unwrap_or("no error type")
            );
            return Err(match envelope.error_type.as_deref() {
                Some("timeout" | "canceled" | "unavailable") => {
                    ProviderError::Unavailable(carbonaut_sdk::UnavailableError {
                        message,
                        retry_after_ms: None,
                    })
                }
                Some("bad_data" | "execution") => ProviderError::BadConfig(message),
                _ => ProviderError::Other(message),
            });
        }
        envelope.data.ok_or_else(|| {
            ProviderError::Other(format!(
                "the answer of {} for {what} has status success but no data",
                self.base
            ))
        })
    }
}

fn series(labels: Labels, (at, value): &Point) -> Result<Series, String> {
    let number = value
        .parse::<f64>()
        .map_err(|_| format!("the value `{value}` of series {labels:?} is not a number"))?;
    if !at.is_finite() || *at < 0.0 {
        return Err(format!(
            "the timestamp {at} of series {labels:?} is not a time"
        ));
    }
    Ok(Series {
        labels,
        value: number,
        at_ms: (at * 1000.0).round() as u64,
    })
}
