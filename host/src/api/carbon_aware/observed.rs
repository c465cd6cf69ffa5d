//! Observed intensities, as the Carbon Aware SDK serves them: by location (`bylocation`,
//! `bylocations`, `best`) and averaged over a period (`average-carbon-intensity` and its
//! batch). They come from the history rollups: per hour, the mean intensity carbonaut priced
//! energy at in that location (`group_by=location` of the reports); without a time, the latest
//! intensity.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::places::{Place, resolve_all};
use super::request::{Params, Problem, format_time, parse_time};
use super::window::{self, Point};
use crate::api::AppState;
use carbonaut_store::history::{HOUR_MS, LOCATION, Tier};

/// An observed intensity: the keys the SDK's client tests expect, exactly.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmissionsData {
    /// As asked.
    location: String,
    /// The start of the hour it was observed in (clamped to `time`), or the latest value's
    /// time; ISO 8601 with offset.
    time: String,
    /// gCO2eq/kWh.
    rating: f64,
}

/// The average intensity of a location over a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarbonIntensity {
    location: String,
    start_time: String,
    end_time: String,
    /// gCO2eq/kWh, time-weighted.
    carbon_intensity: f64,
}

/// One item of an average batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarbonIntensityRequest {
    location: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
}

/// Observed intensity of one location (Carbon Aware SDK).
#[utoipa::path(get, path = "/emissions/bylocation", tag = "carbon-aware",
    params(("location" = String, Query, description = "A grid zone, country or resource region"),
        ("time" = Option<String>, Query, description = "ISO 8601; without it, the latest value"),
        ("toTime" = Option<String>, Query, description = "ISO 8601; default: time")),
    security(("bearer" = [])),
    responses((status = 200, body = [EmissionsData]), (status = 204, description = "No data in the range"),
        (status = 400, description = "ValidationProblemDetails"), (status = 401)))]
pub async fn by_location(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let p = Params::parse(query.as_deref());
    emissions(&state, &p, &p.all("location"), false).await
}

/// Observed intensities of several locations (Carbon Aware SDK).
#[utoipa::path(get, path = "/emissions/bylocations", tag = "carbon-aware",
    params(("location" = Vec<String>, Query, description = "Repeated; `locations` also accepted"),
        ("time" = Option<String>, Query), ("toTime" = Option<String>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = [EmissionsData]), (status = 204, description = "No data in the range"),
        (status = 400, description = "ValidationProblemDetails"), (status = 401)))]
pub async fn by_locations(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let p = Params::parse(query.as_deref());
    emissions(&state, &p, &many(&p), false).await
}

/// The lowest observed intensities among several locations (every one of a tie).
#[utoipa::path(get, path = "/emissions/bylocations/best", tag = "carbon-aware",
    params(("location" = Vec<String>, Query, description = "Repeated; `locations` also accepted"),
        ("time" = Option<String>, Query), ("toTime" = Option<String>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = [EmissionsData]), (status = 204, description = "No data in the range"),
        (status = 400, description = "ValidationProblemDetails"), (status = 401)))]
pub async fn best_by_locations(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = Params::parse(query.as_deref());
    emissions(&state, &p, &many(&p), true).await
}

/// The SDK's controller binds `location`; its documentation writes `locations`.
fn many(p: &Params) -> Vec<&str> {
    let mut names = p.all("location");
    names.extend(p.all("locations"));
    names
}

async fn emissions(state: &AppState, p: &Params, names: &[&str], best: bool) -> Response {
    match observed(state, p, names).await {
        Ok(mut rows) => {
            if best {
                let lowest = rows.iter().map(|r| r.rating).reduce(f64::min);
                rows.retain(|r| Some(r.rating) == lowest);
            }
            if rows.is_empty() {
                StatusCode::NO_CONTENT.into_response()
            } else {
                Json(rows).into_response()
            }
        }
        Err(problem) => problem.into_response(),
    }
}

async fn observed(
    state: &AppState,
    p: &Params,
    names: &[&str],
) -> Result<Vec<EmissionsData>, Problem> {
    let mut problem = Problem::validation();
    if names.is_empty() {
        problem.field("location", "The location field is required.");
    }
    let start = p.instant("time", &mut problem);
    let end = p.instant("toTime", &mut problem);
    if end.is_some() && p.one("time").is_none() {
        problem.field("time", "time is required when toTime is given");
    }
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        problem.field("toTime", "toTime must not be before time");
    }
    let s = state.snapshot.get();
    let places = resolve_all(&s, names, "location", &mut problem);
    problem.check()?;
    let Some(start) = start else {
        // No time: the latest intensity of each location.
        return Ok(places
            .iter()
            .filter_map(|place| {
                let mix = s.locations.get(&place.key)?.mix.as_ref()?;
                Some(EmissionsData {
                    location: place.asked.clone(),
                    time: format_time(mix.valid_at),
                    rating: mix.carbon_intensity,
                })
            })
            .collect());
    };
    let end = end.unwrap_or(start);
    let hours = hourly_intensity(state, &places, start, end + 1).await?;
    let mut rows = Vec::new();
    for place in &places {
        for point in hours.iter().filter(|(key, _)| *key == place.key) {
            rows.push(EmissionsData {
                location: place.asked.clone(),
                time: format_time(point.1.time.max(start)),
                rating: point.1.value,
            });
        }
    }
    Ok(rows)
}

/// The hourly mean intensity of `places` in the history, for the hours overlapping
/// `[start, end)`: (location key, hour).
async fn hourly_intensity(
    state: &AppState,
    places: &[Place],
    start: u64,
    end: u64,
) -> Result<Vec<(String, Point)>, Problem> {
    let Some(store) = state.history.clone() else {
        return Err(Problem::unavailable("this host keeps no history"));
    };
    let keys: Vec<String> = places.iter().map(|p| p.key.clone()).collect();
    let from = start - start % HOUR_MS;
    // sled reads block; a year of hours of a few locations is quick, but not free.
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for item in store.scan(Tier::Hourly, LOCATION, from, end) {
            let (hour, group, bucket) = item.map_err(|e| Problem::internal(e.to_string()))?;
            if !keys.contains(&group) {
                continue;
            }
            if let Some(value) = bucket.mean_intensity() {
                let point = Point {
                    time: hour,
                    duration: HOUR_MS,
                    value,
                };
                out.push((group, point));
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| Problem::internal(format!("the history read failed: {e}")))?
}

/// The time-weighted average of a location's observed intensity over a period (Carbon Aware
/// SDK).
#[utoipa::path(get, path = "/emissions/average-carbon-intensity", tag = "carbon-aware",
    params(("location" = String, Query), ("startTime" = String, Query, description = "ISO 8601"),
        ("endTime" = String, Query, description = "ISO 8601, after startTime")),
    security(("bearer" = [])),
    responses((status = 200, body = CarbonIntensity),
        (status = 400, description = "ValidationProblemDetails: a missing field, an unknown location, or hours of the period without a recorded intensity"),
        (status = 401)))]
pub async fn average_intensity(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = Params::parse(query.as_deref());
    let request = CarbonIntensityRequest {
        location: p.one("location").map(str::to_owned),
        start_time: p.one("starttime").map(str::to_owned),
        end_time: p.one("endtime").map(str::to_owned),
    };
    match average(&state, &request).await {
        Ok(body) => Json(body).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// Averages for several periods of one location (Carbon Aware SDK).
#[utoipa::path(post, path = "/emissions/average-carbon-intensity/batch", tag = "carbon-aware",
    request_body = [CarbonIntensityRequest], security(("bearer" = [])),
    responses((status = 200, body = [CarbonIntensity]),
        (status = 400, description = "ValidationProblemDetails, as for one; or several locations"),
        (status = 401)))]
pub async fn average_intensity_batch(State(state): State<AppState>, body: Bytes) -> Response {
    let requests: Vec<CarbonIntensityRequest> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return Problem::bad(
                "requestedCarbonIntensities",
                format!("not a JSON array of {{location, startTime, endTime}}: {e}"),
            )
            .into_response();
        }
    };
    let mut locations: Vec<&str> = requests
        .iter()
        .filter_map(|r| r.location.as_deref())
        .collect();
    locations.sort_unstable();
    locations.dedup();
    if locations.len() > 1 {
        return Problem::bad(
            "location",
            "a batch covers one location only, as the SDK's does; send one batch per location",
        )
        .into_response();
    }
    let mut out = Vec::with_capacity(requests.len());
    for request in &requests {
        match average(&state, request).await {
            Ok(a) => out.push(a),
            Err(problem) => return problem.into_response(),
        }
    }
    Json(out).into_response()
}

async fn average(state: &AppState, r: &CarbonIntensityRequest) -> Result<CarbonIntensity, Problem> {
    let mut problem = Problem::validation();
    let mut required = |field: &str, value: &Option<String>| match value.as_deref().map(str::trim) {
        None | Some("") => {
            problem.field(field, format!("The {field} field is required."));
            None
        }
        Some(text) => {
            let parsed = if field == "location" {
                Some(0)
            } else {
                parse_time(text)
            };
            if parsed.is_none() {
                problem.field(
                    field,
                    format!("The value '{text}' is not valid for {field}."),
                );
            }
            parsed
        }
    };
    let _ = required("location", &r.location);
    let start = required("startTime", &r.start_time);
    let end = required("endTime", &r.end_time);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        problem.field("endTime", "endTime must be after startTime");
    }
    let snapshot = state.snapshot.get();
    let names: Vec<&str> = r
        .location
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .into_iter()
        .collect();
    let places = resolve_all(&snapshot, &names, "location", &mut problem);
    problem.check()?;
    let (Some(start), Some(end), Some(place)) = (start, end, places.first()) else {
        return Err(Problem::validation());
    };
    let hours: Vec<Point> = hourly_intensity(state, std::slice::from_ref(place), start, end)
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if let Some(gap) = window::first_gap(&hours, start, end) {
        return Err(Problem::bad(
            "startTime",
            format!(
                "Period out of range: no intensity is recorded for '{}' in the hour from {} \
                 (carbonaut was not running, priced nothing there then, or the hour is past \
                 [reports] hourly_retention)",
                place.asked,
                format_time(gap - gap % HOUR_MS)
            ),
        ));
    }
    let value = window::average(&hours, start, end)
        .ok_or_else(|| Problem::internal("covered hours gave no average"))?;
    Ok(CarbonIntensity {
        location: place.asked.clone(),
        start_time: format_time(start),
        end_time: format_time(end),
        carbon_intensity: value,
    })
}
