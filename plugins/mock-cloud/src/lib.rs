//! A pretend cloud: a deterministic inventory whose size comes from its settings, for demos,
//! tests and benchmarks. With `churn_period_secs` set, a tenth of the resources are replaced
//! by new ones in every period, so the host's topology sync has something to follow. With
//! `cloud` set (aws, gcp or azure), the VMs are that cloud's: real instance types with their
//! vCPUs, memory and GPUs, in real regions, so an estimation plugin (ccf) has something to key on.

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

/// A real instance type of a cloud, as its API names it, with the provider's published sizes.
struct InstanceType {
    name: &'static str,
    vcpus: u32,
    memory_gib: u64,
    cpu_model: &'static str,
    gpus: u32,
    gpu_model: Option<&'static str>,
}

const fn cpu_only(
    name: &'static str,
    vcpus: u32,
    memory_gib: u64,
    cpu_model: &'static str,
) -> InstanceType {
    InstanceType {
        name,
        vcpus,
        memory_gib,
        cpu_model,
        gpus: 0,
        gpu_model: None,
    }
}

const fn one_gpu(
    name: &'static str,
    vcpus: u32,
    memory_gib: u64,
    cpu_model: &'static str,
    gpu_model: &'static str,
) -> InstanceType {
    InstanceType {
        name,
        vcpus,
        memory_gib,
        cpu_model,
        gpus: 1,
        gpu_model: Some(gpu_model),
    }
}

/// A cloud the VMs can belong to: its name in `location.cloud`, (country, region) pairs and the
/// instance types handed out in turn (two with one GPU each).
struct CloudProfile {
    name: &'static str,
    regions: [(&'static str, &'static str); 6],
    /// The zone of a VM in `region`: each cloud spells it its own way.
    zone: fn(&str) -> String,
    types: [InstanceType; 5],
}

const CLOUDS: [CloudProfile; 3] = [
    CloudProfile {
        name: "aws",
        regions: REGIONS,
        zone: |region| format!("{region}a"),
        types: [
            cpu_only("m5.large", 2, 8, "Intel Xeon Platinum 8175M"),
            cpu_only("m5.xlarge", 4, 16, "Intel Xeon Platinum 8175M"),
            cpu_only("c5.2xlarge", 8, 16, "Intel Xeon Platinum 8124M"),
            one_gpu("p3.2xlarge", 8, 61, "Intel Xeon E5-2686 v4", "NVIDIA V100"),
            one_gpu(
                "g4dn.xlarge",
                4,
                16,
                "Intel Xeon Platinum 8259CL",
                "NVIDIA T4",
            ),
        ],
    },
    CloudProfile {
        name: "gcp",
        regions: [
            ("DE", "europe-west3"),
            ("FR", "europe-west9"),
            ("FI", "europe-north1"),
            ("US", "us-east1"),
            ("IN", "asia-south1"),
            ("BR", "southamerica-east1"),
        ],
        zone: |region| format!("{region}-a"),
        types: [
            cpu_only("n2-standard-2", 2, 8, "Intel Xeon (Cascade Lake)"),
            cpu_only("n2-standard-4", 4, 16, "Intel Xeon (Cascade Lake)"),
            cpu_only("c2-standard-8", 8, 32, "Intel Xeon (Cascade Lake)"),
            one_gpu(
                "a2-highgpu-1g",
                12,
                85,
                "Intel Xeon (Cascade Lake)",
                "NVIDIA A100-SXM4-40GB",
            ),
            cpu_only("e2-standard-4", 4, 16, "Intel Xeon (Skylake)"),
        ],
    },
    CloudProfile {
        name: "azure",
        regions: [
            ("DE", "germanywestcentral"),
            ("FR", "francecentral"),
            ("SE", "swedencentral"),
            ("US", "eastus"),
            ("IN", "centralindia"),
            ("BR", "brazilsouth"),
        ],
        zone: |region| format!("{region}-1"),
        types: [
            cpu_only("Standard_D2s_v3", 2, 8, "Intel Xeon Platinum 8272CL"),
            cpu_only("Standard_D4s_v3", 4, 16, "Intel Xeon Platinum 8272CL"),
            cpu_only("Standard_F8s_v2", 8, 16, "Intel Xeon Platinum 8168"),
            one_gpu(
                "Standard_NC6s_v3",
                6,
                112,
                "Intel Xeon E5-2690 v4",
                "NVIDIA V100",
            ),
            one_gpu("Standard_NC4as_T4_v3", 4, 28, "AMD EPYC 7V12", "NVIDIA T4"),
        ],
    },
];

/// The `cloud` setting: none (the default, the anonymous mock VMs) or one of [`CLOUDS`].
fn cloud_profile(
    settings: &Settings,
    account: &Account,
) -> Result<Option<&'static CloudProfile>, ProviderError> {
    let Some(raw) = setting(&account.settings, "cloud").or_else(|| setting(settings, "cloud"))
    else {
        return Ok(None);
    };
    CLOUDS
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(raw.trim()))
        .map(Some)
        .ok_or_else(|| {
            ProviderError::BadConfig(format!(
                "setting `cloud` must be aws, gcp or azure, got `{raw}`"
            ))
        })
}

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
        .setting(
            "cloud",
            "aws, gcp or azure: the VMs get that cloud's instance types (two with a GPU), \
             regions and `location.cloud` (default: none, anonymous mock sizes)",
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
        cloud_profile(&settings, &account)?;
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
        let cloud = cloud_profile(&settings, &account)?;
        // In period n, slots whose index is n mod 10 get a fresh generation suffix: a tenth of
        // the resources are "replaced" each period, the rest keep their ids.
        let period = unix_secs().checked_div(churn).unwrap_or(0);
        Ok((0..per_project)
            .map(|j| {
                let generation = if churn == 0 {
                    0
                } else {
                    (period + 9 - j % 10) / 10
                };
                let id = format!("{}-vm{j}-g{generation}", project.id);
                let (location, hardware) = match cloud {
                    None => mock_machine(j),
                    Some(cloud) => cloud_machine(cloud, j),
                };
                ResourceInfo {
                    name: format!("vm-{j}"),
                    kind: ResourceKind::Vm,
                    location,
                    hardware,
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

/// The `j`th VM without a cloud: a region and one of [`SIZES`], no instance type.
fn mock_machine(j: u64) -> (Location, Hardware) {
    let (country, region) = REGIONS[(j as usize) % REGIONS.len()];
    let (vcpus, gib) = SIZES[(j as usize / REGIONS.len()) % SIZES.len()];
    (
        Location {
            cloud: None,
            grid_zone: None,
            country: Some(country.into()),
            region: Some(region.into()),
            zone: Some(format!("{region}a")),
            coordinates: None,
        },
        Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: Some(vcpus),
            memory_bytes: Some(gib << 30),
            cpu_model: Some("Mock Xeon 8375C".into()),
        },
    )
}

/// The `j`th VM of `cloud`: regions and instance types in turn (6 and 5 of them, so 30 VMs see
/// every pair).
fn cloud_machine(cloud: &CloudProfile, j: u64) -> (Location, Hardware) {
    let (country, region) = cloud.regions[(j as usize) % cloud.regions.len()];
    let kind = &cloud.types[(j as usize) % cloud.types.len()];
    (
        Location {
            cloud: Some(cloud.name.into()),
            grid_zone: None,
            country: Some(country.into()),
            region: Some(region.into()),
            zone: Some((cloud.zone)(region)),
            coordinates: None,
        },
        Hardware {
            instance_type: Some(kind.name.into()),
            gpu_count: Some(kind.gpus),
            gpu_model: kind.gpu_model.map(Into::into),
            vcpus: Some(kind.vcpus),
            memory_bytes: Some(kind.memory_gib << 30),
            cpu_model: Some(kind.cpu_model.into()),
        },
    )
}

carbonaut_sdk::export!(MockCloud: discovery);

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(cloud: Option<&str>, n: u64) -> Result<Vec<ResourceInfo>, ProviderError> {
        let mut settings = vec![("resources_per_project".to_owned(), n.to_string())];
        if let Some(cloud) = cloud {
            settings.push(("cloud".into(), cloud.into()));
        }
        MockCloud::list_resources(
            settings,
            Account {
                name: "acme".into(),
                settings: vec![],
            },
            Project {
                id: "acme-p0".into(),
                name: "p0".into(),
                labels: vec![],
            },
        )
    }

    #[test]
    fn without_a_cloud_the_vms_are_the_anonymous_mock_sizes() {
        let vms = resources(None, 7).expect("vms");
        let last = &vms[6];
        assert_eq!(last.id, "acme-p0-vm6-g0");
        assert_eq!(last.location.cloud, None);
        assert_eq!(last.location.region.as_deref(), Some("eu-central-1"));
        assert_eq!(last.location.zone.as_deref(), Some("eu-central-1a"));
        assert_eq!(last.hardware.instance_type, None);
        assert_eq!(last.hardware.gpu_count, None);
        assert_eq!(last.hardware.vcpus, Some(4), "SIZES[6 / 6]");
        assert_eq!(last.hardware.memory_bytes, Some(16 << 30));
        assert_eq!(last.hardware.cpu_model.as_deref(), Some("Mock Xeon 8375C"));
    }

    #[test]
    fn an_aws_cloud_hands_out_real_types_and_regions() {
        let vms = resources(Some("AWS"), 30).expect("vms");
        let v = &vms[3];
        assert_eq!(v.location.cloud.as_deref(), Some("aws"));
        assert_eq!(v.location.country.as_deref(), Some("US"));
        assert_eq!(v.location.region.as_deref(), Some("us-east-1"));
        assert_eq!(v.location.zone.as_deref(), Some("us-east-1a"));
        assert_eq!(v.hardware.instance_type.as_deref(), Some("p3.2xlarge"));
        assert_eq!(v.hardware.vcpus, Some(8));
        assert_eq!(v.hardware.memory_bytes, Some(61 << 30));
        assert_eq!(v.hardware.gpu_count, Some(1));
        assert_eq!(v.hardware.gpu_model.as_deref(), Some("NVIDIA V100"));
        let g4 = &vms[4];
        assert_eq!(g4.hardware.instance_type.as_deref(), Some("g4dn.xlarge"));
        assert_eq!(g4.hardware.gpu_model.as_deref(), Some("NVIDIA T4"));
        assert_eq!(vms[0].hardware.gpu_count, Some(0), "none, said so");
        assert_eq!(vms[0].location.region.as_deref(), Some("eu-central-1"));
        // Six regions and five types: thirty VMs see every pair.
        let mut pairs: Vec<_> = vms
            .iter()
            .map(|v| (v.location.region.clone(), v.hardware.instance_type.clone()))
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 30);
    }

    #[test]
    fn every_cloud_has_gpus_and_its_own_zones() {
        for (cloud, zone) in [("gcp", "europe-west3-a"), ("azure", "germanywestcentral-1")] {
            let vms = resources(Some(cloud), 5).expect("vms");
            assert_eq!(vms[0].location.zone.as_deref(), Some(zone));
            assert!(
                vms.iter().any(|v| v.hardware.gpu_count == Some(1)),
                "{cloud}"
            );
        }
        assert!(matches!(
            resources(Some("hetzner"), 5),
            Err(ProviderError::BadConfig(_))
        ));
    }
}
