//! Routes and shared state. `app(state)` returns the router, so tests call it with
//! `oneshot(request)` and no socket.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post, put};
use tower_http::limit::RequestBodyLimitLayer;

use super::auth::{self, Need};
use super::{carbon_aware, dashboard, forecast, json, manage, metrics, openapi, report};
use crate::config::ApiConfig;
use crate::reload::MAX_UPLOAD_BYTES;
use crate::reload::ReloadHandle;
use crate::snapshot::SnapshotCell;
use crate::telemetry::Telemetry;

#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<SnapshotCell>,
    pub telemetry: Arc<Telemetry>,
    /// `None` where the host runs without a reloader (some tests): management answers 503.
    pub reload: Option<ReloadHandle>,
    /// `[auth]` and the report labels, replaced by a reload.
    pub config: Arc<RwLock<ApiConfig>>,
    /// The rollups `GET /api/v1/report` reads; `None` answers 503.
    pub history: Option<carbonaut_store::history::HistoryStore>,
    /// Whether the state can be written and the collector steps, read at request time.
    pub vitals: Arc<crate::vitals::Vitals>,
}

pub fn app(state: AppState) -> Router {
    let prefix = carbonaut_model::sync::read(&state.config)
        .carbon_aware_prefix
        .clone();
    let open = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route_layer(from_fn_with_state(
            (state.clone(), Need::Metrics),
            auth::require,
        ));
    let read = Router::new()
        .route("/api/v1/topology", get(json::topology))
        .route("/api/v1/resources/{id}", get(json::resource))
        .route("/api/v1/plugins", get(json::plugins))
        .route("/api/v1/plugins/{name}", get(manage::plugin))
        .route("/api/v1/status", get(json::status))
        .route("/api/v1/reloads", get(manage::reloads))
        .route("/api/v1/report", get(report::report))
        .route("/api/v1/forecast", get(forecast::forecast))
        .route("/api/v1/best-window", get(forecast::best_window))
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(carbon_aware::routes(&prefix))
        .route_layer(from_fn_with_state(
            (state.clone(), Need::Read),
            auth::require,
        ));
    let admin = Router::new()
        .route("/api/v1/plugins/{name}", delete(manage::delete))
        .route("/api/v1/plugins/{name}/disable", post(manage::disable))
        .route("/api/v1/plugins/{name}/enable", post(manage::enable))
        .route("/api/v1/reload", post(manage::reload))
        .route_layer(from_fn_with_state(
            (state.clone(), Need::Admin),
            auth::require,
        ));
    // The dashboard's page and assets hold no data: open, whatever the tokens.
    let page = Router::new()
        .route("/", get(dashboard::index))
        .route("/dashboard/{file}", get(dashboard::asset));
    // Only uploads carry a large body; everything else is refused past a few KiB (413),
    // whether or not the handler reads it.
    let small = open
        .merge(page)
        .merge(read)
        .merge(admin)
        .layer(RequestBodyLimitLayer::new(SMALL_BODY_BYTES));
    let upload = Router::new()
        .route("/api/v1/plugins/{name}", put(manage::upload))
        .route_layer(from_fn_with_state(
            (state.clone(), Need::Admin),
            auth::require,
        ))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_UPLOAD_BYTES));
    // Authentication runs first, on every route; each group above checks the role it needs.
    small
        .merge(upload)
        .layer(from_fn_with_state(state.clone(), auth::authenticate))
        .with_state(state)
}

/// Request bodies of everything but uploads.
const SMALL_BODY_BYTES: usize = 16 * 1024;

/// Liveness: 200 while the collector finishes steps; 503 once it has not for three sample
/// intervals (a minute at least) plus the write timeout, so a supervisor restarts a daemon
/// that stopped counting.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, String) {
    match state.vitals.stalled() {
        None => (StatusCode::OK, "ok\n".to_owned()),
        Some(age) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not alive: the collector has not finished a step for {}s\n",
                age.as_secs()
            ),
        ),
    }
}

/// Readiness: 200 after the first successful topology sync while the state can be written;
/// 503 before, and while writes to the state directory fail (naming the cause).
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = String), (status = 503, body = String)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if let Some(failure) = state.vitals.write_failure() {
        let since = carbonaut_model::clock::now_ms().saturating_sub(failure.since_ms) / 1000;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the state cannot be written for {since}s ({} failed {} writes: {}); \
                 counters are not published until it can\n",
                failure.failures, failure.store, failure.cause
            ),
        );
    }
    if state.snapshot.get().ready {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the first successful topology sync\n".to_owned(),
        )
    }
}
