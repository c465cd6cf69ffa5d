//! Who is calling, and may they? One authentication step ([`authenticate`], on every route)
//! turns what the request carries (a static bearer token, a JWT, or the client certificate the
//! TLS handshake verified) into a [`Caller`]; one authorization step ([`require`], once per
//! route group) compares the caller's role with what the group needs. Nothing else decides.
//!
//! An `Authorization` header wins over a client certificate, so with `client_auth = "optional"`
//! an operator's JWT works on a connection without a certificate. A credential that fails:
//! 401. Known caller, insufficient (or no) role: 403. GET endpoints stay open while no way to
//! authenticate is configured; mutating endpoints answer 401 to everyone while nobody can be
//! `admin` (secure by default).

mod jwt;
mod peer;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::config::{AuthConfig, Role};

pub use peer::ClientCertificate;

/// Who made the request, how they proved it, and what they may do (`None`: nothing).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, the certificate's subject, or the JWT's `sub`.
    pub identity: String,
    pub role: Option<Role>,
    pub method: Method,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Token,
    Certificate,
    Jwt,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Token => "token",
            Method::Certificate => "certificate",
            Method::Jwt => "jwt",
        }
    }
}

impl Caller {
    /// `jwt:alice`, `certificate:CN=prometheus`, `token:ci`: how the reload history names it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.method.as_str(), self.identity)
    }
}

/// What the authentication step found; a request extension read by [`require`].
#[derive(Debug, Clone)]
enum Authentication {
    Anonymous,
    Known(Caller),
    /// A credential was sent and failed; the reason goes back in the 401.
    Refused(String),
}

/// What a route group needs.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// `/metrics` and the probes: nothing, unless `[auth] protect_metrics = true`.
    Metrics,
    Read,
    Admin,
}

/// Runs on every request: finds the caller and leaves it in the request's extensions.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let found = identify(&request, &snapshot_auth(&state));
    if let Authentication::Known(caller) = &found {
        request.extensions_mut().insert(caller.clone());
    }
    request.extensions_mut().insert(found);
    next.run(request).await
}

fn identify(request: &Request, auth: &AuthConfig) -> Authentication {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        return match bearer(value) {
            Some(token) => from_bearer(token, auth),
            None => {
                Authentication::Refused("the Authorization header is not `Bearer TOKEN`".to_owned())
            }
        };
    }
    match request.extensions().get::<Option<ClientCertificate>>() {
        Some(Some(cert)) => Authentication::Known(Caller {
            identity: cert.subject.clone(),
            role: auth
                .clients
                .iter()
                .filter(|rule| rule.matches.matches(&cert.subject_parts, &cert.sans))
                .map(|rule| rule.role)
                .max(),
            method: Method::Certificate,
        }),
        Some(None) | None => Authentication::Anonymous,
    }
}

fn bearer(value: &header::HeaderValue) -> Option<&str> {
    Some(value.to_str().ok()?.strip_prefix("Bearer ")?.trim())
}

fn from_bearer(token: &str, auth: &AuthConfig) -> Authentication {
    if let Some((name, role)) = static_token(token, auth) {
        return Authentication::Known(Caller {
            identity: name,
            role: Some(role),
            method: Method::Token,
        });
    }
    match &auth.jwt {
        Some(config) if jwt::looks_like_jwt(token) => match jwt::verify(token, config) {
            Ok((subject, role)) => Authentication::Known(Caller {
                identity: subject,
                role,
                method: Method::Jwt,
            }),
            Err(why) => Authentication::Refused(format!("the JWT is refused: {why}")),
        },
        _ => Authentication::Refused("the bearer token is not known".to_owned()),
    }
}

/// The name and role of the static token `token` is, if any.
fn static_token(token: &str, auth: &AuthConfig) -> Option<(String, Role)> {
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // Every digest is compared, so timing does not tell which (or whether one) matched.
    let mut best: Option<(String, Role)> = None;
    for t in &auth.tokens {
        if bool::from(t.sha256.ct_eq(&digest)) && best.as_ref().is_none_or(|b| b.1 < t.role) {
            best = Some((t.name.clone(), t.role));
        }
    }
    best
}

/// The one authorization check, layered on each route group with the role it needs. Changing
/// calls are logged with the caller, allowed or not.
pub async fn require(
    State((state, need)): State<(AppState, Need)>,
    request: Request,
    next: Next,
) -> Response {
    let auth = snapshot_auth(&state);
    let found = request
        .extensions()
        .get::<Authentication>()
        .cloned()
        .unwrap_or(Authentication::Anonymous);
    let who = match &found {
        Authentication::Known(c) => c.label(),
        Authentication::Anonymous | Authentication::Refused(_) => "anonymous".to_owned(),
    };
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    match authorize(need, &found, &auth) {
        Ok(()) => {
            let response = next.run(request).await;
            if matches!(need, Need::Admin) {
                tracing::info!(caller = ?who, %method, path = ?path, status = response.status().as_u16(), "change requested");
            }
            response
        }
        Err((status, message)) => {
            if matches!(need, Need::Admin) {
                tracing::warn!(caller = ?who, %method, path = ?path, status = status.as_u16(), reason = %message, "change refused");
            }
            refuse(status, message)
        }
    }
}

fn authorize(
    need: Need,
    found: &Authentication,
    auth: &AuthConfig,
) -> Result<(), (StatusCode, String)> {
    let needed = match need {
        Need::Metrics if !auth.protect_metrics => return Ok(()),
        Need::Read if !auth.any_method() => return Ok(()),
        Need::Admin if !auth.any_admin() => {
            return Err((
                StatusCode::UNAUTHORIZED,
                "nobody has the admin role (no admin token, client certificate or JWT role is \
                 configured), so changes through the API are off; add one to the config, e.g. \
                 [[auth.tokens]] name = \"ops\", role = \"admin\", sha256 = \"<output of `carbonaut hash-token`>\""
                    .to_owned(),
            ));
        }
        Need::Metrics | Need::Read => Role::Read,
        Need::Admin => Role::Admin,
    };
    let wanted = match needed {
        Role::Read => "the read or admin role",
        Role::Admin => "the admin role",
    };
    match found {
        Authentication::Anonymous => Err((
            StatusCode::UNAUTHORIZED,
            format!("this endpoint needs a bearer token, JWT or client certificate with {wanted}"),
        )),
        Authentication::Refused(why) => Err((StatusCode::UNAUTHORIZED, why.clone())),
        Authentication::Known(caller) => match caller.role {
            Some(role) if role >= needed => Ok(()),
            has => Err((
                StatusCode::FORBIDDEN,
                format!(
                    "this endpoint needs {wanted}; {} `{}` has {}",
                    caller.method.as_str(),
                    caller.identity,
                    match has {
                        Some(Role::Read) => "read",
                        Some(Role::Admin) => "admin",
                        None =>
                            "no role (nothing in [[auth.clients]] or [auth.jwt.roles] grants one)",
                    }
                ),
            )),
        },
    }
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
    carbonaut_model::sync::read(&state.config).auth.clone()
}
