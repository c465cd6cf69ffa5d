//! The instants reports speak in: `from` and `to` are a date (`2026-11-01`, midnight UTC) or
//! RFC 3339 with any offset (`2026-11-01T00:00:00+01:00`); everything printed is UTC.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

/// A `from` or `to` that is not an instant reports can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstantError {
    #[error(
        "`{0}` is neither a date (2026-11-01) nor RFC 3339 (2026-11-01T00:00:00Z, \
         2026-11-01T00:00:00+01:00)"
    )]
    Unreadable(String),
    #[error("`{0}` is before 1970")]
    BeforeEpoch(String),
}

/// Milliseconds since the Unix epoch of `text`.
pub fn parse_instant(text: &str) -> Result<u64, InstantError> {
    let text = text.trim();
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| parse_date(text).map(|d| d.midnight().assume_utc()));
    let Some(t) = parsed else {
        return Err(InstantError::Unreadable(text.to_owned()));
    };
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).map_err(|_| InstantError::BeforeEpoch(text.to_owned()))
}

fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    (text.len() == 10)
        .then(|| Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok())
        .flatten()
}

/// `2026-11-01T03:00:00Z`.
pub fn format_instant(ms: u64) -> String {
    to_utc(ms)
        .format(&Rfc3339)
        .unwrap_or_else(|_| format!("{ms} ms"))
}

fn to_utc(ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(UtcOffset::UTC)
}

/// The start of the UTC month `ms` falls in.
pub fn month_start(ms: u64) -> u64 {
    let date = to_utc(ms).date();
    let first = date.replace_day(1).unwrap_or(date);
    to_ms(first)
}

/// The start of the UTC month after the one `ms` falls in.
pub fn next_month_start(ms: u64) -> u64 {
    let date = to_utc(ms).date();
    let (year, month) = match date.month() {
        Month::December => (date.year() + 1, Month::January),
        m => (date.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).map_or(u64::MAX, to_ms)
}

fn to_ms(date: Date) -> u64 {
    let t = date.with_time(Time::MIDNIGHT).assume_utc();
    u64::try_from(t.unix_timestamp() * 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_1: u64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    #[test]
    fn dates_are_utc_midnight_and_offsets_are_honoured() {
        assert_eq!(parse_instant("2026-11-01"), Ok(NOV_1));
        assert_eq!(parse_instant("2026-11-01T00:00:00Z"), Ok(NOV_1));
        assert_eq!(
            parse_instant("2026-11-01T01:00:00+01:00"),
            Ok(NOV_1),
            "01:00 at +01:00 is midnight UTC"
        );
        assert_eq!(parse_instant("2026-10-31T19:00:00-05:00"), Ok(NOV_1));
        assert_eq!(parse_instant("2026-11-01T00:00:00.250Z"), Ok(NOV_1 + 250));
        for bad in [
            "2026-11",
            "yesterday",
            "2026-13-01",
            "2026-11-01 00:00",
            "1969-12-31",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
        assert_eq!(format_instant(NOV_1), "2026-11-01T00:00:00Z");
    }

    #[test]
    fn months_have_their_calendar_lengths() {
        let dec_1 = next_month_start(NOV_1 + 5);
        assert_eq!(dec_1 - NOV_1, 30 * 86_400_000);
        assert_eq!(month_start(dec_1 - 1), NOV_1);
        let jan_1 = next_month_start(dec_1);
        assert_eq!(format_instant(jan_1), "2027-01-01T00:00:00Z");
        let feb_1 = next_month_start(jan_1);
        assert_eq!(next_month_start(feb_1) - feb_1, 28 * 86_400_000);
    }
}
