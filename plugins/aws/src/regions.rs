//! Where each commercial AWS region is: its country (ISO 3166-1 alpha-2) and the Electricity
//! Maps grid zone its datacentres most likely draw from, so the environment providers are asked
//! about the right grid.
//!
//! The country is AWS's own (the region's city, "Regions and Availability Zones" in the AWS
//! documentation). The zone is an approximation by region, not by datacentre: AWS publishes
//! no datacentre addresses, so each region is placed in the Electricity Maps zone of its
//! city (zone ids as in Electricity Maps' open-source zone list, `config/zones/*.yaml` of
//! electricitymaps/electricitymaps-contrib, checked December 2026): `us-east-1`, northern
//! Virginia, is in PJM (`US-MIDA-PJM`); `us-west-2`, Boardman in Oregon, in the Bonneville
//! Power Administration's area (`US-NW-BPAT`). GovCloud, China and the European Sovereign
//! Cloud are other partitions with other endpoints and are not listed.
//!
//! The tests check that every region of Cloud Carbon Footprint's independent table
//! (`plugins/ccf/data/grid-emissions-factors-aws.csv`) is here, in the same country,
//! except those of GovCloud and China.

/// Region, country, Electricity Maps zone.
const REGIONS: &[(&str, &str, &str)] = &[
    ("af-south-1", "ZA", "ZA"),         // Cape Town
    ("ap-east-1", "HK", "HK"),          // Hong Kong
    ("ap-east-2", "TW", "TW"),          // Taipei
    ("ap-northeast-1", "JP", "JP-TK"),  // Tokyo
    ("ap-northeast-2", "KR", "KR"),     // Seoul
    ("ap-northeast-3", "JP", "JP-KN"),  // Osaka
    ("ap-south-1", "IN", "IN-WE"),      // Mumbai
    ("ap-south-2", "IN", "IN-SO"),      // Hyderabad
    ("ap-southeast-1", "SG", "SG"),     // Singapore
    ("ap-southeast-2", "AU", "AU-NSW"), // Sydney
    ("ap-southeast-3", "ID", "ID"),     // Jakarta
    ("ap-southeast-4", "AU", "AU-VIC"), // Melbourne
    ("ap-southeast-5", "MY", "MY-WM"),  // Kuala Lumpur
    ("ap-southeast-6", "NZ", "NZ"),     // Auckland
    ("ap-southeast-7", "TH", "TH"),     // Bangkok
    ("ca-central-1", "CA", "CA-QC"),    // Montreal
    ("ca-west-1", "CA", "CA-AB"),       // Calgary
    ("eu-central-1", "DE", "DE"),       // Frankfurt
    ("eu-central-2", "CH", "CH"),       // Zurich
    ("eu-north-1", "SE", "SE-SE3"),     // Stockholm
    ("eu-south-1", "IT", "IT-NO"),      // Milan
    ("eu-south-2", "ES", "ES"),         // Aragón
    ("eu-west-1", "IE", "IE"),          // Dublin
    ("eu-west-2", "GB", "GB"),          // London
    ("eu-west-3", "FR", "FR"),          // Paris
    ("il-central-1", "IL", "IL"),       // Tel Aviv
    ("me-central-1", "AE", "AE"),       // United Arab Emirates
    ("me-south-1", "BH", "BH"),         // Bahrain
    ("mx-central-1", "MX", "MX"),       // Querétaro (one Electricity Maps zone since 2025)
    ("sa-east-1", "BR", "BR-CS"),       // São Paulo
    ("us-east-1", "US", "US-MIDA-PJM"), // Northern Virginia
    ("us-east-2", "US", "US-MIDA-PJM"), // Ohio (Columbus, in PJM)
    ("us-west-1", "US", "US-CAL-CISO"), // Northern California
    ("us-west-2", "US", "US-NW-BPAT"),  // Oregon
];

/// The country and grid zone of `region`, if it is a known commercial region.
pub fn place(region: &str) -> Option<(&'static str, &'static str)> {
    REGIONS
        .iter()
        .find(|(name, _, _)| *name == region)
        .map(|(_, country, zone)| (*country, *zone))
}

#[cfg(test)]
#[path = "../../ccf/data/region_checks.rs"]
mod region_checks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_have_a_country_and_a_zone() {
        assert_eq!(place("us-east-1"), Some(("US", "US-MIDA-PJM")));
        assert_eq!(place("eu-central-1"), Some(("DE", "DE")));
        assert_eq!(place("eu-west-1"), Some(("IE", "IE")));
        assert_eq!(place("cn-north-1"), None);
        let mut names: Vec<&str> = REGIONS.iter().map(|r| r.0).collect();
        let listed = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), listed, "each region once");
    }

    #[test]
    fn each_zone_is_in_its_country() {
        assert_eq!(
            super::region_checks::zones_outside_their_country(REGIONS),
            Vec::<String>::new()
        );
    }

    /// Cloud Carbon Footprint's grid factors per region (see `region_checks`).
    const CCF: &str = include_str!("../../ccf/data/grid-emissions-factors-aws.csv");

    /// CCF regions this table leaves out on purpose.
    const NOT_LISTED: &[(&str, &str)] = &[
        ("us-gov-east-1", "GovCloud, another partition (module doc)"),
        ("us-gov-west-1", "GovCloud, another partition (module doc)"),
        ("cn-north-1", "China, another partition (module doc)"),
        ("cn-northwest-1", "China, another partition (module doc)"),
    ];

    /// ISO 3166-1 code of CCF's Country column.
    fn iso(ccf_country: &str) -> Option<&'static str> {
        Some(match ccf_country {
            "Australia" => "AU",
            "Bahrain" => "BH",
            "Brazil" => "BR",
            "Canada" => "CA",
            // CCF names the nation; the country code is the United Kingdom's.
            "England" => "GB",
            "France" => "FR",
            "Germany" => "DE",
            "Hong Kong" => "HK",
            "India" => "IN",
            "Ireland" => "IE",
            "Italy" => "IT",
            "Japan" => "JP",
            "Singapore" => "SG",
            "South Africa" => "ZA",
            "South Korea" => "KR",
            "Sweden" => "SE",
            "United States" => "US",
            _ => return None,
        })
    }

    /// Our country of `region`.
    fn ours(region: &str) -> Option<&'static str> {
        place(region).map(|(country, _)| country)
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
