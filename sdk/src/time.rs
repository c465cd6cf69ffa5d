//! Wall-clock time for plugins: now, RFC 3339 timestamps (what most HTTP APIs send in their
//! bodies) and HTTP dates (what servers send in `Date` and `Retry-After`), as milliseconds
//! since the Unix epoch, the unit of `timestamp-ms`. Parsed by hand: a date crate would add
//! more to every component than these few lines do.

use crate::TimestampMs;

/// Milliseconds since the Unix epoch, UTC, from the host's wall clock (0 if it is before 1970).
pub fn now_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(pub String);

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimeError {}

/// `2024-05-21T13:45:00.123Z` or `2024-05-21T15:45:00+02:00` (RFC 3339: `T`, `t` or a space
/// between date and time, optional fraction of a second, `Z` or an offset) as milliseconds
/// since the Unix epoch. Times before 1970 and leap seconds are refused.
pub fn parse_rfc3339_ms(text: &str) -> Result<TimestampMs, TimeError> {
    let fail = |why: &str| TimeError(format!("`{text}` is not an RFC 3339 timestamp: {why}"));
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(fail("it is too short"));
    }
    let digits = |from: usize, len: usize| -> Result<i64, TimeError> {
        let part = b
            .get(from..from + len)
            .ok_or_else(|| fail("it is too short"))?;
        part.iter().try_fold(0i64, |n, c| {
            if c.is_ascii_digit() {
                Ok(n * 10 + i64::from(c - b'0'))
            } else {
                Err(fail("a digit is missing"))
            }
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(fail("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(fail("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(fail("no such time of day"));
    }

    let mut at = 19;
    let mut millis = 0;
    if b[at] == b'.' {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            // Digits past the millisecond are dropped, not rounded: the value stays in its second.
            if at - start < 3 {
                millis = millis * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err(fail("the fraction of a second has no digits"));
        }
        for _ in (at - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            if h > 23 || m > 59 {
                return Err(fail("the offset is out of range"));
            }
            if sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return Err(fail("expected `Z` or an offset like `+02:00` at the end")),
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    let ms = seconds * 1000 + millis;
    u64::try_from(ms).map_err(|_| fail("it is before 1970"))
}

/// An HTTP date, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate, the only form a
/// server may send), as milliseconds since the Unix epoch. Surrounding white space is
/// allowed; the day name is checked to be one, not to match the date. The obsolete RFC 850
/// and asctime forms are refused: servers have not sent them for decades, and a plugin
/// that gets one falls back as for any unreadable header. Times before 1970 are refused.
pub fn parse_http_date_ms(text: &str) -> Result<TimestampMs, TimeError> {
    let fail = |why: &str| TimeError(format!("`{text}` is not an HTTP date: {why}"));
    let b = text.trim().as_bytes();
    // "Sun, 06 Nov 1994 08:49:37 GMT": every field at a fixed place.
    if b.len() != 29 {
        return Err(fail("expected the form `Sun, 06 Nov 1994 08:49:37 GMT`"));
    }
    let digits = |from: usize, len: usize| -> Result<i64, TimeError> {
        b[from..from + len].iter().try_fold(0i64, |n, c| {
            if c.is_ascii_digit() {
                Ok(n * 10 + i64::from(c - b'0'))
            } else {
                Err(fail("a digit is missing"))
            }
        })
    };
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let separators = [
        (3, b','),
        (4, b' '),
        (7, b' '),
        (11, b' '),
        (16, b' '),
        (19, b':'),
    ];
    if !DAYS.contains(&&b[0..3])
        || separators.iter().any(|&(i, c)| b[i] != c)
        || b[22] != b':'
        || &b[25..] != b" GMT"
    {
        return Err(fail("expected the form `Sun, 06 Nov 1994 08:49:37 GMT`"));
    }
    let month = MONTHS
        .iter()
        .position(|m| *m == &b[8..11])
        .ok_or_else(|| fail("no such month"))?;
    let month = i64::try_from(month).map_err(|_| fail("no such month"))? + 1;
    let (day, year) = (digits(5, 2)?, digits(12, 4)?);
    let (hour, minute, second) = (digits(17, 2)?, digits(20, 2)?, digits(23, 2)?);
    if day < 1 || day > days_in_month(year, month) {
        return Err(fail("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(fail("no such time of day"));
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds * 1000).map_err(|_| fail("it is before 1970"))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A UTC date and time of day, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// The UTC date and time of `ms` (milliseconds since the Unix epoch; leap seconds do not
/// exist in it), for APIs that want times in a form of their own (AWS's `20261206T142000Z`).
pub fn civil(ms: TimestampMs) -> Civil {
    let seconds = ms / 1000;
    let rest = seconds % 86_400;
    // Howard Hinnant's `civil_from_days`, the inverse of `days_from_civil` below.
    let z = (seconds / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as u32,
        day: (doy - (153 * mp + 2) / 5 + 1) as u32,
        hour: (rest / 3600) as u32,
        minute: (rest / 60 % 60) as u32,
        second: (rest % 60) as u32,
    }
}

/// `2026-12-06T14:05:00Z`: `ms` as an RFC 3339 UTC timestamp, to the second (what most APIs
/// want in a query's time range; [`parse_rfc3339_ms`] reads it back).
pub fn format_rfc3339_ms(ms: TimestampMs) -> String {
    let c = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_timestamps_read_back() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1709210096` is 2024-02-29 12:34:56.
        assert_eq!(format_rfc3339_ms(1_709_210_096_789), "2024-02-29T12:34:56Z");
        for ms in [951_782_400_000u64, 1_704_067_199_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Ok(ms));
        }
    }

    #[test]
    fn utc_and_offsets_land_on_the_same_instant() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339_ms("2024-01-01T00:00:00.000Z"),
            Ok(1_704_067_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-01-01T02:00:00+02:00"),
            Ok(1_704_067_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-12-31T19:00:00-05:00"),
            Ok(1_704_067_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29t12:34:56.7891z"),
            Ok(1_709_210_096_789)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-03-01 00:00:00.5Z"),
            Ok(1_709_251_200_500)
        );
    }

    #[test]
    fn http_dates_become_milliseconds() {
        // `date -u -d 'Sun, 06 Nov 1994 08:49:37 GMT' +%s`
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Ok(784_111_777_000)
        );
        assert_eq!(parse_http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Ok(0));
        // Leap day: `date -u -d '2024-02-29 12:00:00' +%s`
        assert_eq!(
            parse_http_date_ms(" Thu, 29 Feb 2024 12:00:00 GMT\r\n"),
            Ok(1_709_208_000_000)
        );
        assert_eq!(
            parse_http_date_ms("Fri, 31 Dec 9999 23:59:59 GMT"),
            Ok(253_402_300_799_000)
        );
    }

    #[test]
    fn anything_but_an_imf_fixdate_is_refused_with_the_text() {
        for bad in [
            "",
            "120",
            "garbage that is 29 bytes long",
            // RFC 850 and asctime, obsolete.
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Son, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 2023 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, 06 Nov 19x4 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTx",
            "Sun, 06 Nov ２94 08:49:37 GMT",
        ] {
            let err = parse_http_date_ms(bad).expect_err(bad);
            assert!(err.0.contains(bad), "{err}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_the_text() {
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "1969-12-31T23:59:59Z",
            "2024-01-01T00:00:00Zjunk",
            "２024-01-01T00:00:00Z",
        ] {
            let err = parse_rfc3339_ms(bad).expect_err(bad);
            assert!(err.0.contains(bad), "{err}");
        }
    }
}
