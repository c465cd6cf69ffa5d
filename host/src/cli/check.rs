//! `carbonaut plugin check FILE [--config FILE] [--provider NAME] [--setting k=v]...`: a dry
//! run for plugin authors. Loads the component in the real sandbox, calls `metadata` and each
//! provider export once with sample arguments, and prints what came back (bounded) and how
//! long each call took, and what the host makes of a sample (energy and emissions). Exits
//! non-zero when a call fails, with the plugin's error, or when the host's checks reject items
//! of an answer (told apart: the daemon would run the call and drop those items).

mod footprint;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod locations;

use anyhow::Context as _;
use carbonaut::collect::provider_grants;
use carbonaut::config::{Config, Intervals, ProviderConfig};
use carbonaut_model::{
    Account, Hardware, Location, LocationQuery, ProviderKind, ResourceInfo, ResourceKind,
    ResourceSample,
};
use carbonaut_plugins::{CallError, Checked, Plugin, Rejections, load_file};
use carbonaut_runtime::http::HttpOrigin;
use carbonaut_runtime::{Grants, Limits};

/// Items printed per call; the count says how many there were.
const SHOWN_ITEMS: usize = 3;
/// Characters printed per item, so a huge item cannot flood the terminal.
const ITEM_CHARS: usize = 400;
/// Resources from discovery passed on to resource-metrics.
const SAMPLE_RESOURCES: usize = 10;

pub struct Options<'a> {
    pub file: &'a Path,
    pub config: Option<&'a Path>,
    pub provider: Option<&'a str>,
    pub settings: &'a [(String, String)],
    /// Grid zones for an environment plugin (`--zone`).
    pub zones: &'a [String],
    /// Where the sample resource is, and the environment query without `--zone`
    /// (`--location`, `--region`, `--availability-zone`); DE / eu-central-1 when none is given.
    pub location: Option<Location>,
    /// Grid intensity (g/kWh) to price the sample at, when the plugin answers none itself.
    pub intensity: Option<f64>,
    /// Loopback origins of emulators, granted to this check whatever the plugin asks for.
    pub emulators: &'a [HttpOrigin],
}

/// The sample location when none is given: a country and a cloud region every example knows.
fn default_location() -> Location {
    Location {
        cloud: None,
        grid_zone: None,
        country: Some("DE".into()),
        region: Some("eu-central-1".into()),
        zone: None,
        coordinates: None,
    }
}

/// How one call went, for the summary line.
#[derive(Default)]
struct Tally {
    failed_calls: usize,
    rejected_items: u64,
}

/// Parses `key=value` for `--setting`.
pub fn parse_setting(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{raw}` is not KEY=VALUE")),
    }
}

/// Parses `--emulator`: an origin on this machine's loopback interface. Only loopback: the
/// flag exists to check a plugin against a local emulator of its API, and must not become a
/// way to send a plugin's credentials anywhere its metadata does not name.
pub fn parse_emulator(raw: &str) -> Result<HttpOrigin, String> {
    let origin: HttpOrigin = raw
        .parse()
        .map_err(|e: carbonaut_runtime::http::OriginError| e.to_string())?;
    let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.split([':', '/']).next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(origin)
    } else {
        Err(format!(
            "`{raw}` is not on the loopback interface: --emulator grants only origins like \
             http://127.0.0.1:PORT or http://localhost:PORT"
        ))
    }
}

/// What the check runs with: settings, account, and grants (limits included).
struct Setup {
    provider: Option<String>,
    settings: Vec<(String, String)>,
    account: Account,
    grants: Grants,
}

pub async fn run(options: Options<'_>) -> anyhow::Result<ExitCode> {
    let config = options
        .config
        .map(Config::load)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let limits = config.as_ref().map_or(Limits::default(), |c| c.limits);

    // A first load tells the plugin's name, needed to find its provider in the config.
    let started = Instant::now();
    let probe = Arc::new(carbonaut_plugins::new_runtime(limits)?);
    let plugin = load_file(&probe, options.file).await?;
    let load_time = started.elapsed();
    let setup = setup(&options, config.as_ref(), &plugin)?;
    let (runtime, plugin) = if setup.grants.key_value.is_some() {
        // The key-value store belongs to the runtime (limits travel with the grants): load again.
        let mut runtime = carbonaut_plugins::new_runtime(limits)?;
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .context("opening a temporary key-value store")?;
        runtime.enable_key_value(db.open_tree("key-value")?);
        let runtime = Arc::new(runtime);
        let plugin = load_file(&runtime, options.file).await?;
        (runtime, plugin)
    } else {
        (probe, plugin)
    };

    let info = plugin.info();
    let kinds: Vec<&str> = info.kinds.iter().map(|k| k.as_str()).collect();
    println!(
        "plugin      {} {} (carbonaut:provider@{}; {})",
        info.name,
        info.version,
        info.wit_version,
        kinds.join(", ")
    );
    println!(
        "file        {} ({} bytes), loaded in {}",
        info.file,
        info.size_bytes,
        ms(load_time)
    );
    println!(
        "sandbox     {}; memory {} MiB, deadline {}",
        describe_grants(&setup.grants),
        runtime.limits_for(&setup.grants).memory_bytes >> 20,
        ms(runtime.limits_for(&setup.grants).call_deadline),
    );
    if let Some(provider) = &setup.provider {
        println!("provider    {provider} (settings from the config)");
    }
    for spec in &info.settings {
        let given = setup.settings.iter().any(|(k, _)| *k == spec.key)
            || setup.account.settings.iter().any(|(k, _)| *k == spec.key);
        if spec.required && !given {
            println!(
                "note        required setting `{}` is not given: add --setting {}=VALUE",
                spec.key, spec.key
            );
        }
    }

    let location = options.location.clone().unwrap_or_else(default_location);
    let mut tally = Tally::default();
    let started = Instant::now();
    let result = plugin.metadata().await;
    report(
        &mut tally,
        "metadata",
        started.elapsed(),
        // Plugin::metadata checks the metadata itself: a refused one is an error here.
        result.map(|m| (vec![m], Rejections::default())),
    );

    let mut discovered: Vec<ResourceInfo> = Vec::new();
    if plugin.implements(ProviderKind::Discovery) {
        let started = Instant::now();
        let projects = plugin
            .list_projects(&setup.grants, &setup.settings, &setup.account)
            .await;
        let first = projects.as_ref().ok().and_then(|p| p.first().cloned());
        report(
            &mut tally,
            "discovery.list-projects",
            started.elapsed(),
            projects.map(Checked::into_parts),
        );
        if let Some(project) = first {
            let started = Instant::now();
            let resources = plugin
                .list_resources(&setup.grants, &setup.settings, &setup.account, &project)
                .await;
            if let Ok(resources) = &resources {
                discovered = resources.iter().take(SAMPLE_RESOURCES).cloned().collect();
            }
            report(
                &mut tally,
                &format!("discovery.list-resources (project `{}`)", project.id),
                started.elapsed(),
                resources.map(Checked::into_parts),
            );
        }
    }
    let mut first_sample = None;
    let resources = if discovered.is_empty() {
        vec![sample_resource(&location)]
    } else {
        discovered
    };
    if plugin.implements(ProviderKind::ResourceMetrics) {
        let started = Instant::now();
        let samples = plugin
            .collect_samples(&setup.grants, &setup.settings, &setup.account, &resources)
            .await;
        first_sample = samples.as_ref().ok().and_then(|s| s.first().cloned());
        report(
            &mut tally,
            &format!("resource-metrics.collect ({} resources)", resources.len()),
            started.elapsed(),
            samples.map(Checked::into_parts),
        );
    }
    if plugin.implements(ProviderKind::Estimation) {
        // Discovered resources as they are; without discovery a VM a footprint model knows (an
        // AWS m5.xlarge in the sample location), with the reading taken above if any.
        let estimated: Vec<ResourceInfo> = if resources.len() == 1 && resources[0].id == SAMPLE_ID {
            vec![estimation_resource(&location)]
        } else {
            resources.clone()
        };
        let inputs: Vec<(&ResourceInfo, Option<&ResourceSample>)> = estimated
            .iter()
            .map(|r| {
                let sample = first_sample.as_ref().filter(|s| s.resource_id == r.id);
                (r, sample)
            })
            .collect();
        let started = Instant::now();
        let estimates = plugin
            .estimate(&setup.grants, &setup.settings, &inputs)
            .await;
        report(
            &mut tally,
            &format!("estimation.estimate ({} resources)", inputs.len()),
            started.elapsed(),
            estimates.map(Checked::into_parts),
        );
    }
    let mut intensity = options.intensity.map(footprint::Intensity::Given);
    if plugin.implements(ProviderKind::Environment) {
        let queries = locations(options.zones, config.as_ref(), &location);
        let (failed, rejected, priced) =
            locations::check(&plugin, &setup.grants, &setup.settings, queries).await;
        tally.failed_calls += failed;
        tally.rejected_items += rejected;
        if let Some(carbon_intensity) = priced {
            intensity = Some(footprint::Intensity::Plugin(carbon_intensity));
        }
    }
    if let Some(first) = first_sample {
        // An energy counter alone says nothing until a second reading: take one.
        let second = if first.power_watts.is_none() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let resource: Vec<ResourceInfo> = resources
                .iter()
                .filter(|r| r.id == first.resource_id)
                .cloned()
                .collect();
            plugin
                .collect_samples(&setup.grants, &setup.settings, &setup.account, &resource)
                .await
                .ok()
                .and_then(|s| s.into_items().into_iter().next())
        } else {
            None
        };
        let interval = config
            .as_ref()
            .map_or(Intervals::default(), |c| c.intervals)
            .resource_metrics;
        println!(
            "emissions   {}",
            footprint::describe(
                &first,
                second.as_ref(),
                interval,
                runtime.limits_for(&setup.grants).max_power_watts as f64,
                intensity.as_ref(),
            )
        );
    }

    let Tally {
        failed_calls,
        rejected_items,
    } = tally;
    let rejected = format!(
        "the host's checks rejected {rejected_items} item(s), which the daemon would drop \
         (see docs/plugin-authors.md, \"What the host accepts\")"
    );
    if failed_calls > 0 {
        let also = if rejected_items > 0 {
            format!("; {rejected}")
        } else {
            String::new()
        };
        println!("FAILED: {failed_calls} call(s) failed{also}");
        Ok(ExitCode::FAILURE)
    } else if rejected_items > 0 {
        println!("REJECTED: every call answered, but {rejected}");
        Ok(ExitCode::FAILURE)
    } else {
        println!("ok: every call answered");
        Ok(ExitCode::SUCCESS)
    }
}

fn setup(options: &Options<'_>, config: Option<&Config>, plugin: &Plugin) -> anyhow::Result<Setup> {
    let mut setup = Setup {
        provider: None,
        settings: Vec::new(),
        account: Account {
            name: "check".into(),
            settings: Vec::new(),
        },
        grants: Grants::NONE,
    };
    if let Some(config) = config {
        let (name, provider) = find_provider(config, options.provider, &plugin.info().name)?;
        let (grants, unused) = provider_grants(config, name, provider, Some(plugin.info()));
        for offer in unused {
            println!("note        {offer} is configured, but the plugin does not ask for it");
        }
        let offered = carbonaut::collect::offered(provider);
        for missing in plugin.info().needs.not_granted(&offered, name) {
            println!("note        {missing}");
        }
        setup.grants = grants;
        setup.settings = provider.settings.to_wit();
        // The first account this provider serves, with its settings, as collection would.
        if let Some((account, a)) = config
            .accounts
            .iter()
            .find(|(_, a)| a.discovery == name || a.resource_metrics == name)
        {
            setup.account = Account {
                name: account.clone(),
                settings: a.settings.to_wit(),
            };
        }
        setup.provider = Some(name.to_owned());
    } else if let Some(provider) = options.provider {
        anyhow::bail!("--provider {provider} needs --config FILE to find it in");
    }
    for (key, value) in options.settings {
        setup.settings.retain(|(k, _)| k != key);
        setup.settings.push((key.clone(), value.clone()));
    }
    for origin in options.emulators {
        if !setup.grants.http.contains(origin) {
            setup.grants.http.push(origin.clone());
            setup.grants.http_offered.push(origin.clone());
        }
        println!(
            "note        --emulator {origin}: granted to this check only; a daemon grants \
             only origins the plugin asks for"
        );
    }
    Ok(setup)
}

/// The provider `wanted`, or else the only one using plugin `plugin`.
fn find_provider<'c>(
    config: &'c Config,
    wanted: Option<&str>,
    plugin: &str,
) -> anyhow::Result<(&'c str, &'c ProviderConfig)> {
    if let Some(name) = wanted {
        let (name, provider) = config
            .providers
            .get_key_value(name)
            .with_context(|| format!("{}: no provider `{name}`", config.source))?;
        anyhow::ensure!(
            provider.plugin == plugin,
            "{}: provider `{name}` uses plugin `{}`, not `{plugin}`",
            config.source,
            provider.plugin
        );
        return Ok((name.as_str(), provider));
    }
    let matching: Vec<_> = config
        .providers
        .iter()
        .filter(|(_, p)| p.plugin == plugin)
        .collect();
    match matching.as_slice() {
        [(name, provider)] => Ok((name.as_str(), provider)),
        [] => anyhow::bail!(
            "{}: no provider uses plugin `{plugin}`; add [providers.NAME] plugin = \"{plugin}\"",
            config.source
        ),
        several => anyhow::bail!(
            "{}: providers {} use plugin `{plugin}`; choose one with --provider NAME",
            config.source,
            several
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Prints one call's outcome and adds it to `tally`.
fn report<T: serde::Serialize>(
    tally: &mut Tally,
    operation: &str,
    took: Duration,
    result: Result<(Vec<T>, Rejections), CallError>,
) {
    match result {
        Ok((items, rejected)) => {
            let noun = if items.len() == 1 { "item" } else { "items" };
            println!("{operation}: ok in {}, {} {noun}", ms(took), items.len());
            for item in items.iter().take(SHOWN_ITEMS) {
                let json = serde_json::to_string(item).unwrap_or_else(|e| format!("({e})"));
                println!("  {}", bounded(&json));
            }
            if items.len() > SHOWN_ITEMS {
                println!("  ... and {} more", items.len() - SHOWN_ITEMS);
            }
            // What the daemon would drop: a plugin that passes here passes there.
            for (reason, (count, example)) in &rejected.by_reason {
                println!(
                    "  REJECTED by the host's checks: {count} x {} (e.g. {example}); see docs/plugin-authors.md, \"What the host accepts\"",
                    reason.as_str()
                );
                tally.rejected_items += count;
            }
        }
        Err(error) => {
            println!("{operation}: FAILED in {}: {error}", ms(took));
            tally.failed_calls += 1;
        }
    }
}

fn bounded(text: &str) -> String {
    match text.char_indices().nth(ITEM_CHARS) {
        Some((cut, _)) => format!("{}... ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn describe_grants(grants: &Grants) -> String {
    let mut parts = Vec::new();
    if !grants.http.is_empty() {
        let origins: Vec<String> = grants.http.iter().map(ToString::to_string).collect();
        parts.push(format!("http to {}", origins.join(", ")));
    }
    for (host, guest) in &grants.read_only_dirs {
        parts.push(format!("{guest} (read-only, from {})", host.display()));
    }
    if grants.key_value.is_some() {
        parts.push("key-value store (temporary)".into());
    }
    if parts.is_empty() {
        "nothing granted".into()
    } else {
        parts.join("; ")
    }
}

/// The id of [`sample_resource`].
const SAMPLE_ID: &str = "check-vm-1";

/// A resource for a resource-metrics plugin when there is no discovery to ask.
fn sample_resource(location: &Location) -> ResourceInfo {
    ResourceInfo {
        id: SAMPLE_ID.into(),
        name: SAMPLE_ID.into(),
        kind: ResourceKind::Vm,
        location: location.clone(),
        hardware: Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: Some(4),
            memory_bytes: Some(16 << 30),
            cpu_model: None,
        },
        labels: Vec::new(),
    }
}

/// The sample resource as an estimation plugin is asked about it: an AWS m5.xlarge (4 vCPUs,
/// 16 GiB), a type every cloud footprint model has.
fn estimation_resource(location: &Location) -> ResourceInfo {
    let mut r = sample_resource(location);
    r.location.cloud = Some("aws".into());
    r.hardware.instance_type = Some("m5.xlarge".into());
    r.hardware.gpu_count = Some(0);
    r
}

/// The zones to ask about: `--zone`, else the config's `[environment]` mapping; without
/// either, the sample location (`--location`, `--region`; `check-de`: Germany, eu-central-1).
fn locations(zones: &[String], config: Option<&Config>, sample: &Location) -> Vec<LocationQuery> {
    let mut wanted: Vec<String> = zones.to_vec();
    if wanted.is_empty()
        && let Some(environment) = config.and_then(|c| c.environment.as_ref())
    {
        wanted = environment.zones.values().cloned().collect();
    }
    if wanted.is_empty() {
        return sample_locations(sample);
    }
    wanted.sort();
    wanted.dedup();
    wanted
        .into_iter()
        .map(|zone| LocationQuery {
            id: zone.clone(),
            location: Location {
                cloud: None,
                grid_zone: None,
                // A two-letter zone is a country too, for plugins that read the country.
                country: (zone.len() == 2).then(|| zone.clone()),
                region: None,
                zone: None,
                coordinates: None,
            },
            grid_zone: Some(zone),
        })
        .collect()
}

fn sample_locations(location: &Location) -> Vec<LocationQuery> {
    let id = location
        .country
        .as_deref()
        .or(location.region.as_deref())
        .unwrap_or("somewhere")
        .to_ascii_lowercase();
    vec![LocationQuery {
        id: format!("check-{id}"),
        location: location.clone(),
        grid_zone: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_origins_are_emulators() {
        for ok in [
            "http://127.0.0.1:8085",
            "http://127.1.2.3:80",
            "http://localhost:9000",
            "https://LOCALHOST",
            "http://[::1]:8080",
        ] {
            assert!(parse_emulator(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://example.com",
            "http://10.0.0.1:8080",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com:80",
            "http://[::2]:80",
            "127.0.0.1:8080",
        ] {
            assert!(parse_emulator(bad).is_err(), "{bad}");
        }
    }
}
