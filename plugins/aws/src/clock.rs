//! The time as AWS writes it in signatures (`x-amz-date`): `20261206T142000Z`. CloudWatch's
//! `StartTime`/`EndTime` are plain RFC 3339 (`carbonaut_sdk::time::format_rfc3339_ms`).

use carbonaut_sdk::time::civil;

/// `YYYYMMDDTHHMMSSZ`, the signature's timestamp.
pub fn amz_date(ms: u64) -> String {
    let c = civil(ms);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        // `date -u -d @1795446000`: Mon Nov 23 15:00:00 UTC 2026.
        assert_eq!(amz_date(1_795_446_000_999), "20261123T150000Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        // A leap day.
        assert_eq!(amz_date(951_782_400_000), "20000229T000000Z");
    }
}
