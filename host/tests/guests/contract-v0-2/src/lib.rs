//! `older-site`, a plugin of the 0.2.0 contract (before estimation, components, clouds and
//! forecasts). It implements all three kinds with fixed data, so one daemon can use it next to
//! 0.1.0 and 0.3.0 plugins, and a test can tell its answers apart: one project
//! `older-project`, two hosts in FR, 30 W each, 123 g/kWh.

wit_bindgen::generate!({
    path: "../../../../wit/0.2.0",
    world: "provider",
    generate_all,
});

use carbonaut::provider::log::{Level, log};
use carbonaut::provider::types::*;
use exports::carbonaut::provider::{discovery, environment, metadata, resource_metrics};

struct Older;

impl metadata::Guest for Older {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "older-site".into(),
            version: "0.1.0".into(),
            description: "Built against carbonaut:provider@0.2.0".into(),
            kinds: vec![
                ProviderKind::Discovery,
                ProviderKind::ResourceMetrics,
                ProviderKind::Environment,
            ],
            settings: vec![SettingSpec {
                key: "watts".into(),
                description: "Power each host draws (default 30)".into(),
                required: false,
                secret: false,
            }],
            needs: CapabilityNeeds {
                http: vec![],
                read_only_dirs: vec![],
                key_value: false,
            },
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl discovery::Guest for Older {
    fn list_projects(_: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        log(
            Level::Info,
            "listing projects",
            &[("account".into(), account.name)],
        );
        Ok(vec![Project {
            id: "older-project".into(),
            name: "Older project".into(),
            labels: vec![("contract".into(), "0.2.0".into())],
        }])
    }

    fn list_resources(
        _: Settings,
        _: Account,
        project: Project,
    ) -> Result<Vec<ResourceInfo>, ProviderError> {
        Ok((1..=2)
            .map(|i| ResourceInfo {
                id: format!("{}-host-{i}", project.id),
                name: format!("host {i}"),
                kind: ResourceKind::Host,
                location: Location {
                    country: Some("FR".into()),
                    region: Some("older-region".into()),
                    zone: None,
                    coordinates: None,
                },
                hardware: Hardware {
                    vcpus: Some(4),
                    memory_bytes: None,
                    cpu_model: None,
                },
                labels: vec![],
            })
            .collect())
    }
}

impl resource_metrics::Guest for Older {
    fn collect(
        settings: Settings,
        _: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let watts = match settings.iter().find(|(k, _)| k == "watts") {
            None => 30.0,
            Some((_, v)) => v.parse().map_err(|_| {
                ProviderError::BadConfig(format!("setting `watts` must be a number, got `{v}`"))
            })?,
        };
        let now = now_ms();
        Ok(resources
            .into_iter()
            .map(|r| ResourceSample {
                resource_id: r.id,
                energy_joules: None,
                power_watts: Some(watts),
                cpu_frequency_hertz: None,
                cpu_utilization_ratio: None,
                read_at: now,
                estimated: false,
            })
            .collect())
    }
}

impl environment::Guest for Older {
    fn collect(
        _: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        Ok(locations
            .into_iter()
            .map(|q| EnergyMix {
                location_id: q.id,
                carbon_intensity: 123.0,
                emission_factor: EmissionFactorType::Lifecycle,
                shares: vec![SourceShare {
                    source: EnergySource::Wind,
                    ratio: 1.0,
                }],
                valid_at: now_ms(),
                estimated: false,
            })
            .collect())
    }
}

export!(Older);
