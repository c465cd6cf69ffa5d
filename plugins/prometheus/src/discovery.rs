//! Discovery from a Prometheus server's active scrape targets: one project per job, one
//! resource per distinct rendering of the resource template over a target's labels.

use std::collections::BTreeSet;

use carbonaut_sdk::{Location, Project, ProviderError, ResourceInfo, ResourceKind};

use crate::api::Client;
use crate::config::{Config, Mode};

fn client(config: &Config) -> Result<Client<'_>, ProviderError> {
    if config.mode != Mode::Query {
        return Err(ProviderError::BadConfig(
            "discovery reads a Prometheus server's targets: it needs mode = \"query\"".to_owned(),
        ));
    }
    Ok(Client::new(&config.urls[0], config.bearer_token.as_deref()))
}

pub fn projects(config: &Config) -> Result<Vec<Project>, ProviderError> {
    let jobs: BTreeSet<String> = client(config)?
        .targets()?
        .into_iter()
        .filter_map(|t| t.labels.get("job").cloned())
        .filter(|job| config.jobs.is_empty() || config.jobs.contains(job))
        .collect();
    Ok(jobs
        .into_iter()
        .map(|job| Project {
            id: job.clone(),
            name: job.clone(),
            labels: vec![("job".to_owned(), job)],
        })
        .collect())
}

pub fn resources(config: &Config, project: &Project) -> Result<Vec<ResourceInfo>, ProviderError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for target in client(config)?.targets()? {
        if target.labels.get("job") != Some(&project.id) {
            continue;
        }
        let Some(key) = config.template.render(&target.labels) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        out.push(ResourceInfo {
            id: key.clone(),
            name: key,
            kind: ResourceKind::Host,
            location: Location {
                cloud: None,
                grid_zone: None,
                country: config.country.clone(),
                ..Default::default()
            },
            hardware: Default::default(),
            // Labels starting with `__` are Prometheus's internals, never on a series.
            labels: target
                .labels
                .into_iter()
                .filter(|(k, _)| !k.starts_with("__"))
                .collect(),
        });
    }
    Ok(out)
}
