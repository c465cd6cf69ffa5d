//! The Carbon Aware SDK's WebAPI, answered from carbonaut's own data, so that schedulers, CI
//! jobs and the SDK's generated clients work unchanged when pointed at carbonaut: observed
//! intensities by location and their average over a period (`observed`), the current
//! forecast with its optimal windows (`forecasts`). Field names, time format, 204 for no data
//! and `ValidationProblemDetails` for a 400 are the SDK's (`request`); paths are matched
//! whatever their case, as ASP.NET matches them (the SDK's own client tests call
//! `/emissions/byLocation`).

pub mod forecasts;
pub mod observed;
mod places;
mod request;
/// The rolling-window maths, shared with `/api/v1/best-window`.
pub(super) mod window;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use super::AppState;
use forecasts::current_forecasts;
use observed::{
    average_intensity, average_intensity_batch, best_by_locations, by_location, by_locations,
};
use request::Problem;

/// The routes under `prefix` (`""` or `/a/b`).
pub fn routes(prefix: &str) -> Router<AppState> {
    let at = |path: &str| format!("{prefix}/emissions/{path}");
    Router::new()
        .route(&at("bylocation"), get(by_location))
        .route(&at("bylocations"), get(by_locations))
        .route(&at("bylocations/best"), get(best_by_locations))
        .route(&at("forecasts/current"), get(current_forecasts))
        .route(&at("average-carbon-intensity"), get(average_intensity))
        .route(
            &at("average-carbon-intensity/batch"),
            post(average_intensity_batch),
        )
        .route(&at("{*rest}"), any(any_case))
}

/// The SDK's paths in another case (`/emissions/byLocation`): ASP.NET matches them.
async fn any_case(
    state: State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    query: RawQuery,
    body: Bytes,
) -> Response {
    let path = rest.trim_end_matches('/').to_ascii_lowercase();
    match (method, path.as_str()) {
        (Method::GET, "bylocation") => by_location(state, query).await,
        (Method::GET, "bylocations") => by_locations(state, query).await,
        (Method::GET, "bylocations/best") => best_by_locations(state, query).await,
        (Method::GET, "forecasts/current") => current_forecasts(state, query).await,
        (Method::GET, "average-carbon-intensity") => average_intensity(state, query).await,
        (Method::POST, "average-carbon-intensity/batch") => {
            average_intensity_batch(state, body).await
        }
        (_, "forecasts/batch") => Problem::not_implemented(
            "historical forecasts are not kept: carbonaut keeps each location's latest forecast",
        )
        .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
