//! Routes and shared state. `app(state)` returns the router, so tests call it with
//! `oneshot(request)` and no socket.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::{json, metrics};
use crate::collect::Telemetry;
use crate::snapshot::SnapshotCell;

#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<SnapshotCell>,
    pub telemetry: Arc<Telemetry>,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/topology", get(json::topology))
        .route("/api/v1/resources/{id}", get(json::resource))
        .route("/api/v1/plugins", get(json::plugins))
        .route("/api/v1/status", get(json::status))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.snapshot.get().ready {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the first successful topology sync\n",
        )
    }
}
