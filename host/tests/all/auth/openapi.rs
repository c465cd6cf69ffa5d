//! The OpenAPI document declares the three ways to authenticate and offers them on every
//! protected operation.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use carbonaut::api::app;

use crate::collection::harness;
use crate::support::*;

const CONFIG: &str = "[providers.cloud]\nplugin = \"mock-cloud\"\n[providers.meter]\nplugin = \"mock-meter\"\n[accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n";

#[tokio::test]
async fn the_openapi_document_declares_bearer_jwt_and_mutual_tls() {
    let h = harness(CONFIG, &[MOCK_CLOUD, MOCK_METER]).await;
    let response = app(h.state.clone())
        .oneshot(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["jwt"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["jwt"]["bearerFormat"], "JWT", "{schemes}");
    assert_eq!(schemes["mutualTLS"]["type"], "mutualTLS", "{schemes}");
    let reload = &doc["paths"]["/api/v1/reload"]["post"]["security"];
    let offered: Vec<String> = reload
        .as_array()
        .expect("security")
        .iter()
        .flat_map(|r| r.as_object().expect("requirement").keys().cloned())
        .collect();
    assert_eq!(offered, ["bearer", "jwt", "mutualTLS"], "{reload}");
}
