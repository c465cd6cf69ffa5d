//! The built-in dashboard at `/`: one page, its script and style, and the vendored chart
//! library (uPlot, `dashboard/vendor/`), embedded in the binary so it works offline and with no
//! other service. The page holds no data: it reads the JSON API from the browser, sending the
//! operator's token when tokens are configured, so serving the page itself needs none.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// Scripts and styles only from this origin, no inline code, data only from this API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The assets under `/dashboard/`: file name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_str!("dashboard/vendor/uPlot.LICENSE"),
    ),
];

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Small, and a new binary may bring a new page: always revalidate.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The dashboard page (HTML; it asks for a token when the API wants one).
#[utoipa::path(get, path = "/", responses((status = 200, description = "The dashboard", content_type = "text/html")))]
pub async fn index() -> Response {
    page(
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    )
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AssetPath {
    /// One of the embedded files.
    #[param(schema_with = asset_names)]
    file: String,
}

/// The asset names as an enum, so the OpenAPI document lists exactly what is served.
fn asset_names() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ASSETS.iter().map(|(name, _, _)| *name)))
        .build()
}

/// The dashboard's script, style and chart library.
#[utoipa::path(get, path = "/dashboard/{file}", params(AssetPath),
    responses((status = 200, description = "The asset (JavaScript, CSS or text)"), (status = 404, description = "No such asset")))]
pub async fn asset(Path(AssetPath { file }): Path<AssetPath>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => page(content_type, body),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": format!("no dashboard asset `{file}`") })),
        )
            .into_response(),
    }
}
