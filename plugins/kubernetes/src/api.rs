//! Talking to the API server: authentication, pagination with `continue`, and turning its
//! status codes and `Status` bodies into provider errors.

use carbonaut_sdk::http::{Request, Response, encode_component};
use carbonaut_sdk::{Account, ProviderError, Settings, UnavailableError, setting};
use serde::Deserialize;

use crate::node::Node;

/// Labels that name a node's pool on the managed offerings, tried in order.
const POOL_LABELS: &[&str] = &[
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "karpenter.sh/nodepool",
    "node.kubernetes.io/pool",
];
/// The project of nodes without a pool label.
pub const DEFAULT_POOL: &str = "default";
/// A cluster of 5000 nodes (the documented scalability limit) takes ten pages.
const DEFAULT_PAGE_SIZE: u32 = 500;
/// A page never takes more; a listing that keeps continuing is a server bug, not a big cluster.
const MAX_PAGES: usize = 1000;

pub struct Cluster {
    server: String,
    token: Option<String>,
    pool_label: Option<String>,
    page_size: u32,
}

#[derive(Deserialize)]
struct NodeList {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Node>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// The API server's error body.
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
}

impl Cluster {
    /// Settings come from the provider, overridden by the account's (one account per cluster).
    pub fn new(settings: &Settings, account: &Account) -> Result<Cluster, ProviderError> {
        let get = |key: &str| setting(&account.settings, key).or_else(|| setting(settings, key));
        let server = get("api_server")
            .ok_or_else(|| ProviderError::BadConfig("setting `api_server` is required".into()))?
            .trim_end_matches('/')
            .to_owned();
        let page_size = match get("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    ProviderError::BadConfig(format!(
                        "setting `page_size` is `{v}`, not 1 to 10000"
                    ))
                })?,
        };
        Ok(Cluster {
            server,
            token: get("token").map(str::to_owned),
            pool_label: get("pool_label").map(str::to_owned),
            page_size,
        })
    }

    /// Every node, following `continue` tokens. A token that expired mid-listing (410 Gone)
    /// restarts the listing once, as `kubectl` does.
    pub fn nodes(&self) -> Result<Vec<Node>, ProviderError> {
        match self.list_all() {
            Err(Listing::Expired) => self.list_all().map_err(Listing::into_error),
            other => other.map_err(Listing::into_error),
        }
    }

    fn list_all(&self) -> Result<Vec<Node>, Listing> {
        let mut nodes = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = format!("{}/api/v1/nodes?limit={}", self.server, self.page_size);
            if let Some(t) = &token {
                url.push_str("&continue=");
                url.push_str(&encode_component(t));
            }
            let page: NodeList = self.get(&url)?;
            nodes.extend(page.items);
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(nodes),
            }
        }
        Err(Listing::Failed(ProviderError::Other(format!(
            "{}: the node listing did not end after {MAX_PAGES} pages",
            self.server
        ))))
    }

    fn get(&self, url: &str) -> Result<NodeList, Listing> {
        let mut request = Request::get(url).header("accept", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let response = request.send().map_err(|e| Listing::Failed(e.into()))?;
        if response.status == 410 {
            return Err(Listing::Expired);
        }
        check(&response, &self.server).map_err(Listing::Failed)?;
        serde_json::from_slice(&response.body).map_err(|e| {
            Listing::Failed(ProviderError::Other(format!(
                "{url}: the answer is not a NodeList: {e}"
            )))
        })
    }

    /// The node's pool: the configured label, else the first well-known one, else `default`.
    pub fn pool_of(&self, node: &Node) -> String {
        let labels = &node.metadata.labels;
        match &self.pool_label {
            Some(label) => labels.get(label).cloned(),
            None => POOL_LABELS.iter().find_map(|l| labels.get(*l).cloned()),
        }
        .unwrap_or_else(|| DEFAULT_POOL.to_owned())
    }
}

enum Listing {
    /// 410 Gone: the `continue` token is too old.
    Expired,
    Failed(ProviderError),
}

impl Listing {
    fn into_error(self) -> ProviderError {
        match self {
            Listing::Expired => ProviderError::Unavailable(UnavailableError {
                message: "the node listing expired twice in a row (410 Gone)".into(),
                retry_after_ms: None,
            }),
            Listing::Failed(e) => e,
        }
    }
}

/// Maps a non-2xx answer to the error a host acts on: 401/403 need new credentials, 429 and
/// 5xx pass, the rest is reported with the server's own message.
fn check(response: &Response, server: &str) -> Result<(), ProviderError> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let status: Option<Status> = serde_json::from_slice(&response.body).ok();
    let message = status.as_ref().map_or_else(
        || format!("{server} answered {}", response.status),
        |s| {
            format!(
                "{server} answered {} {}: {}",
                response.status, s.reason, s.message
            )
        },
    );
    Err(match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        429 | 500..=599 => ProviderError::Unavailable(UnavailableError {
            message,
            retry_after_ms: response.retry_after_ms(),
        }),
        _ => ProviderError::Other(message),
    })
}
