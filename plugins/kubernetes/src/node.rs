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
            country: None,
            region: region.cloned(),
            zone: zone.cloned(),
            coordinates: None,
        },
        hardware: Hardware {
            vcpus: node.status.capacity.get("cpu").and_then(|q| cpus(q)),
            memory_bytes: node.status.capacity.get("memory").and_then(|q| bytes(q)),
            cpu_model: None,
        },
        labels,
    }
}

/// CPU quantity: `4` or `3500m` (rounded up to whole CPUs).
fn cpus(quantity: &str) -> Option<u32> {
    match quantity.strip_suffix('m') {
        Some(milli) => milli.parse::<u32>().ok().map(|m| m.div_ceil(1000)),
        None => quantity.parse().ok(),
    }
}

/// Memory quantity with a binary (`Ki`, `Mi`, `Gi`, `Ti`) or decimal (`k`, `M`, `G`, `T`)
/// suffix, or plain bytes.
fn bytes(quantity: &str) -> Option<u64> {
    const SUFFIXES: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = quantity.strip_suffix(suffix) {
            return number.parse::<u64>().ok()?.checked_mul(*factor);
        }
    }
    quantity.parse().ok()
}
