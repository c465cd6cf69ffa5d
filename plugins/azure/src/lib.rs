//! azure: virtual machines of Azure subscriptions as resources, with their region, country,
//! grid zone, vCPUs and memory (discovery), and their CPU utilisation from Azure Monitor
//! (resource-metrics).
//!
//! A Carbonaut account is one service principal (tenant, client id, client secret); its
//! projects are the subscriptions it can read (or those named in `subscriptions`). Every
//! request carries an access token from Microsoft Entra ID's client-credentials flow, cached
//! until shortly before it expires.

mod api;
mod auth;
mod compute;
mod config;
mod monitor;
mod regions;
mod resource;

use std::collections::BTreeMap;

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, ResourceMetrics,
    ResourceSample, Settings, log, setting,
};

use config::Config;

struct Azure;

impl Plugin for Azure {
    fn metadata() -> Metadata {
        Metadata::new(
            "azure",
            env!("CARGO_PKG_VERSION"),
            "Virtual machines of Azure subscriptions (region, country, grid zone, vCPUs, \
             memory, size) and their CPU utilisation from Azure Monitor.",
        )
        .setting(
            "tenant_id",
            "Directory (tenant) id of the service principal",
            true,
        )
        .setting(
            "client_id",
            "Application (client) id of the service principal",
            true,
        )
        .secret_setting("client_secret", "A client secret of the application", true)
        .setting(
            "subscriptions",
            "Comma-separated subscription ids to measure (default: every subscription the \
             principal can read)",
            false,
        )
        .setting(
            "utilisation_interval",
            "Seconds between two Azure Monitor requests per subscription and region (default \
             300, 60 to 86 400): metric queries are billed per request",
            false,
        )
        .setting(
            "login_base",
            "Entra ID endpoint (default https://login.microsoftonline.com; for tests)",
            false,
        )
        .setting(
            "management_base",
            "Resource Manager endpoint (default https://management.azure.com; for tests)",
            false,
        )
        .needs_http(config::DEFAULT_LOGIN_BASE)
        .needs_http(config::DEFAULT_MANAGEMENT_BASE)
        .needs_key_value()
    }
}

impl Discovery for Azure {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        let config = Config::new(&settings, &account)?;
        let result = projects(&config);
        log_calls(&config, "list-projects");
        result
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let config = Config::new(&settings, &account)?;
        let subscription = project.id.to_ascii_lowercase();
        // A subscription no longer configured holds nothing; a malformed id never reaches a URL.
        if !config::valid_id(&subscription)
            || (!config.subscriptions.is_empty() && !config.subscriptions.contains(&subscription))
        {
            return Ok(vec![]);
        }
        let result = list(&config, &subscription);
        log_calls(&config, "list-resources");
        result
    }
}

/// The subscriptions the principal reads, narrowed to the configured ones when there are.
fn projects(config: &Config) -> Result<Vec<Project>, ProviderError> {
    let token = auth::token(config)?;
    let listed = compute::subscriptions(config, &token).inspect_err(|e| refused(config, e))?;
    let mut projects: Vec<Project> = listed
        .into_iter()
        .filter(|s| {
            config.subscriptions.is_empty()
                || config
                    .subscriptions
                    .contains(&s.subscription_id.to_ascii_lowercase())
        })
        .map(|s| Project {
            id: s.subscription_id.to_ascii_lowercase(),
            name: if s.display_name.is_empty() {
                s.subscription_id.clone()
            } else {
                s.display_name
            },
            labels: s
                .state
                .map(|st| vec![("state".to_owned(), st)])
                .unwrap_or_default(),
        })
        .collect();
    for wanted in &config.subscriptions {
        if !projects.iter().any(|p| p.id == *wanted) {
            log::warn(
                "a configured subscription is not visible to the service principal; assign it \
                 the Reader role there",
                &[("account", &config.account), ("subscription", wanted)],
            );
            projects.push(Project {
                id: wanted.clone(),
                name: wanted.clone(),
                labels: vec![],
            });
        }
    }
    Ok(projects)
}

fn list(config: &Config, subscription: &str) -> Result<Vec<ResourceInfo>, ProviderError> {
    let token = auth::token(config)?;
    let vms = compute::virtual_machines(config, &token, subscription)
        .inspect_err(|e| refused(config, e))?;
    let mut sizes = BTreeMap::new();
    let mut resources = Vec::with_capacity(vms.len());
    for vm in &vms {
        let location = vm.location.to_ascii_lowercase();
        if !sizes.contains_key(&location) {
            let found = compute::sizes(config, &token, subscription, &location)?;
            sizes.insert(location.clone(), found);
        }
        let empty = BTreeMap::new();
        let known = sizes.get(&location).unwrap_or(&empty);
        resources.push(resource::resource(subscription, vm, known));
    }
    Ok(resources)
}

impl ResourceMetrics for Azure {
    fn collect(
        settings: Settings,
        account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let config = Config::new(&settings, &account)?;
        let result = samples(&config, &resources);
        log_calls(&config, "collect");
        result
    }
}

fn samples(
    config: &Config,
    resources: &[ResourceInfo],
) -> Result<Vec<ResourceSample>, ProviderError> {
    // VMs by subscription and region: one Azure Monitor request each.
    let mut groups: BTreeMap<(&str, &str), Vec<&ResourceInfo>> = BTreeMap::new();
    for r in resources {
        let label = |key: &str| setting(&r.labels, key);
        if let (Some(subscription), Some(region)) = (
            label(resource::SUBSCRIPTION_LABEL),
            r.location.region.as_deref(),
        ) && config::valid_id(subscription)
        {
            groups.entry((subscription, region)).or_default().push(r);
        }
    }
    let token = || auth::token(config);
    let mut samples = Vec::new();
    for ((subscription, region), members) in groups {
        let readings = monitor::utilization(config, &token, subscription, region)
            .inspect_err(|e| refused(config, e))?;
        for r in members {
            let Some(group) = setting(&r.labels, resource::GROUP_LABEL) else {
                continue;
            };
            if let Some(reading) = readings.get(&monitor::arm_id(subscription, group, &r.name)) {
                samples.push(ResourceSample {
                    resource_id: r.id.clone(),
                    energy_joules: None,
                    power_watts: None,
                    cpu_frequency_hertz: None,
                    cpu_utilization_ratio: Some(reading.ratio),
                    read_at: reading.read_at_ms,
                    estimated: false,
                    components: vec![],
                });
            }
        }
    }
    Ok(samples)
}

/// A refused token may be a revoked one still in the cache: forget it.
fn refused(config: &Config, error: &ProviderError) {
    if matches!(error, ProviderError::Unauthorized(_)) {
        auth::forget(config);
    }
}

fn log_calls(config: &Config, operation: &str) {
    log::debug(
        "Azure API requests made by this call",
        &[
            ("account", &config.account),
            ("operation", operation),
            ("requests", &api::calls().to_string()),
        ],
    );
}

carbonaut_sdk::export!(Azure: discovery, resource_metrics);
