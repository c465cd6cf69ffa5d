//! A node as the API server describes it, and as Carbonaut sees it: a resource with its
//! region, zone, capacity and instance type.

use std::collections::BTreeMap;

use carbonaut_sdk::{Hardware, Location, ResourceInfo, ResourceKind};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Node {
    pub metadata: ObjectMeta,
    #[serde(default)]
    spec: NodeSpec,
    #[serde(default)]
    status: NodeStatus,
}

#[derive(Deserialize)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct NodeSpec {
    #[serde(rename = "providerID")]
    provider_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct NodeStatus {
    #[serde(default)]
    capacity: BTreeMap<String, String>,
    #[serde(rename = "nodeInfo")]
    node_info: Option<NodeInfo>,
}

#[derive(Deserialize)]
struct NodeInfo {
    #[serde(rename = "osImage", default)]
    os_image: String,
    #[serde(default)]
    architecture: String,
}

/// The first of `keys` the node has: the GA label, then its deprecated beta twin.
fn label<'a>(node: &'a Node, keys: &[&str]) -> Option<&'a String> {
    keys.iter().find_map(|k| node.metadata.labels.get(*k))
}

pub fn resource(node: &Node) -> ResourceInfo {
    let region = label(
        node,
        &[
            "topology.kubernetes.io/region",
            "failure-domain.beta.kubernetes.io/region",
        ],
    );
    let zone = label(
        node,
        &[
            "topology.kubernetes.io/zone",
            "failure-domain.beta.kubernetes.io/zone",
        ],
    );
    let instance_type = label(
        node,
        &[
            "node.kubernetes.io/instance-type",
            "beta.kubernetes.io/instance-type",
        ],
    );
    let mut labels = Vec::new();
    if let Some(t) = instance_type {
        labels.push(("instance_type".to_owned(), t.clone()));
    }
    if let Some(info) = &node.status.node_info {
        labels.push(("arch".to_owned(), info.architecture.clone()));
        labels.push(("os_image".to_owned(), info.os_image.clone()));
    }
    // A cloud sets the provider ID (`aws:///eu-west-1a/i-0abc`, `gce://...`): the node is a VM.
    let kind = match &node.spec.provider_id {
        Some(id) if !id.is_empty() && !id.starts_with("kind://") => ResourceKind::Vm,
        _ => ResourceKind::Host,
    };
    ResourceInfo {
        id: node.metadata.name.clone(),
        name: node.metadata.name.clone(),
        kind,
        location: Location {
            cloud: None,
            grid_zone: None,
            country: None,
            region: region.cloned(),
            zone: zone.cloned(),
            coordinates: None,
        },
        hardware: Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: node.status.capacity.get("cpu").and_then(|q| cpus(q)),
            memory_bytes: node.status.capacity.get("memory").and_then(|q| bytes(q)),
            cpu_model: None,
        },
        labels,
    }
}

/// CPUs of a CPU quantity (`4`, `3500m`, `1.5`), rounded up to whole CPUs.
fn cpus(quantity: &str) -> Option<u32> {
    u32::try_from(crate::quantity::ceil(quantity.trim())?).ok()
}

/// Bytes of a memory quantity (`16Gi`, `1.5Gi`, `129e6`, `2Pi`), rounded up.
fn bytes(quantity: &str) -> Option<u64> {
    u64::try_from(crate::quantity::ceil(quantity.trim())?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity(cpu: &str, memory: &str) -> Hardware {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "status": {"capacity": {"cpu": cpu, "memory": memory}},
        }))
        .expect("a node");
        resource(&node).hardware
    }

    /// Capacities in the forms the API server may write back (issue 27): decimals, exponents,
    /// millibytes (kubectl issue #1597 shows nodes with memory in `m`) and the large suffixes.
    #[test]
    fn capacity_quantities_in_every_form() {
        let h = capacity("1.5", "1.5Gi");
        assert_eq!((h.vcpus, h.memory_bytes), (Some(2), Some(1_610_612_736)));
        let h = capacity("3500m", "129e6");
        assert_eq!((h.vcpus, h.memory_bytes), (Some(4), Some(129_000_000)));
        let h = capacity("64", "3731881984500m");
        assert_eq!(h.memory_bytes, Some(3_731_881_985));
        assert_eq!(capacity("1", "2Pi").memory_bytes, Some(1 << 51));
        assert_eq!(
            capacity("1", "1E").memory_bytes,
            Some(1_000_000_000_000_000_000)
        );
        let h = capacity("lots", "16Gb");
        assert_eq!((h.vcpus, h.memory_bytes), (None, None));
    }
}
