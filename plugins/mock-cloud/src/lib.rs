//! A pretend cloud: a deterministic inventory whose size comes from its settings, for demos,
//! tests and benchmarks. With `churn_period_secs` set, a tenth of the resources are replaced
//! by new ones in every period, so the host's topology sync has something to follow.

use carbonaut_sdk::{
    Account, Discovery, Hardware, Location, Metadata, Plugin, Project, ProviderError, ResourceInfo,
    ResourceKind, Settings, setting,
};

struct MockCloud;

/// Resources per account at most: the host's default `max_result_items`, so one account can
/// be as large as the label-heavy benchmark's (50 000 resources, `host/benches/busy.rs`).
const MAX_RESOURCES: u64 = 100_000;

/// (country, region) pairs the resources are spread over.
const REGIONS: [(&str, &str); 6] = [
    ("DE", "eu-central-1"),
    ("FR", "eu-west-3"),
    ("SE", "eu-north-1"),
    ("US", "us-east-1"),
    ("IN", "ap-south-1"),
    ("BR", "sa-east-1"),
];

/// (vCPUs, memory GiB) of the instance types handed out.
const SIZES: [(u32, u64); 4] = [(2, 4), (4, 16), (8, 32), (16, 64)];

impl Plugin for MockCloud {
    fn metadata() -> Metadata {
        Metadata::new(
            "mock-cloud",
            env!("CARGO_PKG_VERSION"),
            "A deterministic pretend cloud inventory for demos and tests.",
        )
        .setting("projects", "Projects per account (default 2)", false)
        .setting(
            "resources_per_project",
            "Resources per project (default 5)",
            false,
        )
        .setting(
            "churn_period_secs",
            "Replace a tenth of the resources every this many seconds (default 0: never)",
            false,
        )
        .setting(
            "extra_labels",
            "Labels added to each resource beside `team`, for load tests (default 0)",
            false,
        )
        .setting(
            "label_bytes",
            "Length of each extra label's value (default 16)",
            false,
        )
    }
}

fn number(
    settings: &Settings,
    account: &Account,
    key: &str,
    default: u64,
) -> Result<u64, ProviderError> {
    // Account settings override provider settings, so one provider can serve accounts of
    // different sizes.
    let raw = setting(&account.settings, key).or_else(|| setting(settings, key));
    match raw {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            ProviderError::BadConfig(format!("setting `{key}` must be a whole number, got `{v}`"))
        }),
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Discovery for MockCloud {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        let projects = number(&settings, &account, "projects", 2)?;
        let per_project = number(&settings, &account, "resources_per_project", 5)?;
        if projects.saturating_mul(per_project) > MAX_RESOURCES {
            return Err(ProviderError::BadConfig(format!(
                "projects x resources_per_project is {}, more than the {MAX_RESOURCES} this mock serves",
                projects.saturating_mul(per_project)
            )));
        }
        Ok((0..projects)
            .map(|i| Project {
                id: format!("{}-p{i}", account.name),
                name: format!("project {i} of {}", account.name),
                labels: vec![(
                    "tier".into(),
                    if i % 2 == 0 { "prod" } else { "dev" }.into(),
                )],
            })
            .collect())
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let per_project = number(&settings, &account, "resources_per_project", 5)?;
        let churn = number(&settings, &account, "churn_period_secs", 0)?;
        let extra_labels = number(&settings, &account, "extra_labels", 0)?;
        let label_bytes = number(&settings, &account, "label_bytes", 16)? as usize;
        // In period n, slots whose index is n mod 10 get a fresh generation suffix: a tenth of
        // the resources are "replaced" each period, the rest keep their ids.
        let period = if churn == 0 { 0 } else { unix_secs() / churn };
        Ok((0..per_project)
            .map(|j| {
                let generation = if churn == 0 {
                    0
                } else {
                    (period + 9 - j % 10) / 10
                };
                let id = format!("{}-vm{j}-g{generation}", project.id);
                let (country, region) = REGIONS[(j as usize) % REGIONS.len()];
                let (vcpus, gib) = SIZES[(j as usize / REGIONS.len()) % SIZES.len()];
                ResourceInfo {
                    name: format!("vm-{j}"),
                    kind: ResourceKind::Vm,
                    location: Location {
                        cloud: None,
                        country: Some(country.into()),
                        region: Some(region.into()),
                        zone: Some(format!("{region}a")),
                        coordinates: None,
                    },
                    hardware: Hardware {
                        instance_type: None,
                        gpu_count: None,
                        gpu_model: None,
                        vcpus: Some(vcpus),
                        memory_bytes: Some(gib << 30),
                        cpu_model: Some("Mock Xeon 8375C".into()),
                    },
                    labels: std::iter::once(("team".into(), format!("team-{}", j % 3)))
                        .chain((0..extra_labels).map(|k| {
                            let value = format!("{id}-{k}-");
                            let value = value.repeat(label_bytes / value.len() + 1);
                            (format!("extra-{k}"), value[..label_bytes].to_owned())
                        }))
                        .collect(),
                    id,
                }
            })
            .collect())
    }
}

carbonaut_sdk::export!(MockCloud: discovery);
