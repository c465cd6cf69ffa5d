//! Carbon-aware answers from the environment provider's forecasts: a location's forecast
//! (`GET /api/v1/forecast`) and the start and location with the lowest mean intensity for a
//! job of a given length (`GET /api/v1/best-window`), computed as the Carbon Aware SDK
//! computes its rolling average: the time-weighted mean of the forecast over the window.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::carbon_aware::window::{self, Point};
use super::error::ApiError;
use carbonaut_model::IntensityForecast;
use carbonaut_model::clock::now_ms;
use carbonaut_store::history::format_instant;
use humantime_serde::re::humantime;

/// Hours of forecast `GET /api/v1/forecast` answers by default, and at most.
const DEFAULT_HOURS: u64 = 24;
const MAX_HOURS: u64 = 168;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// A location key, as `/api/v1/status` lists them (a grid zone or a country).
    location: String,
    /// Hours ahead, 1 to 168 (default 24).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ForecastView {
    location: String,
    /// When the provider computed the forecast (RFC 3339).
    generated_at: String,
    points: Vec<PointView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointView {
    /// Start of the interval (RFC 3339).
    start: String,
    duration_minutes: f64,
    /// gCO2eq/kWh expected over the interval.
    carbon_intensity: f64,
}

/// A location's intensity forecast from now on.
#[utoipa::path(get, path = "/api/v1/forecast", params(ForecastQuery), security(("bearer" = [])),
    responses((status = 200, body = ForecastView),
        (status = 400, description = "hours out of range"),
        (status = 404, description = "No forecast for this location"), (status = 401)))]
pub async fn forecast(
    State(state): State<AppState>,
    Query(q): Query<ForecastQuery>,
) -> Result<Json<ForecastView>, ApiError> {
    let hours = q.hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::BadRequest(format!(
            "hours must be from 1 to {MAX_HOURS}, got {hours}"
        )));
    }
    let s = state.snapshot.get();
    let f = found(&s.forecasts, &q.location)?;
    let now = now_ms();
    let until = now + hours * HOUR_MS;
    Ok(Json(ForecastView {
        location: q.location,
        generated_at: format_instant(f.generated_at),
        points: f
            .points
            .iter()
            .filter(|p| p.starts_at + p.duration_ms > now && p.starts_at < until)
            .map(|p| PointView {
                start: format_instant(p.starts_at),
                duration_minutes: p.duration_ms as f64 / 60_000.0,
                carbon_intensity: p.carbon_intensity,
            })
            .collect(),
    }))
}

const HOUR_MS: u64 = 3_600_000;

fn found<'a>(
    forecasts: &'a std::collections::BTreeMap<String, IntensityForecast>,
    location: &str,
) -> Result<&'a IntensityForecast, ApiError> {
    forecasts.get(location).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no forecast for location `{location}`: its environment provider gives none, or \
             it is not a location in use (see /api/v1/status)"
        ))
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BestWindowQuery {
    /// Comma-separated location keys; the saving is against starting now in the first.
    locations: String,
    /// The job's length, like `2h` or `90m` (at most a year).
    #[param(pattern = r"^\s*[0-9]+\s*[a-z]+(\s*[0-9]+\s*[a-z]+)*\s*$")]
    duration: String,
    /// How far ahead it may start and end, like `24h` (default 24h; at most a year).
    #[param(pattern = r"^\s*[0-9]+\s*[a-z]+(\s*[0-9]+\s*[a-z]+)*\s*$")]
    within: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BestWindowView {
    location: String,
    /// When to start (RFC 3339) and when the window ends.
    start: String,
    end: String,
    /// The forecast's time-weighted mean over the window, gCO2eq/kWh.
    mean_intensity: f64,
    /// The same job started now in the first location.
    now_mean_intensity: f64,
    /// How much less per kWh, in g/kWh and as a share of starting now.
    saving_g_per_kwh: f64,
    saving_share: f64,
}

/// The start and location with the lowest forecast intensity for a job of `duration`.
#[utoipa::path(get, path = "/api/v1/best-window", params(BestWindowQuery),
    security(("bearer" = [])),
    responses((status = 200, body = BestWindowView),
        (status = 400, description = "A malformed duration, or a window longer than the forecast"),
        (status = 404, description = "A location without a forecast"), (status = 401)))]
pub async fn best_window(
    State(state): State<AppState>,
    Query(q): Query<BestWindowQuery>,
) -> Result<Json<BestWindowView>, ApiError> {
    let duration = parse_duration("duration", &q.duration)?;
    let within = match &q.within {
        None => DEFAULT_HOURS * HOUR_MS,
        Some(w) => parse_duration("within", w)?,
    };
    let locations: Vec<&str> = q
        .locations
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if locations.is_empty() {
        return Err(ApiError::BadRequest("locations names no location".into()));
    }
    let s = state.snapshot.get();
    let forecasts = locations
        .iter()
        .map(|l| found(&s.forecasts, l).map(|f| (*l, f)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(best(&forecasts, now_ms(), duration, within)?))
}

/// The longest `duration` or `within` asked about: a year, far beyond any forecast, and far
/// from overflowing a time in milliseconds.
const MAX_SPAN_MS: u64 = 366 * 24 * HOUR_MS;

fn parse_duration(name: &str, raw: &str) -> Result<u64, ApiError> {
    humantime::parse_duration(raw)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .filter(|ms| (1..=MAX_SPAN_MS).contains(ms))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name} must be a positive duration of at most a year, like `2h` or `90m`, got \
                 `{raw}`"
            ))
        })
}

/// The best window over `forecasts` (in the order asked): candidate starts are now and every
/// forecast point's start after it, up to `within` for the window's end; the lowest mean
/// wins, ties going to the earliest start, then to the location asked first.
pub fn best(
    forecasts: &[(&str, &IntensityForecast)],
    now: u64,
    duration: u64,
    within: u64,
) -> Result<BestWindowView, ApiError> {
    let latest_end = now + within;
    let mut winner: Option<(f64, u64, &str)> = None;
    let mut baseline = None;
    for (i, (location, f)) in forecasts.iter().enumerate() {
        let points: Vec<Point> = f.points.iter().map(Point::from).collect();
        let starts =
            std::iter::once(now).chain(f.points.iter().map(|p| p.starts_at).filter(|s| *s > now));
        for start in starts {
            let end = start + duration;
            if end > latest_end {
                break;
            }
            let Some(m) = window::average(&points, start, end) else {
                continue;
            };
            if i == 0 && start == now {
                baseline = Some(m);
            }
            if winner.is_none_or(|(best, at, _)| m < best || (m == best && start < at)) {
                winner = Some((m, start, location));
            }
        }
    }
    let Some((mean_intensity, start, location)) = winner else {
        return Err(ApiError::BadRequest(format!(
            "no window of {} minutes fits within the next {} minutes of the forecasts",
            duration / 60_000,
            within / 60_000
        )));
    };
    let now_mean = baseline.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "the forecast of `{}` does not cover a job of {} minutes started now",
            forecasts[0].0,
            duration / 60_000
        ))
    })?;
    let saving = now_mean - mean_intensity;
    Ok(BestWindowView {
        location: location.to_owned(),
        start: format_instant(start),
        end: format_instant(start + duration),
        mean_intensity,
        now_mean_intensity: now_mean,
        saving_g_per_kwh: saving,
        saving_share: if now_mean > 0.0 {
            saving / now_mean
        } else {
            0.0
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::{EmissionFactorType, ForecastPoint};

    const T0: u64 = 1_795_000_000_000 - 1_795_000_000_000 % HOUR_MS;

    fn curve(values: &[f64]) -> IntensityForecast {
        IntensityForecast {
            location_id: "x".into(),
            zone: None,
            emission_factor: EmissionFactorType::Lifecycle,
            generated_at: T0,
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| ForecastPoint {
                    starts_at: T0 + i as u64 * HOUR_MS,
                    duration_ms: HOUR_MS,
                    carbon_intensity: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn the_lowest_two_hour_mean_by_hand() {
        // Two-hour means from each hour: 300, 250, 150, 100, 150, 250 → start at hour 3.
        let de = curve(&[400.0, 200.0, 300.0, 0.0, 200.0, 100.0, 400.0]);
        let w = best(&[("DE", &de)], T0, 2 * HOUR_MS, 7 * HOUR_MS).expect("a window");
        assert_eq!(w.start, format_instant(T0 + 3 * HOUR_MS));
        assert_eq!(w.mean_intensity, 100.0);
        assert_eq!(w.now_mean_intensity, 300.0);
        assert_eq!(w.saving_g_per_kwh, 200.0);
        assert!((w.saving_share - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ties_go_to_the_earliest_start_then_the_first_location() {
        let de = curve(&[100.0, 100.0, 50.0, 50.0, 50.0]);
        let fr = curve(&[50.0, 50.0, 50.0, 50.0, 50.0]);
        let w = best(&[("DE", &de), ("FR", &fr)], T0, 2 * HOUR_MS, 5 * HOUR_MS).expect("a window");
        assert_eq!(
            (w.location.as_str(), w.start.clone()),
            ("FR", format_instant(T0))
        );
        let w = best(&[("DE", &de)], T0, 2 * HOUR_MS, 5 * HOUR_MS).expect("a window");
        assert_eq!(
            w.start,
            format_instant(T0 + 2 * HOUR_MS),
            "hours 2-4 and 3-5 tie"
        );
    }

    #[test]
    fn a_window_starting_between_points_is_weighted_by_time() {
        // Now is 30 min into hour 0: a 1 h job now is half of 100 and half of 300.
        let de = curve(&[100.0, 300.0, 500.0]);
        let now = T0 + HOUR_MS / 2;
        let w = best(&[("DE", &de)], now, HOUR_MS, 3 * HOUR_MS).expect("a window");
        assert_eq!(w.now_mean_intensity, 200.0);
        assert_eq!(w.mean_intensity, 200.0);
        assert_eq!(w.start, format_instant(now));
    }

    #[test]
    fn durations_are_positive_and_at_most_a_year() {
        assert_eq!(parse_duration("d", "90m").ok(), Some(90 * 60_000));
        for bad in ["0s", "-2h", "soon", "500000000y", "367days"] {
            assert!(parse_duration("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_window_longer_than_the_forecast_is_a_bad_request() {
        let de = curve(&[100.0, 300.0]);
        let err = best(&[("DE", &de)], T0, 3 * HOUR_MS, 24 * HOUR_MS).expect_err("too long");
        assert!(matches!(err, ApiError::BadRequest(_)), "{err}");
    }
}
