//! The OpenAPI document of the whole API, generated from the handlers' annotations and the
//! response types, served at `/api/v1/openapi.json`.

use axum::Json;
use axum::extract::State;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{AppState, carbon_aware, dashboard, forecast, json, manage, metrics, report, router};

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
        forecast::forecast,
        forecast::best_window,
        carbon_aware::observed::by_location,
        carbon_aware::observed::by_locations,
        carbon_aware::observed::best_by_locations,
        carbon_aware::forecasts::current_forecasts,
        carbon_aware::observed::average_intensity,
        carbon_aware::observed::average_intensity_batch,
        document,
        dashboard::index,
        dashboard::asset,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The three ways to authenticate (see `api/auth.rs`). Handlers are annotated with `bearer`;
/// each such operation is offered all three as alternatives.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A static token from [[auth.tokens]]"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT verified against [auth.jwt]; its roles claim gives the role",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "mutualTLS",
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate signed by [server] tls.client_ca; [[auth.clients]] gives the role"
                        .to_owned(),
                ),
                extensions: None,
            },
        );
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        let any = vec![
            bearer.clone(),
            SecurityRequirement::new("jwt", Vec::<String>::new()),
            SecurityRequirement::new("mutualTLS", Vec::<String>::new()),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if op.security.as_ref().is_some_and(|s| s.contains(&bearer)) {
                    op.security = Some(any.clone());
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", security(("bearer" = [])), responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn document(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    // The Carbon Aware SDK routes are documented at the root and served under
    // `[server] carbon_aware_prefix`.
    let prefix = carbonaut_model::sync::read(&state.config)
        .carbon_aware_prefix
        .clone();
    if !prefix.is_empty() {
        let paths = std::mem::take(&mut doc.paths.paths);
        doc.paths.paths = paths
            .into_iter()
            .map(|(path, item)| match path.starts_with("/emissions/") {
                true => (format!("{prefix}{path}"), item),
                false => (path, item),
            })
            .collect();
    }
    Json(doc)
}
