//! The HTTP server: `/metrics` for Prometheus, the JSON API, and health probes. Handlers only
//! read the current snapshot; nothing here calls a plugin.

mod auth;
mod carbon_aware;
mod dashboard;
mod error;
mod forecast;
mod json;
mod manage;
mod metrics;
mod openapi;
mod plugin_info;
mod report;
mod router;
mod starting;
pub mod tls;

pub use auth::{Caller, ClientCertificate};
pub use openapi::ApiDoc;
pub use router::{AppState, app};
pub use starting::starting_app;
