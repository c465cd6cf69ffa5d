//! The plugin management API: one plugin's details, upload, delete, enable, disable, and
//! reloads. Every change goes through the reloader, exactly like a dropped file.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::collect::CallCount;
use crate::reload::{ManageError, ReloadHandle, ReloadRecord};
use crate::snapshot::PluginStatus;

#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginDetail {
    #[serde(flatten)]
    status: PluginStatus,
    calls: Vec<CallCount>,
}

/// One plugin with its call counts by operation and outcome.
#[utoipa::path(get, path = "/api/v1/plugins/{name}", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = PluginDetail), (status = 404), (status = 401)))]
pub async fn plugin(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginDetail>, ApiError> {
    let snapshot = state.snapshot.get();
    let status = snapshot
        .plugins
        .iter()
        .find(|p| p.info.name == name)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no plugin named `{name}` is loaded; GET /api/v1/plugins lists them"
            ))
        })?;
    Ok(Json(PluginDetail {
        calls: state.telemetry.calls_of(&name),
        status,
    }))
}

fn handle(state: &AppState) -> Result<&ReloadHandle, ApiError> {
    state
        .reload
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this host runs without a reloader".into()))
}

fn answer(result: Result<ReloadRecord, ManageError>) -> Response {
    match result {
        Ok(record) => (StatusCode::OK, Json(record)).into_response(),
        Err(ManageError::NotFound(m)) => ApiError::NotFound(m).into_response(),
        Err(ManageError::Invalid(m)) => ApiError::Unprocessable(m).into_response(),
        Err(ManageError::Failed(m)) => ApiError::Internal(m).into_response(),
    }
}

/// Upload a `.wasm`: validated like a dropped file, written atomically, then reloaded.
#[utoipa::path(put, path = "/api/v1/plugins/{name}", params(("name" = String, Path, description = "The plugin's metadata name")),
    request_body(description = "The component's bytes as the raw body; any content type is read the same way",
        content(("application/wasm"), ("application/octet-stream"))),
    security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 422, description = "Not a valid plugin, or a bad name"),
        (status = 413, description = "Over 64 MiB"), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    match handle(&state) {
        Ok(h) => answer(h.upload(name, body.to_vec()).await),
        Err(e) => e.into_response(),
    }
}

/// Remove a plugin's file; providers using it go down.
#[utoipa::path(delete, path = "/api/v1/plugins/{name}", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 404), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match handle(&state) {
        Ok(h) => answer(h.delete(name).await),
        Err(e) => e.into_response(),
    }
}

/// Disable a plugin (persisted across restarts); providers using it go down.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/disable", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 404), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn disable(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match handle(&state) {
        Ok(h) => answer(h.set_disabled(name, true).await),
        Err(e) => e.into_response(),
    }
}

/// Enable a disabled plugin.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/enable", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 404), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn enable(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match handle(&state) {
        Ok(h) => answer(h.set_disabled(name, false).await),
        Err(e) => e.into_response(),
    }
}

/// Reload the config and the plugin directory now (as SIGHUP does).
#[utoipa::path(post, path = "/api/v1/reload", security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn reload(State(state): State<AppState>) -> Response {
    match handle(&state) {
        Ok(h) => answer(h.reload("api").await),
        Err(e) => e.into_response(),
    }
}

/// The latest reloads, newest first, with outcome, reason and what they touched.
#[utoipa::path(get, path = "/api/v1/reloads", security(("bearer" = [])),
    responses((status = 200, body = Vec<ReloadRecord>), (status = 401)))]
pub async fn reloads(State(state): State<AppState>) -> Result<Json<Vec<ReloadRecord>>, ApiError> {
    Ok(Json(handle(&state)?.history().records()))
}
