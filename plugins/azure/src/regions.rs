//! Azure region → country (ISO 3166-1 alpha-2) and Electricity Maps grid zone, for the public
//! regions. An approximation by region: the country and zone are those of the city or state
//! Microsoft names for the region (its "Azure geographies" page, as of 2026), and a data
//! centre may draw from a neighbouring grid. The grid zones are Electricity Maps' zone ids
//! (their public zone list); WattTime's balancing authorities are not derived here. A region
//! missing from the table gets neither, and the operator can map it in the config.

/// `(region, country, grid zone)`, sorted by region.
const REGIONS: &[(&str, &str, &str)] = &[
    ("australiacentral", "AU", "AU-NSW"),    // Canberra (NSW grid)
    ("australiacentral2", "AU", "AU-NSW"),   // Canberra
    ("australiaeast", "AU", "AU-NSW"),       // New South Wales
    ("australiasoutheast", "AU", "AU-VIC"),  // Victoria
    ("brazilsouth", "BR", "BR-CS"),          // São Paulo State
    ("canadacentral", "CA", "CA-ON"),        // Toronto
    ("canadaeast", "CA", "CA-QC"),           // Quebec City
    ("centralindia", "IN", "IN-WE"),         // Pune
    ("centralus", "US", "US-MIDW-MISO"),     // Iowa
    ("eastasia", "HK", "HK"),                // Hong Kong
    ("eastus", "US", "US-MIDA-PJM"),         // Virginia
    ("eastus2", "US", "US-MIDA-PJM"),        // Virginia
    ("francecentral", "FR", "FR"),           // Paris
    ("francesouth", "FR", "FR"),             // Marseille
    ("germanynorth", "DE", "DE"),            // Berlin
    ("germanywestcentral", "DE", "DE"),      // Frankfurt
    ("israelcentral", "IL", "IL"),           // Israel
    ("italynorth", "IT", "IT-NO"),           // Milan
    ("japaneast", "JP", "JP-TK"),            // Tokyo, Saitama
    ("japanwest", "JP", "JP-KN"),            // Osaka
    ("koreacentral", "KR", "KR"),            // Seoul
    ("koreasouth", "KR", "KR"),              // Busan
    ("mexicocentral", "MX", "MX"),           // Querétaro
    ("newzealandnorth", "NZ", "NZ"),         // Auckland
    ("northcentralus", "US", "US-MIDA-PJM"), // Illinois
    ("northeurope", "IE", "IE"),             // Ireland
    ("norwayeast", "NO", "NO-NO1"),          // Oslo
    ("norwaywest", "NO", "NO-NO5"),          // Stavanger
    ("polandcentral", "PL", "PL"),           // Warsaw
    ("qatarcentral", "QA", "QA"),            // Doha
    ("southafricanorth", "ZA", "ZA"),        // Johannesburg
    ("southafricawest", "ZA", "ZA"),         // Cape Town
    ("southcentralus", "US", "US-TEX-ERCO"), // Texas
    ("southeastasia", "SG", "SG"),           // Singapore
    ("southindia", "IN", "IN-SO"),           // Chennai
    ("spaincentral", "ES", "ES"),            // Madrid
    ("swedencentral", "SE", "SE-SE3"),       // Gävle, Sandviken
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
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_found() {
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(lookup("westeurope"), Some(("NL", "NL")));
        assert_eq!(lookup("EastUS"), Some(("US", "US-MIDA-PJM")));
        assert_eq!(lookup("moonbase"), None);
    }
}
