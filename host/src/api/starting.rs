//! What the server answers while start-up is still loading plugins: alive (`/healthz` 200),
//! not ready (`/readyz` 503 saying how many files are still loading and for how long), and 503
//! with the same reason everywhere else. Replaced by the full router once the plugins are in.
//!
//! Nobody is authenticated yet, so the answer names no file: where the server keeps its
//! plugins is not for every caller to learn. The log names each file that is slow to load.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use carbonaut_plugins::LoadProgress;

pub fn starting_app(progress: LoadProgress) -> Router {
    let waiting = move || {
        let progress = progress.clone();
        async move {
            let pending = progress.pending();
            let longest = pending.iter().map(|(_, took)| *took).max();
            let what = match longest {
                None => "starting".to_owned(),
                Some(took) => format!(
                    "loading plugins: {} file{} still loading, the longest for {:.1} s (the log \
                     names each file that is slow)",
                    pending.len(),
                    if pending.len() == 1 { " is" } else { "s are" },
                    took.as_secs_f64()
                ),
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
