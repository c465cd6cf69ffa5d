//! Milliseconds since the Unix epoch as an RFC 3339 UTC timestamp (`2026-12-06T14:05:00Z`),
//! the form of Azure Monitor's `timespan`.

/// `2026-12-06T14:05:00Z`, to the second.
pub fn format(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Howard Hinnant's `civil_from_days`: the date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_the_sdk_parser() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1709210096` is 2024-02-29 12:34:56.
        assert_eq!(format(1_709_210_096_789), "2024-02-29T12:34:56Z");
        for ms in [951_782_400_000u64, 1_704_067_199_000, 4_102_444_800_000] {
            assert_eq!(carbonaut_sdk::time::parse_rfc3339_ms(&format(ms)), Ok(ms));
        }
    }
}
