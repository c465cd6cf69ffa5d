//! The static-grid plugin answers with Ember's yearly intensities, from a country code (alpha-2
//! or alpha-3), a grid zone, or a cloud region; and leaves out what it cannot place. Expected
//! values are read from the data file the plugin ships, not retyped here.

use carbonaut_model::{EmissionFactorType, Location, LocationQuery};
use carbonaut_plugins::load_file;
use carbonaut_runtime::Grants;

use crate::support::*;

fn ember(alpha3: &str) -> f64 {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/static-grid/ember-average-carbon-intensity.json"
    ))
    .expect("data file");
    let data: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    data[alpha3]["emissions_intensity_gco2_per_kwh"]
        .as_f64()
        .expect("an intensity")
}

fn query(
    id: &str,
    country: Option<&str>,
    region: Option<&str>,
    zone: Option<&str>,
) -> LocationQuery {
    LocationQuery {
        id: id.into(),
        location: Location {
            cloud: None,
            grid_zone: None,
            country: country.map(Into::into),
            region: region.map(Into::into),
            zone: None,
            coordinates: None,
        },
        grid_zone: zone.map(Into::into),
    }
}

#[tokio::test]
async fn static_grid_answers_from_country_zone_or_region() {
    let plugin = load_file(&runtime(), STATIC_GRID.as_ref())
        .await
        .expect("static-grid");
    let queries = [
        query("de", Some("DE"), None, None),
        query("fra", Some("FRA"), None, None),
        query("zone", Some("DE"), None, Some("FR")),
        query("region", None, Some("us-east-1"), None),
        query("nowhere", None, Some("mars-north-1"), None),
    ];
    let mixes = plugin
        .collect_energy_mix(&Grants::NONE, &vec![], &queries)
        .await
        .expect("mixes");
    let by_id = |id: &str| {
        mixes
            .iter()
            .find(|m| m.location_id == id)
            .map(|m| m.carbon_intensity)
    };
    assert_eq!(by_id("de"), Some(ember("DEU")));
    assert_eq!(by_id("fra"), Some(ember("FRA")));
    assert_eq!(
        by_id("zone"),
        Some(ember("FRA")),
        "the grid zone wins over the country"
    );
    assert_eq!(by_id("region"), Some(ember("USA")));
    assert_eq!(
        by_id("nowhere"),
        None,
        "an unknown place is left out, not guessed"
    );
    assert!(
        mixes
            .iter()
            .all(|m| m.estimated && m.emission_factor == EmissionFactorType::Lifecycle)
    );
}
