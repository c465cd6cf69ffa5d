//! gcp: Compute Engine instances of Google Cloud projects as resources, with their region,
//! country, grid zone, vCPUs and memory (discovery), and their CPU utilisation from Cloud
//! Monitoring (resource-metrics).
//!
//! A Carbonaut account is one service account (its JSON key's fields as settings); its
//! projects are the GCP projects named in `projects`. Every request carries an access token
//! from the token URI, obtained with an RS256-signed assertion and cached until shortly before
//! it expires.

mod api;
mod auth;
mod compute;
mod config;
mod jwt;
mod monitoring;
mod regions;
mod resource;

use std::collections::BTreeMap;

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, ResourceMetrics,
    ResourceSample, Settings, log, setting,
};

use config::Config;

struct Gcp;

impl Plugin for Gcp {
    fn metadata() -> Metadata {
        Metadata::new(
            "gcp",
            env!("CARGO_PKG_VERSION"),
            "Compute Engine instances of Google Cloud projects (region, country, grid zone, \
             vCPUs, memory, machine type) and their CPU utilisation from Cloud Monitoring.",
        )
        .setting(
            "client_email",
            "`client_email` of the service account's JSON key",
            true,
        )
        .secret_setting(
            "private_key",
            "`private_key` of the service account's JSON key (PEM; `\\n` escapes are read as \
             line breaks)",
            true,
        )
        .secret_setting(
            "private_key_id",
            "`private_key_id` of the JSON key (sent as the assertion's `kid`)",
            false,
        )
        .setting(
            "token_uri",
            "`token_uri` of the JSON key (default https://oauth2.googleapis.com/token)",
            false,
        )
        .setting(
            "projects",
            "Comma-separated ids of the GCP projects to list (each is a Carbonaut project)",
            true,
        )
        .setting(
            "utilisation_interval",
            "Seconds between two Cloud Monitoring requests per project (default 300, 60 to \
             86 400): the API bills per request",
            false,
        )
        .setting(
            "page_size",
            "Instances per aggregatedList page, 1 to 500 (default 500)",
            false,
        )
        .setting(
            "api_base",
            "Compute Engine API base (default https://compute.googleapis.com; for tests)",
            false,
        )
        .setting(
            "monitoring_base",
            "Cloud Monitoring API base (default https://monitoring.googleapis.com; for tests)",
            false,
        )
        .needs_http("https://oauth2.googleapis.com")
        .needs_http(config::DEFAULT_COMPUTE_BASE)
        .needs_http(config::DEFAULT_MONITORING_BASE)
        .needs_key_value()
    }
}

impl Discovery for Gcp {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        // No request: the projects are the configured ids (a service account may see many
        // more projects than the operator wants measured).
        let config = Config::new(&settings, &account)?;
        Ok(config
            .projects
            .iter()
            .map(|id| Project {
                id: id.clone(),
                name: id.clone(),
                labels: vec![],
            })
            .collect())
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let config = Config::new(&settings, &account)?;
        // A project no longer configured holds nothing.
        if !config.projects.contains(&project.id) {
            return Ok(vec![]);
        }
        let result = list(&config, &project.id);
        log_calls(&config, "list-resources");
        result
    }
}

fn list(config: &Config, project: &str) -> Result<Vec<ResourceInfo>, ProviderError> {
    let token = auth::token(config)?;
    let instances =
        compute::instances(config, &token, project).inspect_err(|e| refused(config, e))?;
    let mut sizes = BTreeMap::new();
    let mut resources = Vec::with_capacity(instances.len());
    for instance in &instances {
        let key = (
            instance.zone_name().to_owned(),
            instance.machine_type_name().to_owned(),
        );
        let size = match sizes.get(&key) {
            Some(size) => *size,
            None => {
                let size = compute::machine_type(config, &token, project, instance)?;
                sizes.insert(key, size);
                size
            }
        };
        resources.push(resource::resource(project, instance, size));
    }
    Ok(resources)
}

impl ResourceMetrics for Gcp {
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
    // Running instances by project; a TERMINATED one has no CPU to report.
    let mut by_project: BTreeMap<&str, Vec<&ResourceInfo>> = BTreeMap::new();
    for r in resources {
        let label = |key: &str| setting(&r.labels, key);
        if let Some(project) = label(resource::PROJECT_LABEL)
            && resource::is_running(label("status"))
        {
            by_project.entry(project).or_default().push(r);
        }
    }
    let token = || auth::token(config);
    let mut samples = Vec::new();
    for (project, members) in by_project {
        let readings =
            monitoring::utilization(config, &token, project).inspect_err(|e| refused(config, e))?;
        for r in members {
            if let Some(reading) = readings.get(&r.id) {
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
        "Google API requests made by this call",
        &[
            ("account", &config.account),
            ("operation", operation),
            ("requests", &api::calls().to_string()),
        ],
    );
}

carbonaut_sdk::export!(Gcp: discovery, resource_metrics);
