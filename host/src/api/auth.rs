//! Bearer-token roles. Tokens live in the config as SHA-256 digests; a request's token is
//! hashed and compared against every configured digest in constant time. Missing or unknown
//! token: 401. Known token, insufficient role: 403. Mutating endpoints with no admin token
//! configured: 401 for everyone, saying how to configure one (secure by default).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::config::{AuthConfig, Role};

/// The role the request's bearer token grants, if any.
fn role_of(headers: &HeaderMap, auth: &AuthConfig) -> Option<Role> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // Every digest is compared, so timing does not tell which (or whether one) matched.
    let mut best = None;
    for t in &auth.tokens {
        if bool::from(t.sha256.ct_eq(&digest)) {
            best = best.max(Some(t.role));
        }
    }
    best
}

fn refuse(status: StatusCode, message: String) -> Response {
    let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

fn snapshot_auth(state: &AppState) -> AuthConfig {
    state
        .auth
        .read()
        .map(|a| a.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
}

/// GET endpoints: open while no token is configured at all, else `read` or `admin`.
pub async fn require_read(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let auth = snapshot_auth(&state);
    if auth.tokens.is_empty() || role_of(request.headers(), &auth).is_some() {
        return next.run(request).await;
    }
    refuse(
        StatusCode::UNAUTHORIZED,
        "this endpoint needs a bearer token with the read or admin role".into(),
    )
}

/// `/metrics`, `/healthz`, `/readyz`: open unless `[auth] protect_metrics = true`.
pub async fn require_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let auth = snapshot_auth(&state);
    if !auth.protect_metrics || role_of(request.headers(), &auth).is_some() {
        return next.run(request).await;
    }
    refuse(
        StatusCode::UNAUTHORIZED,
        "metrics are protected: send a bearer token with the read or admin role".into(),
    )
}

/// Mutating endpoints: `admin` only, and refused outright while no admin token exists.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let auth = snapshot_auth(&state);
    if !auth.tokens.iter().any(|t| t.role == Role::Admin) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "no admin token is configured, so changes through the API are off; add one to the config: \
             [[auth.tokens]] name = \"ops\", role = \"admin\", sha256 = \"<output of `carbonaut hash-token`>\""
                .into(),
        );
    }
    match role_of(request.headers(), &auth) {
        Some(Role::Admin) => next.run(request).await,
        Some(Role::Read) => refuse(
            StatusCode::FORBIDDEN,
            "this endpoint needs the admin role; the token has read".into(),
        ),
        None => refuse(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs a bearer token with the admin role".into(),
        ),
    }
}
