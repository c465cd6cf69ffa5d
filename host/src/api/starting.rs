//! What the server answers while start-up is still loading plugins: alive (`/healthz` 200),
//! not ready (`/readyz` 503 naming the files still loading and for how long), and 503 with the
//! same reason everywhere else. Replaced by the full router once the plugins are in.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::plugins::LoadProgress;

pub fn starting_app(progress: LoadProgress) -> Router {
    let waiting = move || {
        let progress = progress.clone();
        async move {
            let pending: Vec<String> = progress
                .pending()
                .into_iter()
                .map(|(file, took)| format!("{file} ({:.1} s)", took.as_secs_f64()))
                .collect();
            let what = if pending.is_empty() {
                "starting".to_owned()
            } else {
                format!("loading plugins: {}", pending.join(", "))
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {what}\n"),
            )
        }
    };
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(waiting)
}
