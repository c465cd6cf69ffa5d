//! The HTTP server: `/metrics` for Prometheus, the JSON API, and health probes. Handlers only
//! read the current snapshot; nothing here calls a plugin.

mod auth;
mod error;
mod json;
mod manage;
mod metrics;
mod openapi;
mod report;
mod router;

pub use openapi::ApiDoc;
pub use router::{AppState, app};
