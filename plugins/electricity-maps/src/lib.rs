//! electricity-maps: live carbon intensity, emission factor type, estimation flag and energy
//! mix per grid zone from the Electricity Maps API v3, and its hourly carbon-intensity
//! forecast. Each zone's answer is cached in the provider's key-value store for
//! `cache_seconds`, its forecast for an hour, so a short collection interval does not turn
//! into a long API bill. The zone is the query's grid zone, else its country.

mod answered;
mod api;
mod forecast;
mod parse;

use std::collections::BTreeMap;

use carbonaut_sdk::kv::{ExpiringCache, StoreError};
use carbonaut_sdk::{
    EnergyMix, Environment, IntensityForecast, LocationQuery, Metadata, Plugin, ProviderError,
    Settings, log, setting, time,
};

use crate::api::Answer;
use crate::parse::ZoneMix;

struct ElectricityMaps;

const DEFAULT_BASE_URL: &str = "https://api.electricitymap.org";
/// Electricity Maps publishes a new hourly value at most every few minutes; five minutes of
/// reuse loses nothing a Prometheus graph would show and divides a 10 s interval's calls by 30.
const DEFAULT_CACHE_SECONDS: u64 = 300;

impl Plugin for ElectricityMaps {
    fn metadata() -> Metadata {
        Metadata::new(
            "electricity-maps",
            env!("CARGO_PKG_VERSION"),
            "Live grid carbon intensity and energy mix per zone from the Electricity Maps API v3.",
        )
        .secret_setting(
            "api_token",
            "Electricity Maps API token, sent in the `auth-token` header",
            true,
        )
        .setting(
            "base_url",
            "API origin (default https://api.electricitymap.org); must also be in allow_http",
            false,
        )
        .setting(
            "cache_seconds",
            "How long a zone's answer is reused from the key-value store (default 300; 0 turns \
             the cache off)",
            false,
        )
        .setting(
            "emission_factor",
            "`lifecycle` or `direct`: asked of the API as emissionFactorType (default: the \
             API's own, lifecycle)",
            false,
        )
        // The origin comes from `base_url`, so the operator's allow_http decides; see README.
        .needs_http("*")
        .needs_key_value()
    }
}

/// The settings of one call, checked.
pub(crate) struct Config {
    pub token: String,
    pub base_url: String,
    pub cache_ms: u64,
    pub emission_factor: Option<&'static str>,
}

impl Config {
    fn from_settings(settings: &Settings) -> Result<Config, ProviderError> {
        let token = setting(settings, "api_token")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ProviderError::BadConfig(
                    "the `api_token` setting is missing: set it to your Electricity Maps API \
                     token, for example api_token = \"${ELECTRICITY_MAPS_TOKEN}\""
                        .into(),
                )
            })?;
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
        let emission_factor = match setting(settings, "emission_factor").map(str::trim) {
            None | Some("") => None,
            Some("lifecycle") => Some("lifecycle"),
            Some("direct") => Some("direct"),
            Some(other) => {
                return Err(ProviderError::BadConfig(format!(
                    "`emission_factor` is `{other}`: write `lifecycle` or `direct`"
                )));
            }
        };
        Ok(Config {
            token: token.to_owned(),
            base_url: base_url.to_owned(),
            cache_ms: cache_seconds.saturating_mul(1000),
            emission_factor,
        })
    }
}

/// The zone to ask for: the operator's mapping first, then the country code.
fn zone_of(query: &LocationQuery) -> Option<&str> {
    query
        .grid_zone
        .as_deref()
        .or(query.location.country.as_deref())
        .map(str::trim)
        .filter(|z| !z.is_empty())
}

impl Environment for ElectricityMaps {
    fn collect(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        let config = Config::from_settings(&settings)?;
        let now = time::now_ms();
        // Several locations often share a zone: ask once per zone and call.
        let mut zones: BTreeMap<String, Option<ZoneMix>> = BTreeMap::new();
        let mut mixes = Vec::new();
        for query in locations {
            let Some(zone) = zone_of(&query) else {
                log::debug(
                    "location left out: it has neither a grid zone nor a country",
                    &[("location", &query.id)],
                );
                continue;
            };
            if !zones.contains_key(zone) {
                let answer = zone_mix(&config, zone, now)?;
                zones.insert(zone.to_owned(), answer);
            }
            if let Some(Some(mix)) = zones.get(zone) {
                mixes.push(mix.to_wit(query.id));
            }
        }
        Ok(mixes)
    }

    /// Each zone's forecast, asked once per zone and call like `collect`, from the store while
    /// it is under an hour old (see `forecast.rs`).
    fn forecast(
        settings: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<IntensityForecast>, ProviderError> {
        let config = Config::from_settings(&settings)?;
        let now = time::now_ms();
        let mut zones: BTreeMap<String, Option<forecast::ZoneForecast>> = BTreeMap::new();
        let mut forecasts = Vec::new();
        for query in locations {
            let Some(zone) = zone_of(&query) else {
                continue;
            };
            if !zones.contains_key(zone) {
                let answer = forecast::zone_forecast(&config, zone, now)?;
                zones.insert(zone.to_owned(), answer);
            }
            if let Some(Some(answer)) = zones.get(zone) {
                forecasts.push(answer.to_wit(query.id));
            }
        }
        Ok(forecasts)
    }
}

/// The zone's mix from the cache while it is fresh, else from the API (then cached). `None`
/// for a zone the API does not know or has no figure for.
fn zone_mix(config: &Config, zone: &str, now: u64) -> Result<Option<ZoneMix>, ProviderError> {
    // The emission factor asked for is part of the key, so changing the setting never serves
    // figures of the other kind.
    let factor = config.emission_factor.unwrap_or("default");
    let key = format!("zone/{factor}/{zone}");
    let answers = ExpiringCache::new(config.cache_ms);
    if config.cache_ms > 0
        && let Some(cached) = answers.get(&key, now).map_err(not_granted)?
    {
        return Ok(match cached {
            Answer::Mix(mix) => Some(mix),
            Answer::LeftOut(why) => {
                log::debug(
                    "zone left out (cached answer)",
                    &[("zone", zone), ("why", &why)],
                );
                None
            }
        });
    }
    // The host asks a refused batch again in halves: answer a refusal it just had from memory
    // rather than spend another request (which may count against the plan's quota).
    if let Some(why) = answered::refused_lately(config, zone, now) {
        return Err(ProviderError::Unauthorized(why));
    }
    let fetched = match api::fetch(config, zone) {
        Err(ProviderError::Unauthorized(why)) => {
            answered::remember_refusal(config, zone, now, &why);
            return Err(ProviderError::Unauthorized(why));
        }
        other => other?,
    };
    let answer = match fetched {
        Answer::Mix(ref mix) => Some(mix.clone()),
        Answer::LeftOut(ref why) => {
            log::warn(
                "zone left out; if the zone is wrong, map the location to one Electricity Maps \
                 knows in [environment] zones",
                &[("zone", zone), ("why", why)],
            );
            None
        }
    };
    if config.cache_ms > 0 {
        answers.remember(&key, now, &fetched);
    }
    Ok(answer)
}

/// The cache is on by default, so a store the operator did not grant says how to fix either.
pub(crate) fn not_granted(error: StoreError) -> ProviderError {
    match error {
        StoreError::Denied(why) => ProviderError::BadConfig(format!(
            "the key-value store is not granted ({why}): add `key_value = true` to this \
             provider in the config so answers are cached, or set cache_seconds = 0 to call \
             the API on every collection"
        )),
        other => other.into(),
    }
}

carbonaut_sdk::export!(ElectricityMaps: environment);
