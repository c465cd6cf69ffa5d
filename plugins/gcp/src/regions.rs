//! Region → country (ISO 3166-1 alpha-2) and Electricity Maps grid zone, for the regions
//! Google lists publicly. An approximation by region: the country and zone are those of the
//! city Google names for the region (from Google's "Cloud locations" page, as of 2026), and a
//! data centre may draw from a neighbouring grid. The grid zones are Electricity Maps' zone
//! ids (their public zone list); WattTime's balancing authorities are not derived here.
//! A region missing from the table gets neither, and the operator can map it in the config.
//! The tests check that every region of Cloud Carbon Footprint's independent table
//! (`plugins/ccf/data/grid-emissions-factors-gcp.csv`) is here, in the same country.

/// `(region, country, grid zone)`, sorted by region.
const REGIONS: &[(&str, &str, &str)] = &[
    ("africa-south1", "ZA", "ZA"),              // Johannesburg
    ("asia-east1", "TW", "TW"),                 // Changhua County
    ("asia-east2", "HK", "HK"),                 // Hong Kong
    ("asia-northeast1", "JP", "JP-TK"),         // Tokyo
    ("asia-northeast2", "JP", "JP-KN"),         // Osaka
    ("asia-northeast3", "KR", "KR"),            // Seoul
    ("asia-south1", "IN", "IN-WE"),             // Mumbai
    ("asia-south2", "IN", "IN-NO"),             // Delhi
    ("asia-southeast1", "SG", "SG"),            // Jurong West
    ("asia-southeast2", "ID", "ID"),            // Jakarta
    ("australia-southeast1", "AU", "AU-NSW"),   // Sydney
    ("australia-southeast2", "AU", "AU-VIC"),   // Melbourne
    ("europe-central2", "PL", "PL"),            // Warsaw
    ("europe-north1", "FI", "FI"),              // Hamina
    ("europe-north2", "SE", "SE-SE3"),          // Stockholm
    ("europe-southwest1", "ES", "ES"),          // Madrid
    ("europe-west1", "BE", "BE"),               // St. Ghislain
    ("europe-west10", "DE", "DE"),              // Berlin
    ("europe-west12", "IT", "IT-NO"),           // Turin
    ("europe-west2", "GB", "GB"),               // London
    ("europe-west3", "DE", "DE"),               // Frankfurt
    ("europe-west4", "NL", "NL"),               // Eemshaven
    ("europe-west6", "CH", "CH"),               // Zurich
    ("europe-west8", "IT", "IT-NO"),            // Milan
    ("europe-west9", "FR", "FR"),               // Paris
    ("me-central1", "QA", "QA"),                // Doha
    ("me-central2", "SA", "SA"),                // Dammam
    ("me-west1", "IL", "IL"),                   // Tel Aviv
    ("northamerica-northeast1", "CA", "CA-QC"), // Montréal
    ("northamerica-northeast2", "CA", "CA-ON"), // Toronto
    ("northamerica-south1", "MX", "MX"),        // Querétaro
    ("southamerica-east1", "BR", "BR-CS"),      // São Paulo
    ("southamerica-west1", "CL", "CL-SEN"),     // Santiago
    ("us-central1", "US", "US-MIDW-MISO"),      // Council Bluffs, Iowa
    ("us-east1", "US", "US-CAR-SC"),            // Moncks Corner, South Carolina
    ("us-east4", "US", "US-MIDA-PJM"),          // Ashburn, Virginia
    ("us-east5", "US", "US-MIDA-PJM"),          // Columbus, Ohio
    ("us-south1", "US", "US-TEX-ERCO"),         // Dallas, Texas
    ("us-west1", "US", "US-NW-BPAT"),           // The Dalles, Oregon
    ("us-west2", "US", "US-CAL-LDWP"),          // Los Angeles
    ("us-west3", "US", "US-NW-PACE"),           // Salt Lake City
    ("us-west4", "US", "US-NW-NEVP"),           // Las Vegas (Electricity Maps files NEVP under NW)
];

/// Country and grid zone of `region`, if the table knows it.
pub fn lookup(region: &str) -> Option<(&'static str, &'static str)> {
    REGIONS
        .binary_search_by(|(r, _, _)| (*r).cmp(region))
        .ok()
        .map(|i| (REGIONS[i].1, REGIONS[i].2))
}

/// `us-central1` from the zone `us-central1-a`.
pub fn region_of(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(region, _)| region)
}

#[cfg(test)]
#[path = "../../ccf/data/region_checks.rs"]
#[allow(dead_code)] // `assert_left_out`: this table leaves no CCF region out.
mod region_checks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_found() {
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(lookup("europe-west4"), Some(("NL", "NL")));
        assert_eq!(lookup("us-central1"), Some(("US", "US-MIDW-MISO")));
        assert_eq!(lookup("mars-north1"), None);
        assert_eq!(region_of("us-central1-a"), "us-central1");
        assert_eq!(region_of("europe-west10-c"), "europe-west10");
    }

    #[test]
    fn each_zone_is_in_its_country() {
        assert_eq!(
            super::region_checks::zones_outside_their_country(REGIONS),
            Vec::<String>::new()
        );
    }

    /// Cloud Carbon Footprint's grid factors per region (see `region_checks`).
    const CCF: &str = include_str!("../../ccf/data/grid-emissions-factors-gcp.csv");

    /// ISO 3166-1 code of CCF's Location column: a country, or a US state or city.
    fn iso(ccf_location: &str) -> Option<&'static str> {
        Some(match ccf_location {
            "Iowa" | "Las Vegas" | "Los Angeles" | "Northern Virginia" | "Oregon"
            | "Salt Lake City" | "South Carolina" => "US",
            "Australia" => "AU",
            "Belgium" => "BE",
            "Brazil" => "BR",
            "Canada" => "CA",
            // CCF names the nation; the country code is the United Kingdom's.
            "England" => "GB",
            "Finland" => "FI",
            "Germany" => "DE",
            "Hong Kong" => "HK",
            "India" => "IN",
            "Indonesia" => "ID",
            "Japan" => "JP",
            "Netherlands" => "NL",
            "Singapore" => "SG",
            "South Korea" => "KR",
            "Switzerland" => "CH",
            "Taiwan" => "TW",
            _ => return None,
        })
    }

    /// Our country of `region`.
    fn ours(region: &str) -> Option<&'static str> {
        lookup(region).map(|(country, _)| country)
    }

    /// Every region CCF lists is ours too (none is left out), in the same country.
    #[test]
    fn every_region_of_ccf_is_listed_in_its_country() {
        let wrong = super::region_checks::disagreements_with_ccf(CCF, &[], iso, ours);
        assert!(
            wrong.is_empty(),
            "disagreements with CCF:\n{}",
            wrong.join("\n")
        );
    }
}
