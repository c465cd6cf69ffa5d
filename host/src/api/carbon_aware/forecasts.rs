//! The current forecast of each location as the Carbon Aware SDK serves it
//! (`/emissions/forecasts/current`): the forecast provider's points scoped to
//! `[dataStartAt, dataEndAt]`, their rolling means over `windowSize`, and the optimal ones,
//! from the same forecasts `/api/v1/forecast` serves.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::places::resolve_all;
use super::request::{Params, Problem, format_time, minutes_of};
use super::window::{self, Point};
use crate::api::AppState;
use carbonaut_model::clock::now_ms;

/// One location's current forecast and its best windows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmissionsForecast {
    generated_at: String,
    requested_at: String,
    location: String,
    data_start_at: String,
    data_end_at: String,
    /// Minutes; 0 when not asked (each point stands alone).
    window_size: u64,
    optimal_data_points: Vec<ForecastData>,
    forecast_data: Vec<ForecastData>,
}

/// One forecast interval, or one window's mean.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForecastData {
    /// The grid zone the forecast is for, as its provider names it.
    location: String,
    timestamp: String,
    /// Minutes.
    duration: u64,
    /// gCO2eq/kWh.
    value: f64,
}

/// The current forecast of each location, with its optimal windows (Carbon Aware SDK).
#[utoipa::path(get, path = "/emissions/forecasts/current", tag = "carbon-aware",
    params(("location" = Vec<String>, Query, description = "Repeated: a grid zone, country or resource region"),
        ("dataStartAt" = Option<String>, Query, description = "ISO 8601, within the forecast; default: the current point"),
        ("dataEndAt" = Option<String>, Query, description = "ISO 8601, within the forecast; default: its end"),
        ("windowSize" = Option<u64>, Query, description = "The job's minutes; default: one point")),
    security(("bearer" = [])),
    responses((status = 200, body = [EmissionsForecast]),
        (status = 400, description = "ValidationProblemDetails: an unknown location, one without a forecast, a scope outside the forecast, or no window of that size in it"),
        (status = 501, description = "The forecast provider gives no forecasts at all"), (status = 401)))]
pub async fn current_forecasts(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    match forecasts(&state, &Params::parse(query.as_deref())) {
        Ok(body) => Json(body).into_response(),
        Err(problem) => problem.into_response(),
    }
}

fn forecasts(state: &AppState, p: &Params) -> Result<Vec<EmissionsForecast>, Problem> {
    let mut problem = Problem::validation();
    let names = p.all("location");
    if names.is_empty() {
        problem.field("location", "The location field is required.");
    }
    let asked_start = p.instant("dataStartAt", &mut problem);
    let asked_end = p.instant("dataEndAt", &mut problem);
    let window = p.minutes("windowSize", &mut problem).filter(|m| *m > 0);
    let s = state.snapshot.get();
    let places = resolve_all(&s, &names, "location", &mut problem);
    problem.check()?;
    if s.forecasts.is_empty() {
        return Err(Problem::not_implemented(
            "the forecast provider gives no forecasts (static-grid has none; mock-grid, \
             WattTime and Electricity Maps do)",
        ));
    }
    let now = now_ms();
    let mut problem = Problem::validation();
    let mut out = Vec::new();
    for place in &places {
        let Some(f) = s.forecasts.get(&place.key) else {
            problem.field(
                "location",
                format!(
                    "No forecast for '{}': its provider gives none for it",
                    place.asked
                ),
            );
            continue;
        };
        let points: Vec<Point> = f.points.iter().map(Point::from).collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        let (min, max) = (first.time, last.end());
        // "Current": from the point in force now, not from the forecast's past.
        let start = asked_start.unwrap_or_else(|| {
            points
                .iter()
                .find(|p| p.end() > now)
                .map_or(min, |p| p.time)
        });
        let end = asked_end.unwrap_or(max);
        let range = format!("'{}' through '{}'", format_time(min), format_time(max));
        if start >= end {
            problem.field("dataStartAt", "dataStartAt must be earlier than dataEndAt");
        }
        if !(min..=max).contains(&start) {
            problem.field(
                "dataStartAt",
                format!("dataStartAt must be within time range of the forecasted data, {range}"),
            );
        }
        if !(min..=max).contains(&end) {
            problem.field(
                "dataEndAt",
                format!("dataEndAt must be within time range of the forecasted data, {range}"),
            );
        }
        if start >= end || !(min..=max).contains(&start) || !(min..=max).contains(&end) {
            continue;
        }
        let scoped = window::scope(&points, start, end);
        let data = match window {
            None => scoped,
            Some(m) => window::rolling(&scoped, m * 60_000, start, end),
        };
        if data.is_empty() {
            problem.field(
                "windowSize",
                format!(
                    "no window of {} minutes fits between dataStartAt and dataEndAt of '{}'",
                    window.unwrap_or(0),
                    place.asked
                ),
            );
            continue;
        }
        let zone = f.zone.clone().unwrap_or_else(|| place.key.clone());
        let view = |p: &Point| ForecastData {
            location: zone.clone(),
            timestamp: format_time(p.time),
            duration: minutes_of(p.duration),
            value: p.value,
        };
        out.push(EmissionsForecast {
            generated_at: format_time(f.generated_at),
            requested_at: format_time(now),
            location: place.asked.clone(),
            data_start_at: format_time(asked_start.unwrap_or(data[0].time)),
            data_end_at: format_time(asked_end.unwrap_or(data[data.len() - 1].time)),
            window_size: window.unwrap_or(0),
            optimal_data_points: window::optimal(&data).iter().map(view).collect(),
            forecast_data: data.iter().map(view).collect(),
        });
    }
    problem.check()?;
    Ok(out)
}
