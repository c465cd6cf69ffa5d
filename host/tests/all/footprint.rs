//! The whole footprint end to end, as `examples/footprint.toml` runs it: a pretend AWS estate
//! (mock-cloud with real instance types, two with a GPU), utilisation only (mock-meter in
//! `utilization` mode), power per component and embodied shares from the ccf plugin, AWS's
//! PUE, Ember's intensities. The relations a user reads must hold on the served numbers:
//! facility energy is IT energy times the PUE, operational emissions are facility energy times
//! the intensity, the components add up to the IT energy, project and account embodied totals
//! are the sums of their resources', and reports carry embodied emissions in their own column.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::*;

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/footprint.toml");
    std::fs::read_to_string(path).expect("the example")
}

/// `examples/footprint.toml` with its plugin folder and a state folder of the test's own, and
/// collections every second.
fn config(dir: &Path) -> std::path::PathBuf {
    let text = example()
        .replace(
            "plugin_dir = \"../target/plugins\"",
            &format!("plugin_dir = {:?}", plugin_dir().display().to_string()),
        )
        .replace(
            "state_dir = \"../target/carbonaut-footprint-state\"",
            "state_dir = \"state\"",
        )
        .replace("resource_metrics = \"5s\"", "resource_metrics = \"1s\"")
        .replace("environment = \"1m\"", "environment = \"1s\"");
    let file = dir.join("footprint.toml");
    std::fs::write(&file, text).expect("config");
    file
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1e-9),
        "{what}: {a} against {b}"
    );
}

/// Each series of `metric` by its `resource` label.
fn by_resource(text: &str, metric: &str) -> BTreeMap<String, f64> {
    series(text, metric)
        .into_iter()
        .filter_map(|line| {
            let resource = line.split("resource=\"").nth(1)?.split('"').next()?;
            let value = line.rsplit(' ').next()?.parse().ok()?;
            Some((resource.to_owned(), value))
        })
        .collect()
}

#[test]
fn the_example_config_is_valid() {
    let checked = check_example("footprint.toml", &[]);
    assert!(checked.ok, "{}{}", checked.stdout, checked.stderr);
}

#[test]
fn an_aws_estate_is_priced_whole_operational_and_embodied_apart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = config(dir.path());
    let daemon = Daemon::start(&["--config", file.to_str().expect("utf-8")]);

    // Three collections after the first priced one: every resource has energy, emissions and
    // an embodied share that has started counting.
    let metrics = daemon.wait_for("/metrics", 90, |t| {
        let embodied = by_resource(t, "carbonaut_resource_embodied_emissions_grams_total");
        let emissions = by_resource(t, "carbonaut_resource_emissions_grams_total");
        embodied.len() == 20
            && embodied.values().all(|g| *g > 0.0)
            && emissions.len() == 20
            && emissions.values().all(|g| *g > 0.0)
    });
    // Stop reading while the numbers move: one scrape holds them all.
    let energy = by_resource(&metrics, "carbonaut_resource_energy_joules_total");
    let facility = by_resource(&metrics, "carbonaut_resource_facility_energy_joules_total");
    let emissions = by_resource(&metrics, "carbonaut_resource_emissions_grams_total");
    let embodied = by_resource(
        &metrics,
        "carbonaut_resource_embodied_emissions_grams_total",
    );
    assert_eq!(energy.len(), 20, "2 projects x 5 + 1 x 10");

    // PUE: AWS's 1.135, and 1.1 where the config sets eu-north-1 apart.
    let topology: serde_json::Value = daemon.get("/api/v1/topology").json().expect("topology");
    let mut region_of = BTreeMap::new();
    let mut types = BTreeMap::new();
    for account in topology["accounts"].as_array().expect("accounts") {
        for project in account["projects"].as_array().expect("projects") {
            for r in project["resources"].as_array().expect("resources") {
                let id = r["provider_id"].as_str().expect("id").to_owned();
                region_of.insert(
                    id.clone(),
                    r["location"]["region"].as_str().expect("region").to_owned(),
                );
                types.insert(
                    id,
                    r["hardware"]["instance_type"]
                        .as_str()
                        .expect("type")
                        .to_owned(),
                );
                assert_eq!(r["location"]["cloud"], "aws");
            }
        }
    }
    assert!(types.values().any(|t| t == "p3.2xlarge"), "{types:?}");
    for (id, it) in &energy {
        let pue = if region_of[id] == "eu-north-1" {
            1.1
        } else {
            1.135
        };
        close(facility[id], it * pue, &format!("facility energy of {id}"));
    }
    assert!(region_of.values().any(|r| r == "eu-north-1"));

    // Operational emissions: facility energy at the country's yearly intensity (static-grid's
    // table, served as the location gauge).
    let intensities: BTreeMap<String, f64> = series(
        &metrics,
        "carbonaut_location_carbon_intensity_grams_per_kilowatt_hour",
    )
    .into_iter()
    .filter_map(|l| {
        let location = l.split("location=\"").nth(1)?.split('"').next()?;
        Some((location.to_owned(), l.rsplit(' ').next()?.parse().ok()?))
    })
    .collect();
    for (id, grams) in &emissions {
        let detail: serde_json::Value = daemon
            .get(&format!(
                "/api/v1/resources/{}",
                resource_key(&topology, id)
            ))
            .json()
            .expect("resource");
        let location = detail["grid_location"].as_str().expect("grid location");
        let intensity = intensities[location];
        close(
            *grams,
            facility[id] / 3.6e6 * intensity,
            &format!("emissions of {id}"),
        );
        assert_eq!(detail["estimated"], true, "modelled, no meter: {detail}");
    }

    // Components add up to the IT energy the model stood in for; GPUs only where there are.
    let components = series(&metrics, "carbonaut_resource_component_energy_joules_total");
    for (id, it) in &energy {
        let sum: f64 = components
            .iter()
            .filter(|l| l.contains(&format!("resource=\"{id}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        close(sum, *it, &format!("components of {id}"));
        let gpu = components
            .iter()
            .any(|l| l.contains(&format!("resource=\"{id}\"")) && l.contains("component=\"gpu\""));
        let has_gpu = ["p3.2xlarge", "g4dn.xlarge"].contains(&types[id].as_str());
        assert_eq!(gpu, has_gpu, "{id} ({})", types[id]);
    }

    // Embodied: every type is in CCF's table; project and account totals are the sums of
    // their resources' (each counter rounded down to a microgram in the totals).
    for account in ["shop", "research"] {
        assert_eq!(
            metric_value(
                &metrics,
                "carbonaut_resources_without_embodied",
                &format!("account=\"{account}\"")
            ),
            Some(0.0)
        );
        let total = metric_value(
            &metrics,
            "carbonaut_account_embodied_emissions_grams_total",
            &format!("account=\"{account}\""),
        )
        .expect("account embodied total");
        let sum: f64 = series(
            &metrics,
            "carbonaut_resource_embodied_emissions_grams_total",
        )
        .iter()
        .filter(|l| l.contains(&format!("account=\"{account}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
        assert!(
            total <= sum && sum - total < 1e-5,
            "{account}: {total} against {sum}"
        );
    }
    // Apart from the operational ones, never added in.
    let embodied_total: f64 = embodied.values().sum();
    let operational_total: f64 = emissions.values().sum();
    let account_emissions: f64 = series(&metrics, "carbonaut_account_emissions_grams_total")
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        (account_emissions - operational_total).abs() < 1e-4,
        "{account_emissions}"
    );
    assert!(embodied_total > 0.0);
    assert_eq!(
        metric_value(&metrics, "carbonaut_footprint_pue", "key=\"aws\""),
        Some(1.135)
    );

    // The report has embodied emissions in a column of their own.
    let report: serde_json::Value = daemon
        .get("/api/v1/report?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&step=day&group_by=account")
        .json()
        .expect("report");
    let kg = report["totals"]["embodied_kgco2e"]
        .as_f64()
        .expect("embodied column");
    assert!(kg > 0.0, "{report}");
    let csv = daemon
        .get("/api/v1/report?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&step=day&group_by=account&format=csv")
        .text()
        .expect("csv");
    assert!(
        csv.lines()
            .next()
            .expect("header")
            .ends_with(",embodied_kgco2e"),
        "{csv}"
    );
    daemon.stop();
}

/// The resource key `/api/v1/resources/{id}` takes for the provider id `provider_id`.
fn resource_key(topology: &serde_json::Value, provider_id: &str) -> String {
    topology["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["projects"].as_array().into_iter().flatten())
        .flat_map(|p| p["resources"].as_array().into_iter().flatten())
        .find(|r| r["provider_id"] == provider_id)
        .and_then(|r| r["id"].as_str())
        .expect("the resource")
        .to_owned()
}
