//! linux-host: the Linux machine Carbonaut runs on, as one resource. Discovery reads its
//! hostname, CPU and memory from `/proc`; resource metrics read its energy from RAPL (Intel and
//! AMD, through powercap) or, where no RAPL is readable, estimate its power from CPU
//! utilisation, and say which in the sample. Every file comes through read-only directories
//! the operator grants; state between calls lives in the key-value store.

mod cpufreq;
mod estimate;
mod memory;
mod procfs;
mod rapl;
mod sample;
mod settings;

use carbonaut_sdk::{
    Account, Discovery, Hardware, Metadata, Plugin, Project, ProviderError, ResourceInfo,
    ResourceKind, ResourceMetrics, ResourceSample, Settings,
};

use sample::grant_proc;

struct LinuxHost;

/// The one project the machine is listed in.
const PROJECT_ID: &str = "local";

impl Plugin for LinuxHost {
    fn metadata() -> Metadata {
        let metadata = Metadata::new(
            "linux-host",
            env!("CARGO_PKG_VERSION"),
            "The Linux machine Carbonaut runs on: RAPL energy where readable, else an estimate \
             from CPU utilisation.",
        )
        .needs_read_only_dir(procfs::PROC)
        .needs_read_only_dir(rapl::ROOTS[0])
        .needs_read_only_dir(rapl::ROOTS[1])
        .needs_read_only_dir(cpufreq::CPU_DIR)
        .needs_key_value();
        settings::SPECS
            .iter()
            .fold(metadata, |m, (key, description)| {
                m.setting(key, description, false)
            })
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The machine's resource id: the setting, else its hostname (stable across restarts, unlike
/// the boot id; `/etc/machine-id` would need `/etc` granted).
fn resource_id(config: &settings::Config) -> Result<String, ProviderError> {
    match &config.resource_id {
        Some(id) => Ok(id.clone()),
        None => procfs::hostname().map_err(grant_proc),
    }
}

impl Discovery for LinuxHost {
    fn list_projects(settings: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        settings::parse(&settings, &account)?;
        Ok(vec![Project {
            id: PROJECT_ID.into(),
            name: "local machine".into(),
            labels: vec![],
        }])
    }

    fn list_resources(
        settings: Settings,
        account: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        let config = settings::parse(&settings, &account)?;
        if project.id != PROJECT_ID {
            return Ok(vec![]);
        }
        let hostname = procfs::hostname().map_err(grant_proc)?;
        let cpuinfo = procfs::parse_cpuinfo(&procfs::read("/proc/cpuinfo").map_err(grant_proc)?);
        let memory_bytes = procfs::read("/proc/meminfo")
            .ok()
            .and_then(|m| procfs::parse_mem_total_bytes(&m));
        let mut labels = Vec::new();
        if let Ok(release) = procfs::read("/proc/sys/kernel/osrelease") {
            labels.push(("kernel".to_owned(), release.trim().to_owned()));
        }
        Ok(vec![ResourceInfo {
            id: resource_id(&config)?,
            name: hostname,
            kind: ResourceKind::Host,
            location: config.location,
            hardware: Hardware {
                instance_type: None,
                gpu_count: None,
                gpu_model: None,
                vcpus: (cpuinfo.logical_cpus > 0).then_some(cpuinfo.logical_cpus),
                memory_bytes,
                cpu_model: cpuinfo.model,
            },
            labels,
        }])
    }
}

impl ResourceMetrics for LinuxHost {
    /// Only the machine itself can be measured: other resources are left out.
    fn collect(
        settings: Settings,
        account: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let config = settings::parse(&settings, &account)?;
        let id = resource_id(&config)?;
        if !resources.iter().any(|r| r.id == id) {
            return Ok(vec![]);
        }
        Ok(vec![sample::take(&config, &id)?])
    }
}

carbonaut_sdk::export!(LinuxHost: discovery, resource_metrics);
