//! EC2: the account's enabled regions (`DescribeRegions`) and a region's instances
//! (`DescribeInstances`, every page), and an instance as Carbonaut sees it: a VM with its
//! region, country, grid zone, vCPUs, memory, type, state and tags.

use std::collections::BTreeMap;

use carbonaut_sdk::{Hardware, Location, ProviderError, ResourceInfo, ResourceKind, log};
use roxmltree::Node;

use crate::client::{Client, Service};
use crate::xml;
use crate::{instance_types, regions};

/// Tags kept on a resource as `tag_<key>`: the usual `Name`, `team`, `env`, `cost-center`,
/// few enough that an instance with dozens of tags cannot bloat every snapshot (the rule of
/// the hetzner-cloud plugin's labels).
const MAX_TAGS: usize = 16;

/// The regions DescribeRegions lists for the account: those enabled for it (opt-in regions
/// only once opted in).
pub fn regions(client: &Client<'_>, any_region: &str) -> Result<Vec<String>, ProviderError> {
    let text = client.call(Service::Ec2, any_region, "DescribeRegions", &[])?;
    let doc = xml::parse(&text, "ec2:DescribeRegions").map_err(ProviderError::Other)?;
    let mut names: Vec<String> = xml::entries(doc.root_element(), "regionInfo")
        .filter(|r| xml::text(*r, "optInStatus") != Some("not-opted-in"))
        .filter_map(|r| xml::text(r, "regionName"))
        .filter(|name| crate::settings::is_region_name(name))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// An instance, as read from DescribeInstances.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub instance_type: String,
    pub state: String,
    pub availability_zone: Option<String>,
    pub architecture: Option<String>,
    /// `cpuOptions`: cores × threads per core, when the answer has it.
    pub vcpus: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

/// Every instance of `region`, page by page until there is no `nextToken`.
pub fn instances(
    client: &Client<'_>,
    region: &str,
    page_size: u32,
) -> Result<Vec<Instance>, ProviderError> {
    let mut instances = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![("MaxResults".to_owned(), page_size.to_string())];
        if let Some(token) = &token {
            params.push(("NextToken".to_owned(), token.clone()));
        }
        let text = client.call(Service::Ec2, region, "DescribeInstances", &params)?;
        let (page, next) = parse_page(&text).map_err(|e| {
            ProviderError::Other(format!(
                "account `{}`, region `{region}`, ec2:DescribeInstances: {e}",
                client.account()
            ))
        })?;
        instances.extend(page);
        match next {
            // The client's request budget ends a listing whose token never runs out.
            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
            Some(_) => {
                return Err(ProviderError::Other(format!(
                    "account `{}`, region `{region}`, ec2:DescribeInstances: the same \
                     nextToken came back twice",
                    client.account()
                )));
            }
            None => return Ok(instances),
        }
    }
}

/// One page: its instances and the token of the next.
fn parse_page(text: &str) -> Result<(Vec<Instance>, Option<String>), String> {
    let doc = xml::parse(text, "the page")?;
    let root = doc.root_element();
    let mut instances = Vec::new();
    for reservation in xml::entries(root, "reservationSet") {
        for item in xml::entries(reservation, "instancesSet") {
            instances.push(instance(item)?);
        }
    }
    Ok((instances, xml::text(root, "nextToken").map(str::to_owned)))
}

fn instance(item: Node<'_, '_>) -> Result<Instance, String> {
    let id = xml::text(item, "instanceId").ok_or("an instance without instanceId")?;
    let missing = |what: &str| format!("instance {id} has no {what}");
    let state = xml::child(item, "instanceState")
        .and_then(|s| xml::text(s, "name"))
        .ok_or_else(|| missing("instanceState"))?;
    let vcpus = xml::child(item, "cpuOptions").and_then(|c| {
        let cores: u32 = xml::text(c, "coreCount")?.parse().ok()?;
        let threads: u32 = xml::text(c, "threadsPerCore")?.parse().ok()?;
        cores.checked_mul(threads).filter(|n| *n > 0)
    });
    let tags = xml::entries(item, "tagSet")
        .filter_map(|t| {
            let key = xml::text(t, "key")?;
            // An empty value is a tag too (`<value/>`).
            let value = xml::text(t, "value").unwrap_or_default();
            Some((key.to_owned(), value.to_owned()))
        })
        .collect();
    Ok(Instance {
        id: id.to_owned(),
        instance_type: xml::text(item, "instanceType")
            .ok_or_else(|| missing("instanceType"))?
            .to_owned(),
        state: state.to_owned(),
        availability_zone: xml::child(item, "placement")
            .and_then(|p| xml::text(p, "availabilityZone"))
            .map(str::to_owned),
        architecture: xml::text(item, "architecture").map(str::to_owned),
        vcpus,
        tags,
    })
}

/// The instance as a resource of `region`.
pub fn resource(instance: &Instance, region: &str) -> ResourceInfo {
    let place = regions::place(region);
    let sized = instance_types::size(&instance.instance_type);
    let mut labels = vec![("state".to_owned(), instance.state.clone())];
    for (key, value) in [
        ("availability_zone", &instance.availability_zone),
        ("architecture", &instance.architecture),
    ] {
        if let Some(value) = value {
            labels.push((key.to_owned(), value.clone()));
        }
    }
    tags(instance, &mut labels);
    ResourceInfo {
        id: instance.id.clone(),
        name: instance
            .tags
            .get("Name")
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&instance.id)
            .clone(),
        kind: ResourceKind::Vm,
        location: Location {
            cloud: Some("aws".to_owned()),
            // The Electricity Maps zone of the region: what environment providers are asked.
            grid_zone: place.map(|(_, zone)| zone.to_owned()),
            country: place.map(|(country, _)| country.to_owned()),
            region: Some(region.to_owned()),
            zone: instance.availability_zone.clone(),
            coordinates: None,
        },
        hardware: Hardware {
            vcpus: instance.vcpus.or(sized.map(|(vcpus, _)| vcpus)),
            memory_bytes: sized.map(|(_, bytes)| bytes),
            // DescribeInstances names no CPU model.
            cpu_model: None,
            // What footprint models (the ccf plugin) key on: power per type, embodied share.
            instance_type: Some(instance.instance_type.clone()),
            // Unknown from DescribeInstances (the type says it; the model knows the type).
            gpu_count: None,
            gpu_model: None,
        },
        labels,
    }
}

/// The tags as `tag_<key>`, the key reduced to letters, digits and `_`, at most [`MAX_TAGS`]
/// in key order; of two keys that reduce alike, the first wins.
fn tags(instance: &Instance, out: &mut Vec<(String, String)>) {
    let mut kept = 0;
    for (key, value) in &instance.tags {
        if kept == MAX_TAGS {
            log::warn(
                "instance has more tags than are kept",
                &[
                    ("instance", &instance.id),
                    ("tags", &instance.tags.len().to_string()),
                    ("kept", &MAX_TAGS.to_string()),
                ],
            );
            break;
        }
        let clean: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("tag_{clean}");
        if out.iter().all(|(k, _)| *k != name) {
            out.push((name, value.clone()));
            kept += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_with_cpu_options_tags_and_a_token() {
        let page = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <reservationSet><item><instancesSet><item>
    <instanceId>i-1</instanceId><instanceType>m5.xlarge</instanceType>
    <instanceState><code>16</code><name>running</name></instanceState>
    <placement><availabilityZone>eu-west-1b</availabilityZone></placement>
    <architecture>x86_64</architecture>
    <cpuOptions><coreCount>1</coreCount><threadsPerCore>2</threadsPerCore></cpuOptions>
    <tagSet><item><key>Name</key><value>web</value></item><item><key>team.io/x</key><value/></item></tagSet>
  </item></instancesSet></item></reservationSet>
  <nextToken>abc</nextToken></DescribeInstancesResponse>"#;
        let (instances, next) = parse_page(page).expect("page");
        assert_eq!(next.as_deref(), Some("abc"));
        let resource = resource(&instances[0], "eu-west-1");
        assert_eq!(resource.name, "web");
        assert_eq!(resource.hardware.vcpus, Some(2), "from cpuOptions");
        assert_eq!(resource.hardware.memory_bytes, Some(16 << 30));
        assert_eq!(resource.location.country.as_deref(), Some("IE"));
        assert_eq!(resource.location.cloud.as_deref(), Some("aws"));
        assert_eq!(
            resource.hardware.instance_type.as_deref(),
            Some("m5.xlarge")
        );
        assert_eq!(
            resource.labels,
            [
                ("state", "running"),
                ("availability_zone", "eu-west-1b"),
                ("architecture", "x86_64"),
                ("tag_Name", "web"),
                ("tag_team_io_x", ""),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(parse_page("<x><reservationSet><item><instancesSet><item/></instancesSet></item></reservationSet></x>").is_err());
    }
}
