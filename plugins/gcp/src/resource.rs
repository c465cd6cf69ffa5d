//! An instance as Carbonaut sees it: a VM with its region, country and grid zone, vCPUs and
//! memory from its machine type, the machine type as the instance type (what estimation models
//! key on) and its GPUs, and labels: `machine_type` (the same, for label filters), `status`,
//! `zone`, `project_id` (which project to ask Cloud Monitoring about), `cpu_platform`, and the
//! instance's own labels as `label_<key>`.

use carbonaut_sdk::{Hardware, Location, ResourceInfo, ResourceKind, log};

use crate::compute::{Instance, MachineType};
use crate::regions;

/// The instance's own labels kept on a resource, as hetzner-cloud keeps them: enough for
/// `env`, `team`, `cost-center`, few enough that none can bloat every snapshot.
const MAX_OWN_LABELS: usize = 16;
/// The label naming the project, read back by the utilisation query.
pub const PROJECT_LABEL: &str = "project_id";

pub fn resource(project: &str, instance: &Instance, size: Option<MachineType>) -> ResourceInfo {
    let zone = instance.zone_name();
    let region = regions::region_of(zone);
    let known = regions::lookup(region);
    let mut labels = vec![
        (
            "machine_type".to_owned(),
            instance.machine_type_name().to_owned(),
        ),
        ("zone".to_owned(), zone.to_owned()),
        (PROJECT_LABEL.to_owned(), project.to_owned()),
    ];
    for (key, value) in [
        ("status", &instance.status),
        ("cpu_platform", &instance.cpu_platform),
    ] {
        if let Some(value) = value {
            labels.push((key.to_owned(), value.clone()));
        }
    }
    own_labels(instance, &mut labels);
    let (gpu_count, gpu_model) = instance.gpus();
    ResourceInfo {
        id: instance.id.clone(),
        name: instance.name.clone(),
        kind: ResourceKind::Vm,
        location: Location {
            cloud: Some("gcp".to_owned()),
            // The grid zone, which environment providers are asked about.
            grid_zone: known.map(|(_, grid)| grid.to_owned()),
            country: known.map(|(country, _)| country.to_owned()),
            region: Some(region.to_owned()),
            zone: Some(zone.to_owned()),
            coordinates: None,
        },
        hardware: Hardware {
            vcpus: size.map(|s| s.guest_cpus),
            memory_bytes: size.map(|s| s.memory_mb.saturating_mul(1 << 20)),
            cpu_model: None,
            instance_type: Some(instance.machine_type_name().to_owned()),
            gpu_count,
            gpu_model,
        },
        labels,
    }
}

/// Whether Cloud Monitoring has CPU figures for an instance in this status: only a running
/// (or stopping) one; a TERMINATED or SUSPENDED instance is listed and gets no utilisation.
pub fn is_running(status: Option<&str>) -> bool {
    matches!(status, Some("RUNNING" | "STOPPING") | None)
}

/// GCP labels as `label_<key>` (keys are already lower-case letters, digits, `_` and `-`;
/// `-` becomes `_`), at most [`MAX_OWN_LABELS`] in key order.
fn own_labels(instance: &Instance, out: &mut Vec<(String, String)>) {
    let mut kept = 0;
    for (key, value) in &instance.labels {
        if kept == MAX_OWN_LABELS {
            log::warn(
                "instance has more labels than are kept",
                &[
                    ("instance", &instance.id),
                    ("labels", &instance.labels.len().to_string()),
                    ("kept", &MAX_OWN_LABELS.to_string()),
                ],
            );
            break;
        }
        let clean: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("label_{clean}");
        // `a-b` and `a_b` are both valid keys: the first in key order wins.
        if out.iter().all(|(k, _)| *k != name) {
            out.push((name, value.clone()));
            kept += 1;
        }
    }
}
