//! The plugin's settings, checked once per call: an account's own settings take precedence
//! over the provider's, so one provider can serve several Prometheus servers.

use carbonaut_sdk::{Account, ProviderError, Settings, setting};

use crate::template::Template;
use crate::window;

/// Where the numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A Prometheus server's HTTP query API.
    Query,
    /// Exporters' `/metrics` endpoints, read directly.
    Scrape,
}

/// An exporter whose series the plugin understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Scaphandre,
    Kepler,
    NodeExporter,
    /// NVIDIA's dcgm-exporter: GPUs, a component added to whichever CPU source wins.
    Dcgm,
}

/// The min/max-watts model (Cloud Carbon Footprint's), per vCPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub min_watts_per_vcpu: f64,
    pub max_watts_per_vcpu: f64,
}

impl Estimate {
    /// Average watts of `vcpus` at `utilisation` (0 to 1).
    pub fn watts(&self, vcpus: f64, utilisation: f64) -> f64 {
        vcpus
            * (self.min_watts_per_vcpu
                + utilisation * (self.max_watts_per_vcpu - self.min_watts_per_vcpu))
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// Query mode: the server's base URL, without a trailing `/`. Scrape mode: the endpoints.
    pub urls: Vec<String>,
    pub template: Template,
    /// Energy sources in order of preference, plus node_exporter for utilisation.
    pub sources: Vec<Source>,
    /// Extra label matchers added to every query, e.g. `cluster="prod"`.
    pub selector: Option<String>,
    /// How far back a raw series may have been scraped and still count (PromQL duration).
    pub lookback: String,
    /// The window of `rate()` over node_exporter's CPU seconds (PromQL duration), when the
    /// operator sets one; else four scrape intervals (see `window`).
    pub rate_window: Option<String>,
    pub estimate: Option<Estimate>,
    /// Discovery: only targets of these jobs (all when empty).
    pub jobs: Vec<String>,
    pub bearer_token: Option<String>,
    /// Discovery: the country of the machines found, so their energy can be priced.
    pub country: Option<String>,
}

pub const DEFAULT_LOOKBACK: &str = "2m";

impl Config {
    pub fn from_settings(settings: &Settings, account: &Account) -> Result<Config, ProviderError> {
        let get = |key: &str| {
            setting(&account.settings, key)
                .or_else(|| setting(settings, key))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let bad = |msg: String| ProviderError::BadConfig(msg);
        let mode = match get("mode").unwrap_or("query") {
            "query" => Mode::Query,
            "scrape" => Mode::Scrape,
            other => {
                return Err(bad(format!(
                    "setting `mode` must be `query` (a Prometheus server) or `scrape` (exporters' \
                     /metrics), got `{other}`"
                )));
            }
        };
        let url = get("url").ok_or_else(|| {
            bad(match mode {
                Mode::Query => {
                    "setting `url` is required: the Prometheus server, e.g. http://127.0.0.1:9090"
                        .to_owned()
                }
                Mode::Scrape => "setting `url` is required: the exporter's metrics endpoint, e.g. \
                                 http://127.0.0.1:8080/metrics"
                    .to_owned(),
            })
        })?;
        let urls: Vec<String> = match mode {
            Mode::Query => vec![url.trim_end_matches('/').to_owned()],
            Mode::Scrape => url
                .split([',', ' ', '\n', '\t'])
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        for u in &urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(bad(format!(
                    "setting `url`: `{u}` must start with http:// or https://"
                )));
            }
        }
        let instance_label = get("instance_label").unwrap_or("instance");
        let template_text = get("resource_template")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{{{instance_label}}}"));
        let template = Template::parse(&template_text)
            .map_err(|e| bad(format!("setting `resource_template`: {e}")))?;
        let sources = match get("sources") {
            None => vec![
                Source::Scaphandre,
                Source::Kepler,
                Source::NodeExporter,
                Source::Dcgm,
            ],
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| match s {
                    "scaphandre" => Ok(Source::Scaphandre),
                    "kepler" => Ok(Source::Kepler),
                    "node_exporter" => Ok(Source::NodeExporter),
                    "dcgm" => Ok(Source::Dcgm),
                    other => Err(bad(format!(
                        "setting `sources`: `{other}` is not one of scaphandre, kepler, \
                         node_exporter, dcgm"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if sources.is_empty() {
            return Err(bad("setting `sources` names no source".to_owned()));
        }
        let number = |key: &str| -> Result<Option<f64>, ProviderError> {
            get(key)
                .map(|v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n >= 0.0)
                        .ok_or_else(|| {
                            bad(format!(
                                "setting `{key}` must be a number of watts, 0 or more, got `{v}`"
                            ))
                        })
                })
                .transpose()
        };
        let estimate = match (number("min_watts_per_vcpu")?, number("max_watts_per_vcpu")?) {
            (None, None) => None,
            (Some(min), Some(max)) if min <= max => Some(Estimate {
                min_watts_per_vcpu: min,
                max_watts_per_vcpu: max,
            }),
            (Some(min), Some(max)) => {
                return Err(bad(format!(
                    "setting `min_watts_per_vcpu` ({min}) is above `max_watts_per_vcpu` ({max})"
                )));
            }
            _ => {
                return Err(bad(
                    "settings `min_watts_per_vcpu` and `max_watts_per_vcpu` go together: set both \
                     to estimate power from utilisation, or neither"
                        .to_owned(),
                ));
            }
        };
        if let Some(country) = get("country")
            && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(bad(format!(
                "setting `country` must be an ISO 3166-1 alpha-2 code like `DE`, got `{country}`"
            )));
        }
        let rate_window = get("rate_window")
            .map(|text| match window::parse_duration(text) {
                Some(ms) if ms > 0 => Ok(text.to_owned()),
                _ => Err(bad(format!(
                    "setting `rate_window` is `{text}`: write a Prometheus duration such as `4m` \
                     or `90s`, or remove it to use four scrape intervals"
                ))),
            })
            .transpose()?;
        let jobs = get("jobs")
            .map(|j| {
                j.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Config {
            mode,
            urls,
            template,
            sources,
            selector: get("selector").map(str::to_owned),
            lookback: get("lookback").unwrap_or(DEFAULT_LOOKBACK).to_owned(),
            rate_window,
            estimate,
            jobs,
            bearer_token: get("bearer_token").map(str::to_owned),
            country: get("country").map(str::to_ascii_uppercase),
        })
    }

    pub fn uses(&self, source: Source) -> bool {
        self.sources.contains(&source)
    }
}
