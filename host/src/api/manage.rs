//! The plugin management API: one plugin's details, upload, delete, enable, disable, and
//! reloads. Every change goes through the reloader, exactly like a dropped file.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::reload::{ManageError, ReloadHandle, ReloadRecord};
use crate::snapshot::PluginStatus;
use crate::telemetry::CallCount;

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

/// The reloader, told who is asking (the authentication step left the caller in the request).
fn acting(state: &AppState, caller: Option<Extension<Caller>>) -> Result<ReloadHandle, ApiError> {
    let handle = handle(state)?;
    Ok(match caller {
        Some(Extension(caller)) => handle.by(caller.label()),
        None => handle.clone(),
    })
}

fn answer(result: Result<ReloadRecord, ManageError>) -> Response {
    match result {
        Ok(record) => (StatusCode::OK, Json(record)).into_response(),
        Err(ManageError::NotFound(m)) => ApiError::NotFound(m).into_response(),
        Err(ManageError::Invalid(m)) => ApiError::Unprocessable(m).into_response(),
        Err(ManageError::Failed(m)) => ApiError::Internal(m).into_response(),
    }
}

/// The header an upload's minisign signature travels in: the `.minisig` file, base64-encoded
/// (a header cannot hold its line breaks), so the file and its signature arrive together.
pub const SIGNATURE_HEADER: &str = "x-carbonaut-signature";

/// Upload a `.wasm`: checked against the pins and trusted keys, validated like a dropped
/// file, written atomically (with its signature as `NAME.wasm.minisig`), then reloaded. A
/// refusal is also listed in /api/v1/reloads as a rolled-back reload.
#[utoipa::path(put, path = "/api/v1/plugins/{name}", params(("name" = String, Path, description = "The plugin's metadata name"),
        ("X-Carbonaut-Signature" = Option<String>, Header, description = "The plugin's minisign signature (the NAME.wasm.minisig file), base64-encoded: `base64 -w0 NAME.wasm.minisig`. Needed when [trust] require_signatures = true")),
    request_body(description = "The component's bytes as the raw body; any content type is read the same way",
        content(("application/wasm"), ("application/octet-stream"))),
    security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 422, description = "Not a valid plugin, a bad name, a digest other than the pinned one, or a missing, untrusted or non-matching signature"),
        (status = 413, description = "Over 64 MiB"), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = match signature_of(&headers) {
        Ok(signature) => signature,
        Err(e) => return e.into_response(),
    };
    match acting(&state, caller) {
        Ok(h) => answer(h.upload(name, body.to_vec(), signature).await),
        Err(e) => e.into_response(),
    }
}

fn signature_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    use base64::Engine as _;
    let Some(value) = headers.get(SIGNATURE_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::Unprocessable(format!(
            "the {SIGNATURE_HEADER} header is not a base64-encoded minisign signature; \
             send `base64 -w0 NAME.wasm.minisig`"
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes().trim_ascii())
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map(Some).map_err(|_| bad())
}

/// Remove a plugin's file (and its detached signature); providers using it go down.
#[utoipa::path(delete, path = "/api/v1/plugins/{name}", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 404), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
) -> Response {
    match acting(&state, caller) {
        Ok(h) => answer(h.delete(name).await),
        Err(e) => e.into_response(),
    }
}

/// Disable a plugin (persisted across restarts); providers using it go down.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/disable", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 404), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
) -> Response {
    match acting(&state, caller) {
        Ok(h) => answer(h.set_disabled(name, true).await),
        Err(e) => e.into_response(),
    }
}

/// Enable a disabled plugin.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/enable", params(("name" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 404), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn enable(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
) -> Response {
    match acting(&state, caller) {
        Ok(h) => answer(h.set_disabled(name, false).await),
        Err(e) => e.into_response(),
    }
}

/// Reload the config and the plugin directory now (as SIGHUP does).
#[utoipa::path(post, path = "/api/v1/reload", security(("bearer" = [])),
    responses((status = 200, body = ReloadRecord), (status = 401, description = "No or unknown token, or no admin token configured"), (status = 403, description = "A read token")))]
pub async fn reload(State(state): State<AppState>, caller: Option<Extension<Caller>>) -> Response {
    match acting(&state, caller) {
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
