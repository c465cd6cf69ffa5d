//! Energy, power and CPU utilisation that exporters already publish, read through a
//! Prometheus server's HTTP query API or straight from the exporters' `/metrics`: Scaphandre,
//! Kepler (either generation of its metric names) and node_exporter, whose CPU seconds give
//! utilisation and, with min/max watts per vCPU, an estimated power where no meter exists.
//! Optionally discovers resources from the server's scrape targets.

mod api;
mod collect;
mod config;
mod discovery;
mod exposition;
mod fetch;
mod gpu;
mod readings;
mod series;
mod template;
mod window;
mod zones;

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, ResourceMetrics,
    ResourceSample, Settings,
};

use crate::config::Config;

struct Prometheus;

impl Plugin for Prometheus {
    fn metadata() -> Metadata {
        Metadata::new(
            "prometheus",
            env!("CARGO_PKG_VERSION"),
            "Energy and utilisation from Scaphandre, Kepler and node_exporter, through a \
             Prometheus server or the exporters' /metrics.",
        )
        .setting(
            "url",
            "Query mode: the Prometheus server (http://127.0.0.1:9090). Scrape mode: the \
             exporters' metrics endpoints, comma-separated",
            true,
        )
        .setting("mode", "`query` (default) or `scrape`", false)
        .setting(
            "instance_label",
            "The label naming a series' machine (default `instance`); the default template \
             is `{<instance_label>}`",
            false,
        )
        .setting(
            "resource_template",
            "How a series' labels name its resource, matched against resource ids, then \
             names: `{instance}`, `{job}/{instance}`, `{instance:host}` (without the port)",
            false,
        )
        .setting(
            "sources",
            "Comma-separated, energy sources in order of preference: scaphandre, kepler, \
             node_exporter, and dcgm for NVIDIA GPUs (default all four)",
            false,
        )
        .setting(
            "selector",
            "Label matchers added to every query, e.g. `cluster=\"prod\"`",
            false,
        )
        .setting(
            "lookback",
            "How recent a raw series must be (PromQL duration, default 2m)",
            false,
        )
        .setting(
            "rate_window",
            "rate() window over node_exporter's CPU seconds (default: four times the longest \
             scrape interval the server reports, as Grafana's $__rate_interval)",
            false,
        )
        .setting(
            "min_watts_per_vcpu",
            "With max_watts_per_vcpu: estimate power from utilisation where no meter exists",
            false,
        )
        .setting("max_watts_per_vcpu", "See min_watts_per_vcpu", false)
        .setting(
            "jobs",
            "Discovery: only targets of these jobs, comma-separated (default all)",
            false,
        )
        .setting(
            "country",
            "Discovery: the ISO 3166-1 alpha-2 country of the machines found, so their energy \
             can be priced (default none)",
            false,
        )
        .secret_setting(
            "bearer_token",
            "Sent as `Authorization: Bearer` when the server needs it",
            false,
        )
        // The server comes from the settings; the operator's `allow_http` decides.
        .needs_http("*")
    }
}

impl ResourceMetrics for Prometheus {
    fn collect(
        settings: Settings,
        account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let config = Config::from_settings(&settings, &account)?;
        collect::collect(&config, &resources)
    }
}

impl Discovery for Prometheus {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        discovery::projects(&Config::from_settings(&settings, &account)?)
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        discovery::resources(&Config::from_settings(&settings, &account)?, &project)
    }
}

carbonaut_sdk::export!(Prometheus: discovery, resource_metrics);
