//! The OpenAPI document of the whole API, generated from the handlers' annotations and the
//! response types, served at `/api/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{json, manage, metrics, report, router};

#[derive(OpenApi)]
#[openapi(
    info(title = "Carbonaut", description = "Energy and carbon footprint of IT infrastructure."),
    paths(
        metrics::metrics,
        router::healthz,
        router::readyz,
        json::topology,
        json::resource,
        json::plugins,
        json::status,
        manage::plugin,
        manage::upload,
        manage::delete,
        manage::disable,
        manage::enable,
        manage::reload,
        manage::reloads,
        report::report,
        document,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", security(("bearer" = [])), responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
