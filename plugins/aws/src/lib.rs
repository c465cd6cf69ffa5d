//! aws: EC2 instances of AWS accounts as resources (discovery) and their CPU utilisation from
//! CloudWatch (resource-metrics).
//!
//! An account is an AWS account: its keys come from settings (`${ENV}` references), and with
//! `role_arn` the plugin assumes a role in it through STS (one reader user, a read-only role in
//! each account). Its projects are regions (the configured list, or every region enabled for
//! the account); a project's resources are the region's instances, every page of
//! DescribeInstances. Utilisation is CloudWatch's `CPUUtilization` average, at most one
//! GetMetricData request per 500 instances and `utilisation_interval` (CloudWatch bills per
//! metric read): answers are kept in the key-value store in between.

mod client;
mod clock;
mod cloudwatch;
mod ec2;
mod instance_types;
mod metrics;
mod regions;
mod settings;
mod sigv4;
mod sts;
mod xml;

#[cfg(test)]
mod botocore_tests;

use carbonaut_sdk::{
    Account, Discovery, Metadata, Plugin, Project, ProviderError, ResourceInfo, ResourceMetrics,
    ResourceSample, Settings, time,
};

use client::Client;
use settings::Config;

struct Aws;

impl Plugin for Aws {
    fn metadata() -> Metadata {
        Metadata::new(
            "aws",
            env!("CARGO_PKG_VERSION"),
            "EC2 instances of AWS accounts (region, country, grid zone, vCPUs, memory, type, \
             state, tags) and their CPU utilisation from CloudWatch.",
        )
        .setting(
            "access_key_id",
            "Access key id of the IAM user that reads (or assumes role_arn)",
            true,
        )
        .secret_setting("secret_access_key", "Its secret access key", true)
        .secret_setting(
            "session_token",
            "Session token, when the keys are temporary ones",
            false,
        )
        .setting(
            "role_arn",
            "IAM role to assume in this account through STS (arn:aws:iam::ACCOUNT:role/NAME)",
            false,
        )
        .setting(
            "external_id",
            "External id the role's trust policy asks for",
            false,
        )
        .setting(
            "regions",
            "Comma-separated regions to read (default: every region enabled for the account, \
             from DescribeRegions)",
            false,
        )
        .setting(
            "utilisation_interval",
            "Seconds between two CloudWatch reads of the same instances, 60 to 86400 \
             (default 300: CloudWatch bills every metric read)",
            false,
        )
        .setting(
            "page_size",
            "Instances per DescribeInstances page, 5 to 1000 (default 1000)",
            false,
        )
        .setting(
            "endpoint_url",
            "Base URL of every API instead of AWS's endpoints (an emulator such as moto, a \
             proxy); the origin must be in allow_http",
            false,
        )
        // AWS's endpoints (ec2.REGION.amazonaws.com, monitoring.…, sts.amazonaws.com), and `*`
        // for `endpoint_url`: the operator's allow_http decides which origins are reachable.
        .needs_http("https://*.amazonaws.com")
        .needs_http("*")
        .needs_key_value()
    }
}

/// Runs `operation` with a client for `config`'s account; when an assumed role's session has
/// expired before its time, forgets it and tries once more with a new one.
fn with_client<T>(
    config: &Config,
    operation: &str,
    run: impl Fn(&Client<'_>) -> Result<T, ProviderError>,
) -> Result<T, ProviderError> {
    let attempt = || {
        let client = Client::new(config, sts::credentials(config, time::now_ms())?);
        let result = run(&client);
        client.log_counts(operation);
        result
    };
    match attempt() {
        Err(error) if config.role_arn.is_some() && client::is_expired(&error) => {
            sts::forget(config);
            attempt()
        }
        other => other,
    }
}

impl Discovery for Aws {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        let config = Config::new(&settings, &account)?;
        let regions = match &config.regions {
            Some(regions) => regions.clone(),
            None => with_client(&config, "list-projects", |client| {
                ec2::regions(client, "us-east-1")
            })?,
        };
        Ok(regions
            .into_iter()
            .map(|region| Project {
                id: region.clone(),
                name: region,
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
        let region = project.id;
        // A region no longer configured, or an id that is no region, holds nothing.
        let configured = config.regions.as_ref().is_none_or(|r| r.contains(&region));
        if !configured || !settings::is_region_name(&region) {
            return Ok(vec![]);
        }
        let instances = with_client(&config, "list-resources", |client| {
            ec2::instances(client, &region, config.page_size)
        })?;
        Ok(instances
            .iter()
            .map(|instance| ec2::resource(instance, &region))
            .collect())
    }
}

impl ResourceMetrics for Aws {
    fn collect(
        settings: Settings,
        account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let config = Config::new(&settings, &account)?;
        metrics::collect(&config, &resources, time::now_ms())
    }
}

carbonaut_sdk::export!(Aws: discovery, resource_metrics);
