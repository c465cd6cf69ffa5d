//! Azure region → country (ISO 3166-1 alpha-2) and Electricity Maps grid zone, for the public
//! regions. An approximation by region: the country and zone are those of the city or state
//! Microsoft names for the region (its "Azure geographies" page, as of 2026), and a data
//! centre may draw from a neighbouring grid. The grid zones are Electricity Maps' zone ids
//! (their public zone list); WattTime's balancing authorities are not derived here. A region
//! missing from the table gets neither, and the operator can map it in the config.
//!
//! The regions are those Azure/karpenter-provider-azure's price generator
//! (`hack/code/prices_gen`, 2026) fetches prices for, and Belgium Central. The tests check that
//! every region of Cloud Carbon Footprint's independent table
//! (`plugins/ccf/data/grid-emissions-factors-azure.csv`) is here, in the same country, except
//! two that Microsoft has announced but not opened.

/// `(region, country, grid zone)`, sorted by region.
const REGIONS: &[(&str, &str, &str)] = &[
    ("australiacentral", "AU", "AU-NSW"),    // Canberra (NSW grid)
    ("australiacentral2", "AU", "AU-NSW"),   // Canberra
    ("australiaeast", "AU", "AU-NSW"),       // New South Wales
    ("australiasoutheast", "AU", "AU-VIC"),  // Victoria
    ("austriaeast", "AT", "AT"),             // Vienna
    ("belgiumcentral", "BE", "BE"),          // Brussels (CCF lists it; opened November 2025)
    ("brazilsouth", "BR", "BR-CS"),          // São Paulo State
    ("brazilsoutheast", "BR", "BR-CS"),      // Rio de Janeiro (Southeast subsystem)
    ("canadacentral", "CA", "CA-ON"),        // Toronto
    ("canadaeast", "CA", "CA-QC"),           // Quebec City
    ("centralindia", "IN", "IN-WE"),         // Pune
    ("centralus", "US", "US-MIDW-MISO"),     // Iowa
    ("chilecentral", "CL", "CL-SEN"),        // Santiago (the national grid, SEN)
    ("eastasia", "HK", "HK"),                // Hong Kong
    ("eastus", "US", "US-MIDA-PJM"),         // Virginia
    ("eastus2", "US", "US-MIDA-PJM"),        // Virginia
    ("francecentral", "FR", "FR"),           // Paris
    ("francesouth", "FR", "FR"),             // Marseille
    ("germanynorth", "DE", "DE"),            // Berlin
    ("germanywestcentral", "DE", "DE"),      // Frankfurt
    ("indonesiacentral", "ID", "ID"),        // Jakarta
    ("israelcentral", "IL", "IL"),           // Israel
    ("italynorth", "IT", "IT-NO"),           // Milan
    ("japaneast", "JP", "JP-TK"),            // Tokyo, Saitama
    ("japanwest", "JP", "JP-KN"),            // Osaka
    ("jioindiacentral", "IN", "IN-WE"),      // Nagpur (Western grid)
    ("jioindiawest", "IN", "IN-WE"),         // Jamnagar
    ("koreacentral", "KR", "KR"),            // Seoul
    ("koreasouth", "KR", "KR"),              // Busan
    ("malaysiawest", "MY", "MY-WM"),         // Kuala Lumpur (Peninsular Malaysia)
    ("mexicocentral", "MX", "MX"),           // Querétaro
    ("newzealandnorth", "NZ", "NZ"),         // Auckland
    ("northcentralus", "US", "US-MIDA-PJM"), // Illinois
    ("northeurope", "IE", "IE"),             // Ireland
    ("norwayeast", "NO", "NO-NO1"),          // Oslo
    ("norwaywest", "NO", "NO-NO2"),          // Stavanger (NO2 on Electricity Maps' map, not NO5)
    ("polandcentral", "PL", "PL"),           // Warsaw
    ("qatarcentral", "QA", "QA"),            // Doha
    ("southafricanorth", "ZA", "ZA"),        // Johannesburg
    ("southafricawest", "ZA", "ZA"),         // Cape Town
    ("southcentralus", "US", "US-TEX-ERCO"), // Texas
    ("southeastasia", "SG", "SG"),           // Singapore
    ("southindia", "IN", "IN-SO"),           // Chennai
    ("spaincentral", "ES", "ES"),            // Madrid
    ("swedencentral", "SE", "SE-SE3"),       // Gävle, Sandviken
    ("swedensouth", "SE", "SE-SE4"),         // Staffanstorp, near Malmö
    ("switzerlandnorth", "CH", "CH"),        // Zurich
    ("switzerlandwest", "CH", "CH"),         // Geneva
    ("uaecentral", "AE", "AE"),              // Abu Dhabi
    ("uaenorth", "AE", "AE"),                // Dubai
    ("uksouth", "GB", "GB"),                 // London
    ("ukwest", "GB", "GB"),                  // Cardiff
    ("westcentralus", "US", "US-NW-WACM"),   // Wyoming
    ("westeurope", "NL", "NL"),              // Netherlands
    ("westindia", "IN", "IN-WE"),            // Mumbai
    ("westus", "US", "US-CAL-CISO"),         // California
    ("westus2", "US", "US-NW-GCPD"),         // Washington (Quincy)
    ("westus3", "US", "US-SW-SRP"),          // Phoenix
];

/// Country and grid zone of `region` (any case), if the table knows it.
pub fn lookup(region: &str) -> Option<(&'static str, &'static str)> {
    let region = region.to_ascii_lowercase();
    REGIONS
        .binary_search_by(|(r, _, _)| (*r).cmp(region.as_str()))
        .ok()
        .map(|i| (REGIONS[i].1, REGIONS[i].2))
}

#[cfg(test)]
#[path = "../../ccf/data/region_checks.rs"]
mod region_checks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_found() {
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(lookup("westeurope"), Some(("NL", "NL")));
        assert_eq!(lookup("EastUS"), Some(("US", "US-MIDA-PJM")));
        assert_eq!(lookup("moonbase"), None);
    }

    #[test]
    fn each_zone_is_in_its_country() {
        assert_eq!(
            super::region_checks::zones_outside_their_country(REGIONS),
            Vec::<String>::new()
        );
    }

    /// Cloud Carbon Footprint's grid factors per region (see `region_checks`).
    const CCF: &str = include_str!("../../ccf/data/grid-emissions-factors-azure.csv");

    /// CCF regions (display names) this table leaves out on purpose. When one opens, add it to
    /// `REGIONS` and drop it here.
    const NOT_LISTED: &[(&str, &str)] = &[
        ("East US 3", "announced in 2021 (Atlanta), not open"),
        ("Finland Central", "announced in 2022 (Espoo), not open"),
    ];

    /// ISO 3166-1 code of CCF's Location column: a US state, a city or a country.
    fn iso(ccf_location: &str) -> Option<&'static str> {
        Some(match ccf_location {
            "Arizona" | "California" | "Illinois" | "Iowa" | "Texas" | "Virginia"
            | "Washington" | "Wyoming" => "US",
            "Brussels" => "BE",
            "Cardiff" | "London" => "GB",
            "Chennai" | "Mumbai" | "Pune" => "IN",
            "Frankfurt" => "DE",
            "Gavle" => "SE",
            "Hong Kong" => "HK",
            "Ireland" => "IE",
            "Netherlands" => "NL",
            "Paris" => "FR",
            "Singapore" => "SG",
            _ => return None,
        })
    }

    /// CCF writes display names ("East US 2"); the API, and our table, `eastus2`.
    fn api_name(display_name: &str) -> String {
        display_name.replace(' ', "").to_ascii_lowercase()
    }

    /// Our country of a region as CCF writes it.
    fn ours(region: &str) -> Option<&'static str> {
        lookup(&api_name(region)).map(|(country, _)| country)
    }

    /// Every region CCF lists, but those of `NOT_LISTED`, is ours too, in the same country.
    #[test]
    fn every_region_of_ccf_is_listed_in_its_country() {
        let wrong = super::region_checks::disagreements_with_ccf(CCF, NOT_LISTED, iso, ours);
        assert!(
            wrong.is_empty(),
            "disagreements with CCF:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn regions_left_out_are_in_ccf_and_not_ours() {
        super::region_checks::assert_left_out(CCF, NOT_LISTED, ours);
    }
}
