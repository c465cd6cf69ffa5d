//! Azure Resource Manager reads: the subscriptions the principal sees
//! (`GET /subscriptions`, api-version 2022-12-01), the virtual machines of one
//! (`Virtual Machines - List All`, api-version 2024-07-01, every page), and the sizes offered
//! in a location (`Virtual Machine Sizes - List`, `numberOfCores`, `memoryInMB`), cached a day
//! per subscription and location.

use std::collections::BTreeMap;

use carbonaut_sdk::http::encode_component;
use carbonaut_sdk::kv::ExpiringCache;
use carbonaut_sdk::{ProviderError, time};
use serde::{Deserialize, Serialize};

use crate::api::{self, Action};
use crate::config::Config;

const SUBSCRIPTIONS_API: &str = "2022-12-01";
const COMPUTE_API: &str = "2024-07-01";
/// Sizes do not change: a day keeps one request per location a day.
const SIZES_CACHE_MS: u64 = 86_400_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub state: Option<String>,
}

/// A virtual machine, with the fields the plugin uses.
#[derive(Deserialize)]
pub struct VirtualMachine {
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{n}`.
    pub id: String,
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub zones: Vec<String>,
    pub properties: VmProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmProperties {
    #[serde(default)]
    pub vm_id: Option<String>,
    pub hardware_profile: HardwareProfile,
    #[serde(default)]
    pub provisioning_state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareProfile {
    pub vm_size: String,
}

impl VirtualMachine {
    /// The resource group, from the ARM id (`resourceGroups/{rg}`).
    pub fn resource_group(&self) -> Option<&str> {
        let mut parts = self.id.split('/');
        parts
            .by_ref()
            .find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
        parts.next()
    }
}

/// What a size gives a VM.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VmSize {
    pub number_of_cores: u32,
    #[serde(rename = "memoryInMB")]
    pub memory_in_mb: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedSize {
    name: String,
    number_of_cores: u32,
    #[serde(rename = "memoryInMB")]
    memory_in_mb: u64,
}

/// The subscriptions the principal can read.
pub fn subscriptions(config: &Config, token: &str) -> Result<Vec<Subscription>, ProviderError> {
    let who = config.who();
    let action = Action {
        who: &who,
        subscription: "-",
        action: "Microsoft.Resources/subscriptions/read",
    };
    let url = format!(
        "{}/subscriptions?api-version={SUBSCRIPTIONS_API}",
        config.management_base
    );
    api::list_all(url, &config.management_base, token, &action)
}

/// Every virtual machine of `subscription`.
pub fn virtual_machines(
    config: &Config,
    token: &str,
    subscription: &str,
) -> Result<Vec<VirtualMachine>, ProviderError> {
    let who = config.who();
    let action = Action {
        who: &who,
        subscription,
        action: "Microsoft.Compute/virtualMachines/read (list all)",
    };
    let url = format!(
        "{}/subscriptions/{subscription}/providers/Microsoft.Compute/virtualMachines?api-version={COMPUTE_API}",
        config.management_base
    );
    api::list_all(url, &config.management_base, token, &action)
}

/// The sizes offered in `location`, by name (lower case): cached, else asked.
pub fn sizes(
    config: &Config,
    token: &str,
    subscription: &str,
    location: &str,
) -> Result<BTreeMap<String, VmSize>, ProviderError> {
    let cache = ExpiringCache::new(SIZES_CACHE_MS);
    let key = format!("sizes/{subscription}/{location}");
    let now = time::now_ms();
    if let Some(known) = cache.get::<BTreeMap<String, VmSize>>(&key, now)? {
        return Ok(known);
    }
    let who = config.who();
    let action = Action {
        who: &who,
        subscription,
        action: "Microsoft.Compute/locations/vmSizes/read",
    };
    let url = format!(
        "{}/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{}/vmSizes?api-version={COMPUTE_API}",
        config.management_base,
        encode_component(location)
    );
    let listed: Vec<NamedSize> = api::list_all(url, &config.management_base, token, &action)?;
    let sizes: BTreeMap<String, VmSize> = listed
        .into_iter()
        .map(|s| {
            (
                s.name.to_ascii_lowercase(),
                VmSize {
                    number_of_cores: s.number_of_cores,
                    memory_in_mb: s.memory_in_mb,
                },
            )
        })
        .collect();
    cache.remember(&key, now, &sizes);
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_group_comes_from_the_arm_id_in_any_case() {
        let vm: VirtualMachine = serde_json::from_str(
            r#"{"id": "/subscriptions/s/resourcegroups/RG-1/providers/Microsoft.Compute/virtualMachines/v",
                "name": "v", "location": "westeurope",
                "properties": {"hardwareProfile": {"vmSize": "Standard_B1s"}}}"#,
        )
        .expect("a VM");
        assert_eq!(vm.resource_group(), Some("RG-1"));
        assert_eq!(vm.properties.vm_id, None);
    }
}
