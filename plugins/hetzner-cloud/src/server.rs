//! A server as the Hetzner Cloud API describes it, and as Carbonaut sees it: a VM with its
//! location, country, coordinates, vCPUs, memory and server type.

use std::collections::BTreeMap;

use carbonaut_sdk::{Coordinates, Hardware, Location, ResourceInfo, ResourceKind};
use serde::Deserialize;

/// The server's own labels kept on a resource: enough for the usual `env`, `team`, `role`,
/// few enough that a server with dozens cannot bloat every snapshot.
const MAX_OWN_LABELS: usize = 16;
/// Hetzner documents memory "in GB"; RAM is sized in powers of two and the types' figures
/// (2, 4, 8, 16 …) are the JEDEC gigabyte, 2^30 bytes, like every cloud's "GB" of memory.
const BYTES_PER_GB: f64 = (1u64 << 30) as f64;

#[derive(Deserialize)]
pub struct Server {
    id: u64,
    name: String,
    #[serde(default)]
    status: Option<String>,
    server_type: ServerType,
    /// Where the server runs. Before July 2026 the API sent it inside `datacenter` too.
    location: Option<HLocation>,
    /// Removed from the API in July 2026 (announced 16 December 2025); read when present, as
    /// it is the only source of a zone (`fsn1-dc14`).
    datacenter: Option<Datacenter>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ServerType {
    name: String,
    cores: u32,
    /// GB, a float in the API (`4.0`).
    memory: f64,
    #[serde(default)]
    cpu_type: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
}

#[derive(Deserialize)]
struct HLocation {
    name: String,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    network_zone: Option<String>,
}

#[derive(Deserialize)]
struct Datacenter {
    name: String,
    location: Option<HLocation>,
}

pub fn resource(server: &Server) -> ResourceInfo {
    let place = server
        .location
        .as_ref()
        .or_else(|| server.datacenter.as_ref()?.location.as_ref());
    let location = match place {
        Some(l) => Location {
            cloud: None,
            grid_zone: None,
            country: l.country.clone().filter(|c| !c.is_empty()),
            region: Some(l.name.clone()),
            zone: server.datacenter.as_ref().map(|d| d.name.clone()),
            coordinates: l
                .latitude
                .zip(l.longitude)
                .map(|(latitude, longitude)| Coordinates {
                    latitude,
                    longitude,
                }),
        },
        None => Location::default(),
    };
    let kind = &server.server_type;
    let mut labels = vec![("server_type".to_owned(), kind.name.clone())];
    for (key, value) in [
        ("status", &server.status),
        ("cpu_type", &kind.cpu_type),
        ("architecture", &kind.architecture),
        ("network_zone", &place.and_then(|l| l.network_zone.clone())),
    ] {
        if let Some(value) = value {
            labels.push((key.to_owned(), value.clone()));
        }
    }
    own_labels(server, &mut labels);
    ResourceInfo {
        id: server.id.to_string(),
        name: server.name.clone(),
        kind: ResourceKind::Vm,
        location,
        hardware: Hardware {
            instance_type: None,
            gpu_count: None,
            gpu_model: None,
            vcpus: Some(kind.cores),
            memory_bytes: memory_bytes(kind.memory),
            // The API names no CPU model, only whether the cores are shared or dedicated
            // (the `cpu_type` label).
            cpu_model: None,
        },
        labels,
    }
}

/// The server's labels as `label_<key>`, the key reduced to letters, digits and `_` (Hetzner
/// keys may hold `.`, `-` and a `/`-separated prefix), at most [`MAX_OWN_LABELS`] in key order.
fn own_labels(server: &Server, out: &mut Vec<(String, String)>) {
    let mut kept = 0;
    for (key, value) in &server.labels {
        if kept == MAX_OWN_LABELS {
            carbonaut_sdk::log::warn(
                "server has more labels than are kept",
                &[
                    ("server", &server.id.to_string()),
                    ("labels", &server.labels.len().to_string()),
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
        // Two keys that differ only in punctuation: the first (in key order) wins.
        if out.iter().all(|(k, _)| *k != name) {
            out.push((name, value.clone()));
            kept += 1;
        }
    }
}

fn memory_bytes(gb: f64) -> Option<u64> {
    let bytes = (gb * BYTES_PER_GB).round();
    // A float cast saturates; reject what no server has rather than report u64::MAX.
    (bytes.is_finite() && bytes > 0.0 && bytes < 2f64.powi(60)).then_some(bytes as u64)
}
