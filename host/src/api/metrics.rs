//! `GET /metrics`: the pre-rendered snapshot text followed by the live self-metrics, gzipped
//! for scrapers that accept it.

use axum::body::Body;
use axum::extract::State;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use crate::exposition::Exposition;
use crate::exposition::gzip::accepts_gzip;
use crate::snapshot::Snapshot;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus text format: the latest collection plus live self-metrics; gzipped when the
/// scraper accepts it (the collection's part compressed once, not per scrape).
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let snapshot = state.snapshot.get();
    let mut own = Exposition::with_capacity(8 * 1024);
    state.telemetry.render(&mut own);
    state.vitals.render(&mut own);
    super::plugin_info::render(&snapshot.plugins, &mut own);
    snapshot.shard.render(&mut own);
    if let Some(reload) = &state.reload {
        reload.history().render(&mut own);
    }
    let own = Bytes::from(own.finish());
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    if gzip && let Some(body) = gzipped(snapshot.clone(), own.clone()).await {
        return (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "accept-encoding"),
            ],
            chunked(body),
        )
            .into_response();
    }
    // The snapshot's text is kept compressed: inflated for this scraper as the body is sent,
    // 64 KiB at a time (about 70 µs each), so a plain scrape holds no copy of the text. A
    // chunk that cannot be inflated ends the body early: the scraper sees a truncated answer
    // and retries, rather than a complete-looking one without the collection.
    let text = snapshot.metrics.text_chunks().map(|chunk| {
        chunk.inspect_err(
            |error| tracing::error!(%error, "inflating /metrics failed; the answer is cut short"),
        )
    });
    let body = Body::from_stream(futures_util::stream::iter(
        text.chain(std::iter::once(Ok(own))),
    ));
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::VARY, "accept-encoding"),
        ],
        body,
    )
        .into_response()
}

/// The compressed snapshot text, then `own` compressed after it. The snapshot's part is
/// normally ready (compressed when it was published); if a scrape comes first, it is made
/// on a blocking thread, once for every scraper of that snapshot.
async fn gzipped(snapshot: Arc<Snapshot>, own: Bytes) -> Option<[Bytes; 2]> {
    let finish = move || {
        let prefix = snapshot.metrics.gzip()?;
        match prefix.finish_with(&own) {
            Ok(tail) => Some([prefix.bytes.clone(), tail]),
            Err(error) => {
                tracing::error!(%error, "compressing /metrics failed; served uncompressed");
                None
            }
        }
    };
    tokio::task::spawn_blocking(finish).await.ok().flatten()
}

fn chunked<const N: usize>(chunks: [Bytes; N]) -> Body {
    Body::from_stream(futures_util::stream::iter(
        chunks.map(Ok::<_, std::convert::Infallible>),
    ))
}
