//! `GET /api/v1/report`: the history rollups over a range, grouped and stepped, as JSON or
//! CSV (`Accept: text/csv` or `format=csv`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use carbonaut_store::history::{Report, ReportError, ReportQuery};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// A date (`2026-11-01`, midnight UTC) or RFC 3339 with any offset; default: `to` - 24 h.
    #[param(
        pattern = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$"
    )]
    from: Option<String>,
    /// Exclusive end, same forms; default: the end of the current UTC hour.
    #[param(
        pattern = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$"
    )]
    to: Option<String>,
    /// `account` (default), `project`, `location`, `resource` or `label:KEY` (a key of
    /// `[reports] label_keys`).
    #[param(pattern = "^(account|project|location|resource|label:.+)$")]
    group_by: Option<String>,
    /// `hour` (default), `day` or `month`; buckets are UTC.
    #[param(pattern = "^(hour|day|month)$")]
    step: Option<String>,
    /// `csv` for CSV, `json` (default) for JSON (or send `Accept: text/csv`).
    #[param(pattern = "^(csv|json)$")]
    format: Option<String>,
}

/// Energy, emissions, mean intensity, estimated share and coverage per group and step, from
/// the history rollups (hourly buckets kept 14 days, daily 400, per resource 3 by default).
#[utoipa::path(get, path = "/api/v1/report", params(ReportParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "JSON; `text/csv` rows with `format=csv` or `Accept: text/csv`",
            content((Report = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A malformed from, to, group_by, step or format, from after to, or a label key neither in [reports] label_keys nor in the history"),
        (status = 401, description = "No or unknown bearer token (when tokens are configured)"),
        (status = 422, description = "Too many rows: ask for a coarser step or a shorter range"),
        (status = 503, description = "This host keeps no history")))]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let csv = match params.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format `{other}` is not csv or json"
            )));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let query = ReportQuery::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        params.group_by.as_deref(),
        params.step.as_deref(),
        carbonaut_model::clock::now_ms(),
    )
    .map_err(report_error)?;
    let Some(store) = state.history.clone() else {
        return Err(ApiError::Unavailable(
            "this host keeps no history".to_owned(),
        ));
    };
    let label_keys = carbonaut_model::sync::read(&state.config)
        .label_keys
        .clone();
    // sled reads block; a 400-day report reads a few hundred thousand buckets.
    let report =
        tokio::task::spawn_blocking(move || Report::build(&store, &query, Some(&label_keys)))
            .await
            .map_err(|e| ApiError::Internal(format!("the report task failed: {e}")))?
            .map_err(report_error)?;
    if csv {
        let body = report
            .to_csv()
            .map_err(|e| ApiError::Internal(format!("writing CSV failed: {e}")))?;
        Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

fn report_error(e: ReportError) -> ApiError {
    match e {
        ReportError::BadQuery(m) => ApiError::BadRequest(m),
        ReportError::TooLarge => ApiError::Unprocessable(e.to_string()),
        ReportError::History(h) => ApiError::Internal(h.to_string()),
    }
}
