//! `GET /metrics`: the pre-rendered snapshot text followed by the live self-metrics.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use crate::snapshot::exposition::Exposition;

/// Prometheus text format: the latest collection plus live self-metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let snapshot = state.snapshot.get();
    let mut own = Exposition::with_capacity(8 * 1024);
    state.telemetry.render(&mut own);
    super::plugin_info::render(&snapshot.plugins, &mut own);
    snapshot.shard.render(&mut own);
    if let Some(reload) = &state.reload {
        reload.history().render(&mut own);
    }
    // Two chunks, so the multi-megabyte snapshot is served without being copied.
    let chunks: [Result<Bytes, std::convert::Infallible>; 2] = [
        Ok(snapshot.metrics_text.clone()),
        Ok(Bytes::from(own.finish())),
    ];
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}
