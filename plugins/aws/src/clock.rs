//! Times as AWS writes them: `20261206T142000Z` for signatures (`x-amz-date`) and
//! `2026-12-06T14:20:00Z` for CloudWatch's `StartTime`/`EndTime`. The SDK parses RFC 3339;
//! formatting is here, from milliseconds since the Unix epoch (UTC, no leap seconds).

/// Year, month, day, hour, minute, second of `ms`.
fn civil(ms: u64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rest / 3600) as u32,
        (rest / 60 % 60) as u32,
        (rest % 60) as u32,
    )
}

/// `YYYYMMDDTHHMMSSZ`, the signature's timestamp.
pub fn amz_date(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        // `date -u -d @1795446000`: Mon Nov 23 15:00:00 UTC 2026.
        assert_eq!(amz_date(1_795_446_000_999), "20261123T150000Z");
        assert_eq!(iso8601(1_795_446_000_000), "2026-11-23T15:00:00Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        // A leap day.
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
