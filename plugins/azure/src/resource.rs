//! A virtual machine as Carbonaut sees it: a VM with its region, country and grid zone, vCPUs
//! and memory from its size, the size as the instance type (what estimation models key on),
//! and labels: `vm_size` (the same, for label filters), `resource_group` and `subscription_id`
//! (what the utilisation query matches Azure Monitor's series by), `availability_zone`,
//! `provisioning_state`, and the VM's tags as `tag_<key>`.
//!
//! The id is `vmId`, the GUID Azure gives a VM at creation: it survives a move to another
//! resource group (which changes the ARM id) and deallocation. A VM without one (never seen;
//! the field is documented as always set) falls back to its ARM id in lower case.

use std::collections::BTreeMap;

use carbonaut_sdk::{Hardware, Location, ResourceInfo, ResourceKind, log};

use crate::compute::{VirtualMachine, VmSize};
use crate::regions;

/// Tags kept on a resource, as hetzner-cloud keeps labels: enough for `env`, `team`,
/// `cost-center`, few enough that none can bloat every snapshot.
const MAX_TAGS: usize = 16;
pub const SUBSCRIPTION_LABEL: &str = "subscription_id";
pub const GROUP_LABEL: &str = "resource_group";

pub fn resource(
    subscription: &str,
    vm: &VirtualMachine,
    sizes: &BTreeMap<String, VmSize>,
) -> ResourceInfo {
    let region = vm.location.to_ascii_lowercase();
    let known = regions::lookup(&region);
    let size_name = &vm.properties.hardware_profile.vm_size;
    let size = sizes.get(&size_name.to_ascii_lowercase());
    let mut labels = vec![
        ("vm_size".to_owned(), size_name.clone()),
        (SUBSCRIPTION_LABEL.to_owned(), subscription.to_owned()),
    ];
    if let Some(group) = vm.resource_group() {
        labels.push((GROUP_LABEL.to_owned(), group.to_ascii_lowercase()));
    }
    if let Some(zone) = vm.zones.first() {
        labels.push(("availability_zone".to_owned(), zone.clone()));
    }
    if let Some(state) = &vm.properties.provisioning_state {
        labels.push(("provisioning_state".to_owned(), state.clone()));
    }
    tags(vm, &mut labels);
    ResourceInfo {
        id: vm
            .properties
            .vm_id
            .clone()
            .unwrap_or_else(|| vm.id.to_ascii_lowercase()),
        name: vm.name.clone(),
        kind: ResourceKind::Vm,
        location: Location {
            cloud: Some("azure".to_owned()),
            // The grid zone, which environment providers are asked about.
            grid_zone: known.map(|(_, grid)| grid.to_owned()),
            country: known.map(|(country, _)| country.to_owned()),
            region: Some(region),
            // Azure's zones are numbers within a region ("1"); the `availability_zone` label.
            zone: None,
            coordinates: None,
        },
        hardware: Hardware {
            vcpus: size.map(|s| s.number_of_cores),
            memory_bytes: size.map(|s| s.memory_in_mb.saturating_mul(1 << 20)),
            cpu_model: None,
            instance_type: Some(size_name.clone()),
            // The size list says nothing of GPUs (Resource SKUs would): unknown.
            gpu_count: None,
            gpu_model: None,
        },
        labels,
    }
}

/// Tags as `tag_<key>`, the key reduced to ASCII letters, digits and `_`, at most
/// [`MAX_TAGS`] in key order; of two keys that reduce alike, the first wins.
fn tags(vm: &VirtualMachine, out: &mut Vec<(String, String)>) {
    let mut kept = 0;
    for (key, value) in &vm.tags {
        if kept == MAX_TAGS {
            log::warn(
                "virtual machine has more tags than are kept",
                &[
                    ("vm", &vm.name),
                    ("tags", &vm.tags.len().to_string()),
                    ("kept", &MAX_TAGS.to_string()),
                ],
            );
            break;
        }
        let clean: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("tag_{}", clean.to_ascii_lowercase());
        if out.iter().all(|(k, _)| *k != name) {
            out.push((name, value.clone()));
            kept += 1;
        }
    }
}
