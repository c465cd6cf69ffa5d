//! Checks of a cloud plugin's region table, shared by the aws, gcp and azure plugins' tests
//! (each includes this file with `#[path]`: the plugins share no test crate). Against Cloud
//! Carbon Footprint's per-region tables beside this file (`grid-emissions-factors-*.csv`,
//! Apache-2.0, see `NOTICE`), written independently of ours, and against Electricity Maps'
//! naming of zones.

/// Rows of `(region, country, grid zone)` whose zone is not in their country: Electricity
/// Maps names a zone by its country's code, alone or before a `-` (`US-MIDA-PJM`, `SE-SE3`),
/// so a zone of another country is a typo. Panics on a country that is not two capitals.
pub fn zones_outside_their_country(table: &[(&str, &str, &str)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (region, country, zone) in table {
        assert!(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()));
        let inside = zone
            .strip_prefix(country)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'));
        if !inside {
            wrong.push(format!("{region}: zone {zone} is not in country {country}"));
        }
    }
    wrong
}

/// Each region of the CCF table `csv` (but those of `not_listed`) whose country `ours` gives
/// otherwise than CCF's second column read by `iso`. Panics on a place `iso` does not know.
pub fn disagreements_with_ccf(
    csv: &str,
    not_listed: &[(&str, &str)],
    iso: impl Fn(&str) -> Option<&'static str>,
    ours: impl Fn(&str) -> Option<&'static str>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for row in csv.lines().skip(1) {
        let mut fields = row.split(',');
        let region = fields.next().expect("a region");
        let place = fields.next().expect("a country or location");
        if not_listed.iter().any(|(r, _)| *r == region) {
            continue;
        }
        let theirs = iso(place).unwrap_or_else(|| panic!("{region}: add {place:?} to iso()"));
        let ours = ours(region).unwrap_or("not listed");
        if ours != theirs {
            wrong.push(format!("{region}: ours {ours}, CCF's {place} ({theirs})"));
        }
    }
    wrong
}

/// Checks that each region of `not_listed` (left out on purpose, with why) is still in the CCF
/// table `csv` and still not ours, so the list cannot go stale.
pub fn assert_left_out(
    csv: &str,
    not_listed: &[(&str, &str)],
    ours: impl Fn(&str) -> Option<&'static str>,
) {
    for (region, why) in not_listed {
        assert!(
            csv.contains(&format!("\n{region},")),
            "{region} is no longer in CCF"
        );
        assert_eq!(
            ours(region),
            None,
            "{region} is listed now, drop it from NOT_LISTED ({why})"
        );
    }
}
