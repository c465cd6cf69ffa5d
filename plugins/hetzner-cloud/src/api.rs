//! Talking to the Hetzner Cloud API: the bearer token, pagination with
//! `meta.pagination.next_page`, and turning its status codes and `{"error": {...}}` bodies into
//! provider errors.

use carbonaut_sdk::http::{Request, Response};
use carbonaut_sdk::{Account, ProviderError, Settings, UnavailableError, setting, time};
use serde::Deserialize;

use crate::server::Server;

pub const DEFAULT_BASE_URL: &str = "https://api.hetzner.cloud";
/// The most the API returns in one page, and the default page size.
const MAX_PAGE_SIZE: u32 = 50;
/// A listing that keeps going is a server bug, not a big project: a project holds a few
/// thousand servers at most (the default limit is far lower), and the hourly request budget
/// (3600 by default) runs out before this many pages anyway.
const MAX_PAGES: u32 = 10_000;

pub struct HetznerCloud {
    base_url: String,
    token: String,
    project_name: String,
    page_size: u32,
}

/// One page of `GET /v1/servers`.
#[derive(Deserialize)]
struct ServerPage {
    servers: Vec<Server>,
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    pagination: Pagination,
}

#[derive(Deserialize)]
struct Pagination {
    next_page: Option<u32>,
}

/// The API's error body: `{"error": {"code": "unauthorized", "message": "..."}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ApiError,
}

#[derive(Deserialize)]
struct ApiError {
    code: String,
    message: String,
}

impl HetznerCloud {
    /// Settings come from the provider, overridden by the account's (one account per Hetzner
    /// project, each with its own token).
    pub fn new(settings: &Settings, account: &Account) -> Result<HetznerCloud, ProviderError> {
        let get = |key: &str| {
            setting(&account.settings, key)
                .or_else(|| setting(settings, key))
                .filter(|v| !v.trim().is_empty())
        };
        let token = get("token").ok_or_else(|| {
            ProviderError::BadConfig(
                "setting `token` is required: an API token of the Hetzner Cloud project".into(),
            )
        })?;
        let page_size = match get("page_size") {
            None => MAX_PAGE_SIZE,
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ProviderError::BadConfig(format!(
                        "setting `page_size` is `{v}`, not 1 to {MAX_PAGE_SIZE}"
                    ))
                })?,
        };
        Ok(HetznerCloud {
            base_url: get("base_url")
                .unwrap_or(DEFAULT_BASE_URL)
                .trim_end_matches('/')
                .to_owned(),
            token: token.trim().to_owned(),
            project_name: get("project_name").unwrap_or(&account.name).to_owned(),
            page_size,
        })
    }

    pub fn project_name(&self) -> &str {
        &self.project_name
    }

    /// Every server of the project, page by page until `next_page` is null.
    pub fn servers(&self) -> Result<Vec<Server>, ProviderError> {
        let mut servers = Vec::new();
        let mut page = 1;
        while page <= MAX_PAGES {
            let url = format!(
                "{}/v1/servers?page={page}&per_page={}",
                self.base_url, self.page_size
            );
            let answer: ServerPage = self.get(&url)?;
            servers.extend(answer.servers);
            match answer.meta.pagination.next_page {
                None => return Ok(servers),
                // Pages only go forward; anything else would loop.
                Some(next) if next > page => page = next,
                Some(next) => {
                    return Err(ProviderError::Other(format!(
                        "{url}: meta.pagination.next_page is {next}, not after page {page}"
                    )));
                }
            }
        }
        Err(ProviderError::Other(format!(
            "{}: the server listing did not end after {MAX_PAGES} pages",
            self.base_url
        )))
    }

    fn get(&self, url: &str) -> Result<ServerPage, ProviderError> {
        let response = Request::get(url)
            .header("accept", "application/json")
            .header("authorization", &format!("Bearer {}", self.token))
            .send()?;
        check(&response, &self.base_url)?;
        serde_json::from_slice(&response.body).map_err(|e| {
            ProviderError::Other(format!("{url}: the answer is not a server list: {e}"))
        })
    }
}

/// Maps a non-2xx answer to the error a host acts on: 401 and 403 need another token, 429
/// and 5xx pass, the rest is reported with the API's own code and message.
fn check(response: &Response, base_url: &str) -> Result<(), ProviderError> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let body: Option<ErrorBody> = serde_json::from_slice(&response.body).ok();
    let message = body.map_or_else(
        || format!("{base_url} answered {}", response.status),
        |b| {
            format!(
                "{base_url} answered {} {}: {}",
                response.status, b.error.code, b.error.message
            )
        },
    );
    Err(match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        429 | 500..=599 => ProviderError::Unavailable(UnavailableError {
            message,
            retry_after_ms: retry_after_ms(response),
        }),
        _ => ProviderError::Other(message),
    })
}

/// How long to wait: `Retry-After` when the server sends it, else until `RateLimit-Reset` (a
/// Unix time in seconds), measured against the response's own `Date` so that the clocks of
/// this machine and the API's never mix.
///
/// Why wait for the reset and not for one request's worth: the budget refills gradually (one
/// request per second at the default 3600 an hour), but a listing takes one request per page,
/// and the reset is when the whole budget is back.
fn retry_after_ms(response: &Response) -> Option<u64> {
    if let Some(ms) = response.retry_after_ms() {
        return Some(ms);
    }
    let reset: u64 = response.header("ratelimit-reset")?.trim().parse().ok()?;
    let now = response.date_ms().unwrap_or_else(time::now_ms) / 1000;
    // A reset already past still means "not now": ask again in a second.
    Some(reset.saturating_sub(now).max(1) * 1000)
}
