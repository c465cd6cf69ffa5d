//! What Carbon Aware SDK clients send, read as its WebAPI (ASP.NET) reads it: query keys
//! matched whatever their case and repeated for lists (`location=a&location=b`), instants in
//! ISO 8601 (with an offset; without one, or a bare date, as UTC), and a 400 answered as
//! ASP.NET's `ValidationProblemDetails`: `{type, title, status, detail, errors}`, `errors`
//! naming each field with its messages.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::PrimitiveDateTime;
use time::format_description::well_known::Iso8601;

use carbonaut_store::history::{format_instant, parse_instant};

/// The query string's pairs, keys lower-cased.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect(),
        )
    }

    /// Every non-empty value of `key` (lower case), in the order given.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The last value of `key`, as ASP.NET binds a repeated scalar.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.all(key).last().copied()
    }

    /// `key` as an instant (ms), or a problem naming the field; `None` when absent.
    pub fn instant(&self, field: &str, problem: &mut Problem) -> Option<u64> {
        let raw = self.one(&field.to_ascii_lowercase())?;
        let parsed = parse_time(raw);
        if parsed.is_none() {
            problem.field(
                field,
                format!(
                    "The value '{raw}' is not valid for {field}: write ISO 8601 like \
                     2022-07-19T14:00:00Z or 2022-07-19T14:00:00+02:00"
                ),
            );
        }
        parsed
    }

    /// `key` as a whole number of minutes; `None` when absent.
    pub fn minutes(&self, field: &str, problem: &mut Problem) -> Option<u64> {
        let raw = self.one(&field.to_ascii_lowercase())?;
        match raw.parse::<u64>() {
            Ok(m) if m <= MAX_MINUTES => Some(m),
            _ => {
                problem.field(
                    field,
                    format!(
                        "The value '{raw}' is not valid for {field}: a whole number of minutes \
                         from 0 to {MAX_MINUTES}"
                    ),
                );
                None
            }
        }
    }
}

/// A year of minutes: far beyond any forecast, far from overflowing milliseconds.
const MAX_MINUTES: u64 = 366 * 24 * 60;

/// RFC 3339 (any offset), a date-time without offset (UTC) or a date (midnight UTC). A `+`
/// written unescaped in a URL arrives as a space (`14:00:00 02:00`): read as the `+` meant.
pub fn parse_time(raw: &str) -> Option<u64> {
    let text = raw.trim();
    if let Ok(ms) = parse_instant(text) {
        return Some(ms);
    }
    if let Some(at) = text.rfind(' ')
        && text.len() - at == 6
    {
        let fixed = format!("{}+{}", &text[..at], &text[at + 1..]);
        if let Ok(ms) = parse_instant(&fixed) {
            return Some(ms);
        }
    }
    let t = PrimitiveDateTime::parse(text, &Iso8601::DEFAULT).ok()?;
    let ms = t.assume_utc().unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).ok()
}

/// `2022-07-19T14:00:00+00:00`, as the SDK writes its instants.
pub fn format_time(ms: u64) -> String {
    let utc = format_instant(ms);
    match utc.strip_suffix('Z') {
        Some(head) => format!("{head}+00:00"),
        None => utc,
    }
}

/// Whole minutes of a duration in ms, as the SDK's `duration` fields are.
pub fn minutes_of(ms: u64) -> u64 {
    ms / 60_000
}

/// A refused request, answered as ASP.NET answers one.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: String,
    detail: Option<String>,
    errors: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    errors: &'a BTreeMap<String, Vec<String>>,
}

impl Problem {
    /// A 400 to which fields are added; empty until one is.
    pub fn validation() -> Problem {
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "One or more validation errors occurred.".to_owned(),
            detail: None,
            errors: BTreeMap::new(),
        }
    }

    /// A 400 about one field.
    pub fn bad(field: &str, message: impl Into<String>) -> Problem {
        let mut p = Problem::validation();
        p.field(field, message);
        p
    }

    /// What the SDK answers when its data source has no forecasts at all.
    pub fn not_implemented(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::NOT_IMPLEMENTED,
            title: "NotImplementedException".to_owned(),
            detail: Some(detail.into()),
            errors: BTreeMap::new(),
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "ServiceUnavailable".to_owned(),
            detail: Some(detail.into()),
            errors: BTreeMap::new(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        let detail = detail.into();
        tracing::error!(error = %detail, "a Carbon Aware SDK request failed");
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "InternalServerError".to_owned(),
            detail: Some(detail),
            errors: BTreeMap::new(),
        }
    }

    pub fn field(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// `Err(self)` once a field was added.
    pub fn check(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let kind = match self.status {
            StatusCode::BAD_REQUEST => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            StatusCode::NOT_IMPLEMENTED => "https://tools.ietf.org/html/rfc9110#section-15.6.2",
            StatusCode::SERVICE_UNAVAILABLE => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
            _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
        };
        let detail = self.detail.clone().or_else(|| {
            // The first message, so a client that shows only `detail` says something useful.
            self.errors
                .iter()
                .next()
                .and_then(|(f, m)| m.first().map(|m| format!("{f}: {m}")))
        });
        let body = ProblemBody {
            kind,
            title: &self.title,
            status: self.status.as_u16(),
            detail: detail.as_deref(),
            errors: &self.errors,
        };
        let mut response = (self.status, Json(&body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json; charset=utf-8"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_658_239_200_000; // 2022-07-19T14:00:00Z

    #[test]
    fn instants_read_as_the_sdk_reads_them() {
        for text in [
            "2022-07-19T14:00:00Z",
            "2022-07-19T14:00:00+00:00",
            "2022-07-19T16:00:00+02:00",
            "2022-07-19T16:00:00 02:00",
            "2022-07-19T14:00:00",
            "2022-07-19T14:00:00.000Z",
        ] {
            assert_eq!(parse_time(text), Some(T), "{text}");
        }
        assert_eq!(parse_time("2022-07-19"), Some(T - 14 * 3_600_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(T), "2022-07-19T14:00:00+00:00");
    }

    #[test]
    fn keys_match_whatever_their_case_and_repeat() {
        let p = Params::parse(Some(
            "Location=eastus&location=westus&LOCATION=&windowSize=30",
        ));
        assert_eq!(p.all("location"), ["eastus", "westus"]);
        let mut problem = Problem::validation();
        assert_eq!(p.minutes("windowSize", &mut problem), Some(30));
        assert!(problem.check().is_ok());
        let p = Params::parse(Some("windowSize=-5&dataStartAt=soon"));
        let mut problem = Problem::validation();
        assert_eq!(p.minutes("windowSize", &mut problem), None);
        assert_eq!(p.instant("dataStartAt", &mut problem), None);
        let refused = problem.check().expect_err("two fields");
        assert_eq!(
            refused.errors.keys().collect::<Vec<_>>(),
            ["dataStartAt", "windowSize"]
        );
    }
}
