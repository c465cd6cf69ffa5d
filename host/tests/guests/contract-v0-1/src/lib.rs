//! `legacy-site`, a plugin of the 0.1.0 contract: no `needs` in its metadata, only the `log`
//! import. It implements all three kinds with fixed data, so one daemon can use it next to
//! 0.2.0 plugins for discovery, resource metrics and the grid, and a test can tell its
//! answers apart: one project `old-project`, two hosts in DE, 50 W each, 321 g/kWh.

wit_bindgen::generate!({
    path: "../../../../wit/0.1.0",
    world: "provider",
});

use carbonaut::provider::log::{Level, log};
use carbonaut::provider::types::*;
use exports::carbonaut::provider::{discovery, environment, metadata, resource_metrics};

struct Legacy;

impl metadata::Guest for Legacy {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "legacy-site".into(),
            version: "0.1.0".into(),
            description: "Built against carbonaut:provider@0.1.0".into(),
            kinds: vec![
                ProviderKind::Discovery,
                ProviderKind::ResourceMetrics,
                ProviderKind::Environment,
            ],
            settings: vec![SettingSpec {
                key: "watts".into(),
                description: "Power each host draws (default 50)".into(),
                required: false,
                secret: false,
            }],
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl discovery::Guest for Legacy {
    fn list_projects(_: Settings, account: Account) -> Result<Vec<Project>, ProviderError> {
        log(
            Level::Info,
            "listing projects",
            &[("account".into(), account.name)],
        );
        Ok(vec![Project {
            id: "old-project".into(),
            name: "Old project".into(),
            labels: vec![("contract".into(), "0.1.0".into())],
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
                    country: Some("DE".into()),
                    region: Some("legacy-region".into()),
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

impl resource_metrics::Guest for Legacy {
    fn collect(
        settings: Settings,
        _: Account,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<ResourceSample>, ProviderError> {
        let watts = match settings.iter().find(|(k, _)| k == "watts") {
            None => 50.0,
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

impl environment::Guest for Legacy {
    fn collect(
        _: Settings,
        locations: Vec<LocationQuery>,
    ) -> Result<Vec<EnergyMix>, ProviderError> {
        Ok(locations
            .into_iter()
            .map(|q| EnergyMix {
                location_id: q.id,
                carbon_intensity: 321.0,
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

export!(Legacy);
