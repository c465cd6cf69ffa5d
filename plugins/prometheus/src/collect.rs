//! One collection: the series the configured sources need, from a Prometheus server (query
//! mode) or straight from exporters (scrape mode), turned into one sample per resource.

use carbonaut_sdk::{ProviderError, ResourceInfo, ResourceSample, log};

use crate::api::Client;
use crate::config::{Config, Mode, Source};
use crate::readings::{NODE_CPU_SECONDS, Readings, raw_families};
use crate::{exposition, fetch, window};

pub fn collect(
    config: &Config,
    resources: &[ResourceInfo],
) -> Result<Vec<ResourceSample>, ProviderError> {
    let readings = match config.mode {
        Mode::Query => query(config)?,
        Mode::Scrape => scrape(config)?,
    };
    let samples: Vec<ResourceSample> = resources
        .iter()
        .filter_map(|r| readings.sample(config, r))
        .collect();
    if samples.len() < resources.len() {
        let missing = (resources.len() - samples.len()).to_string();
        log::debug(
            "resources without a matching series were left out",
            &[("resources", &missing)],
        );
    }
    Ok(samples)
}

fn query(config: &Config) -> Result<Readings, ProviderError> {
    let client = Client::new(&config.urls[0], config.bearer_token.as_deref());
    let extra = config
        .selector
        .as_deref()
        .map(|s| format!(",{s}"))
        .unwrap_or_default();
    let mut readings = Readings::default();
    let families = raw_families(config);
    if !families.is_empty() {
        // A range selector returns raw samples with the times they were scraped, so a
        // sample read twice is recognised as the same reading, not as no energy used.
        let promql = format!(
            "{{__name__=~\"{}\"{extra}}}[{}]",
            families.join("|"),
            config.lookback
        );
        readings.add_raw(&config.template, &client.query(&promql)?);
    }
    if config.uses(Source::NodeExporter) {
        let window = window::choose(&client, config.rate_window.as_deref());
        let promql = format!("rate({NODE_CPU_SECONDS}{{mode=\"idle\"{extra}}}[{window}])");
        readings.add_idle_rates(&config.template, &client.query(&promql)?);
    }
    Ok(readings)
}

fn scrape(config: &Config) -> Result<Readings, ProviderError> {
    let families = raw_families(config);
    if families.is_empty() {
        return Err(ProviderError::BadConfig(
            "scrape mode reads Scaphandre and Kepler endpoints: node_exporter's CPU seconds \
             need two readings and a rate, which query mode gets from Prometheus; add \
             scaphandre or kepler to `sources`, or use mode = \"query\""
                .to_owned(),
        ));
    }
    let mut readings = Readings::default();
    let mut first_error = None;
    let mut read_any = false;
    for url in &config.urls {
        match scrape_one(config, url, &families) {
            Ok(series) => {
                readings.add_raw(&config.template, &series);
                read_any = true;
            }
            // One machine down must not hide the others' readings.
            Err(error) => {
                log::warn(
                    "scraping an endpoint failed",
                    &[("url", url), ("error", &describe(&error))],
                );
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) if !read_any => Err(error),
        _ => Ok(readings),
    }
}

fn scrape_one(
    config: &Config,
    url: &str,
    families: &[&str],
) -> Result<Vec<crate::series::Series>, ProviderError> {
    let response = fetch::get(
        url,
        "scrape",
        "text/plain;version=0.0.4",
        config.bearer_token.as_deref(),
        |_| None,
    )?;
    let text = std::str::from_utf8(&response.body).map_err(|e| {
        ProviderError::Other(format!("the metrics of {url} are not UTF-8 text: {e}"))
    })?;
    let mut series = exposition::parse(text, families, now_ms())
        .map_err(|e| ProviderError::Other(format!("the metrics of {url} are malformed: {e}")))?;
    // What Prometheus does when scraping (`honor_labels: false`, its default): the target's
    // `host:port` becomes `instance`, and an exporter's own `instance` (Kepler 0.7 writes the
    // node's name there) is kept as `exported_instance`. Both modes then key a series alike.
    let authority = url.split_once("://").map_or(url, |(_, rest)| {
        rest.split(['/', '?']).next().unwrap_or(rest)
    });
    for s in &mut series {
        if let Some(own) = s.labels.insert("instance".to_owned(), authority.to_owned()) {
            s.labels.insert("exported_instance".to_owned(), own);
        }
    }
    Ok(series)
}

fn describe(error: &ProviderError) -> String {
    match error {
        ProviderError::BadConfig(m) | ProviderError::Unauthorized(m) | ProviderError::Other(m) => {
            m.clone()
        }
        ProviderError::Unavailable(u) => u.message.clone(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
