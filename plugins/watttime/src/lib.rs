//! watttime: the marginal operating emissions rate (`co2_moer`) of a grid region from the
//! WattTime API v3, converted from lbs/MWh to g/kWh, now and forecast for the next
//! `forecast_hours`. Logs in with basic credentials and keeps the bearer token in the
//! provider's key-value store until it expires; each region's answer is reused for
//! `cache_seconds`, its forecast for WattTime's forecast period. The region is the query's
//! grid zone (a WattTime region code such as `CAISO_NORTH`, mapped in `[environment] zones`),
//! else the `region` setting.

mod api;
mod auth;
mod forecast;

use std::collections::BTreeMap;

use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{
    EnergyMix, Environment, IntensityForecast, LocationQuery, Metadata, Plugin, ProviderError,
    Settings, log, setting, time,
};

use crate::api::Moer;

struct WattTime;

const DEFAULT_BASE_URL: &str = "https://api.watttime.org";
/// WattTime's MOER is a five-minute value: asking more often returns the same number.
const DEFAULT_CACHE_SECONDS: u64 = 300;
/// Hours of forecast asked for by default, and at most (WattTime's longest horizon).
const DEFAULT_FORECAST_HOURS: u64 = 24;
const MAX_FORECAST_HOURS: u64 = 72;

impl Plugin for WattTime {
    fn metadata() -> Metadata {
        Metadata::new(
            "watttime",
            env!("CARGO_PKG_VERSION"),
            "Marginal grid emissions (co2_moer) per WattTime region from the WattTime API v3.",
        )
        .setting("username", "WattTime account name", true)
        .secret_setting("password", "WattTime account password", true)
        .setting(
            "region",
            "WattTime region (for example CAISO_NORTH) for locations without a grid zone",
            false,
        )
        .setting(
            "base_url",
            "API origin (default https://api.watttime.org); must also be in allow_http",
            false,
        )
        .setting(
            "cache_seconds",
            "How long a region's answer is reused (default 300; 0 asks on every collection)",
            false,
        )
        .setting(
            "forecast_hours",
            "Hours of co2_moer forecast asked for, 1 to 72 (default 24)",
            false,
        )
        // The origin comes from `base_url`, so the operator's allow_http decides; see README.
        .needs_http("*")
        .needs_key_value()
    }
}

/// The settings of one call, checked.
pub(crate) struct Config {
    pub username: String,
    pub password: String,
    pub region: Option<String>,
    pub base_url: String,
    pub cache_ms: u64,
    pub forecast_hours: u64,
}

fn required<'a>(
    settings: &'a Settings,
    key: &str,
    example: &str,
) -> Result<&'a str, ProviderError> {
    setting(settings, key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ProviderError::BadConfig(format!(
                "the `{key}` setting is missing: set it, for example {key} = \"{example}\""
            ))
        })
}

impl Config {
    fn from_settings(settings: &Settings) -> Result<Config, ProviderError> {
        let username = required(settings, "username", "my-watttime-user")?;
        let password = required(settings, "password", "${WATTTIME_PASSWORD}")?;
        let base_url = setting(settings, "base_url")
            .unwrap_or(DEFAULT_BASE_URL)
            .trim()
            .trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ProviderError::BadConfig(format!(
                "`base_url` is `{base_url}`: write an origin like {DEFAULT_BASE_URL}"
            )));
        }
        let cache_seconds = match setting(settings, "cache_seconds") {
            None => DEFAULT_CACHE_SECONDS,
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                ProviderError::BadConfig(format!(
                    "`cache_seconds` is `{text}`: write a whole number of seconds, such as 300"
                ))
            })?,
        };
        let forecast_hours = match setting(settings, "forecast_hours") {
            None => DEFAULT_FORECAST_HOURS,
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|h| (1..=MAX_FORECAST_HOURS).contains(h))
                .ok_or_else(|| {
                    ProviderError::BadConfig(format!(
                        "`forecast_hours` is `{text}`: write a whole number of hours from 1 to \
                         {MAX_FORECAST_HOURS}, such as 24"
                    ))
                })?,
        };
        Ok(Config {
            username: username.trim().to_owned(),
            password: password.to_owned(),
            region: setting(settings, "region")
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            base_url: base_url.to_owned(),
            cache_ms: cache_seconds.saturating_mul(1000),
            forecast_hours,
        })
    }
}

impl Environment for WattTime {
    fn collect(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        let config = Config::from_settings(&settings)?;
        let now = time::now_ms();
        // Logged in lazily: a call answered from the cache needs no token.
        let mut session = auth::Session::new(&config, now);
        let mut regions: BTreeMap<String, Option<Moer>> = BTreeMap::new();
        let mut mixes = Vec::new();
        for query in locations {
            let Some((region, _)) = region_of(&query, &config) else {
                log::debug(
                    "location left out: no grid zone and no `region` setting",
                    &[("location", &query.id)],
                );
                continue;
            };
            if !regions.contains_key(region) {
                let answer = region_moer(&config, &mut session, region, now)?;
                regions.insert(region.to_owned(), answer);
            }
            if let Some(Some(moer)) = regions.get(region) {
                mixes.push(moer.to_wit(query.id));
            }
        }
        Ok(mixes)
    }

    /// Each region's co2_moer forecast, asked once per region and call like `collect`, from
    /// the store while WattTime has no newer one (see `forecast.rs`).
    fn forecast(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<IntensityForecast>, ProviderError> {
        let config = Config::from_settings(&settings)?;
        let now = time::now_ms();
        let mut session = auth::Session::new(&config, now);
        let mut regions: BTreeMap<String, Option<forecast::RegionForecast>> = BTreeMap::new();
        let mut forecasts = Vec::new();
        for query in locations {
            let Some((region, own_zone)) = region_of(&query, &config) else {
                continue;
            };
            if !regions.contains_key(region) {
                let answer = forecast::region_forecast(&config, &mut session, region, now)?;
                regions.insert(region.to_owned(), answer);
            }
            let Some(Some(answer)) = regions.get(region) else {
                continue;
            };
            // The zone the API named goes to the host, which refuses a forecast for another
            // zone than the query's. A region from the `region` setting is not the query's
            // zone, so it is checked here instead.
            let zone = if own_zone {
                Some(answer.region.clone())
            } else if answer.region == region {
                None
            } else {
                log::warn(
                    "WattTime forecast another region than the one asked; left out",
                    &[("asked", region), ("answered", &answer.region)],
                );
                continue;
            };
            forecasts.push(answer.to_wit(query.id, zone));
        }
        Ok(forecasts)
    }
}

/// The query's region, and whether it is the query's own grid zone (else the `region`
/// setting).
fn region_of<'a>(query: &'a LocationQuery, config: &'a Config) -> Option<(&'a str, bool)> {
    query
        .grid_zone
        .as_deref()
        .map(str::trim)
        .filter(|z| !z.is_empty())
        .map(|zone| (zone, true))
        .or(config.region.as_deref().map(|region| (region, false)))
}

/// The region's MOER from the cache while fresh, else from the API (then cached); `None` for
/// a region WattTime does not know.
fn region_moer(
    config: &Config,
    session: &mut auth::Session,
    region: &str,
    now: u64,
) -> Result<Option<Moer>, ProviderError> {
    // A region WattTime does not know is cached as `None`, so it is not asked about every time.
    let key = format!("moer/{region}");
    let answers = ExpiringCache::new(config.cache_ms);
    // A denied store is a miss here: the login needs the store too, and says how to grant it.
    if config.cache_ms > 0
        && let Some(cached) = answers.get::<Option<Moer>>(&key, now).ok().flatten()
    {
        if cached.is_none() {
            log::debug("region left out (cached answer)", &[("region", region)]);
        }
        return Ok(cached);
    }
    let answer = match api::forecast_now(config, session, region)? {
        Ok(moer) => Some(moer),
        Err(why) => {
            log::warn(
                "region left out; map the location to a WattTime region in [environment] zones",
                &[("region", region), ("why", &why)],
            );
            None
        }
    };
    if config.cache_ms > 0 {
        answers.remember(&key, now, &answer);
    }
    Ok(answer)
}

carbonaut_sdk::export!(WattTime: environment);
