//! The OpenAPI document matches the real routes: every documented operation is routed (no
//! 404 from the router, no 405), and every route is documented.

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use carbonaut::api::app;

use crate::collection::harness;
use crate::support::*;

const AUTH: &str = r#"
[providers.grid]
plugin = "mock-grid"
[providers.cloud]
plugin = "mock-cloud"
[providers.meter]
plugin = "mock-meter"
[accounts.a]
discovery = "cloud"
resource_metrics = "meter"
[[auth.tokens]]
name = "ops"
role = "admin"
sha256 = "16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01"
"#;

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_route_documented() {
    let h = harness(AUTH, &[MOCK_CLOUD, MOCK_METER, MOCK_GRID]).await;
    let response = app(h.state.clone())
        .oneshot(
            Request::get("/api/v1/openapi.json")
                .header("authorization", "Bearer admin-secret")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = serde_json::from_slice(
        &response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
    .expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            operations.push(format!("{} {path}", method.to_uppercase()));
            let uri = path
                .replace("{id}", "0000000000000000")
                .replace("{name}", "mock-grid");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let response = app(h.state.clone())
                .oneshot(
                    Request::builder()
                        .method(method.clone())
                        .uri(&uri)
                        .header("authorization", "Bearer admin-secret")
                        .body(Body::empty())
                        .expect("request"),
                )
                .await
                .expect("response");
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            assert_ne!(
                status, 405,
                "{method} {uri} is documented but not routed for that method"
            );
            // A refusal names its reason: carbonaut's `error`, the Carbon Aware SDK's `title`.
            let text = String::from_utf8_lossy(&body);
            assert!(
                status != 404 || text.contains("\"error\"") || text.contains("\"title\""),
                "{method} {uri} is documented but not routed"
            );
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "DELETE /api/v1/plugins/{name}",
            "GET /",
            "GET /api/v1/best-window",
            "GET /api/v1/forecast",
            "GET /api/v1/openapi.json",
            "GET /api/v1/plugins",
            "GET /api/v1/plugins/{name}",
            "GET /api/v1/reloads",
            "GET /api/v1/report",
            "GET /api/v1/resources/{id}",
            "GET /api/v1/status",
            "GET /api/v1/topology",
            "GET /dashboard/{file}",
            "GET /emissions/average-carbon-intensity",
            "GET /emissions/bylocation",
            "GET /emissions/bylocations",
            "GET /emissions/bylocations/best",
            "GET /emissions/forecasts/current",
            "GET /healthz",
            "GET /metrics",
            "GET /readyz",
            "POST /api/v1/plugins/{name}/disable",
            "POST /api/v1/plugins/{name}/enable",
            "POST /api/v1/reload",
            "POST /emissions/average-carbon-intensity/batch",
            "PUT /api/v1/plugins/{name}",
        ],
        "the routes in api/router.rs and the documented operations differ"
    );
    assert!(doc["components"]["schemas"]["TopologyView"].is_object());
    // What clients generate from: the label filter's form, the upload as raw bytes (a media
    // type a client can serialise), the dashboard's files by name.
    let label = doc["paths"]["/api/v1/topology"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "label")
        .expect("label parameter");
    assert_eq!(label["schema"]["pattern"], "^[^=]+=");
    let upload = &doc["paths"]["/api/v1/plugins/{name}"]["put"]["requestBody"]["content"];
    assert!(
        upload["application/wasm"].is_object() && upload["application/octet-stream"].is_object()
    );
    let files = &doc["paths"]["/dashboard/{file}"]["get"]["parameters"][0]["schema"]["enum"];
    assert!(
        files.as_array().expect("enum").contains(&"app.js".into()),
        "{files}"
    );
    assert!(doc["components"]["schemas"]["Report"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
