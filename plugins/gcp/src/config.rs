//! The plugin's settings: the service-account key's fields, the projects, the utilisation
//! interval and the API bases (overridden only in tests). An account's settings win over its
//! provider's, so one provider serves several service accounts.

use carbonaut_sdk::{Account, ProviderError, Settings, setting};

pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_COMPUTE_BASE: &str = "https://compute.googleapis.com";
pub const DEFAULT_MONITORING_BASE: &str = "https://monitoring.googleapis.com";
/// How often Cloud Monitoring is asked, by default: its API bills per request.
pub const DEFAULT_UTILIZATION_SECONDS: u64 = 300;
/// The metric is written once a minute: asking more often returns the same points.
const MIN_UTILIZATION_SECONDS: u64 = 60;
/// A day: the same bound as the aws plugin's; longer would leave hours without a reading.
const MAX_UTILIZATION_SECONDS: u64 = 86_400;
/// `maxResults` of `instances.aggregatedList`: the API's maximum.
const DEFAULT_PAGE_SIZE: u32 = 500;

pub struct Config {
    pub client_email: String,
    /// PEM, with the `\n` escapes of the key file's JSON turned into line breaks.
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: String,
    pub projects: Vec<String>,
    pub compute_base: String,
    pub monitoring_base: String,
    pub utilization_ms: u64,
    pub page_size: u32,
    /// The Carbonaut account, for error messages.
    pub account: String,
}

fn bad(message: String) -> ProviderError {
    ProviderError::BadConfig(message)
}

impl Config {
    pub fn new(settings: &Settings, account: &Account) -> Result<Config, ProviderError> {
        let get = |key: &str| {
            setting(&account.settings, key)
                .or_else(|| setting(settings, key))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let required = |key: &str, what: &str| {
            get(key).ok_or_else(|| {
                bad(format!(
                    "account `{}`: setting `{key}` is required: {what}",
                    account.name
                ))
            })
        };
        let client_email = required(
            "client_email",
            "the `client_email` of the service account's JSON key",
        )?;
        let private_key = required(
            "private_key",
            "the `private_key` of the service account's JSON key (PEM)",
        )?;
        let projects: Vec<String> = required("projects", "a comma-separated list of project ids")?
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad_id) = projects.iter().find(|p| !valid_project_id(p)) {
            return Err(bad(format!(
                "account `{}`: setting `projects` holds `{bad_id}`, which is not a project id \
                 (lower-case letters, digits, `-`, `:` and `.`)",
                account.name
            )));
        }
        let seconds = match get("utilisation_interval") {
            None => DEFAULT_UTILIZATION_SECONDS,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|s| (MIN_UTILIZATION_SECONDS..=MAX_UTILIZATION_SECONDS).contains(s))
                .ok_or_else(|| {
                    bad(format!(
                        "account `{}`: setting `utilisation_interval` is `{v}`, not a number \
                         of seconds from {MIN_UTILIZATION_SECONDS} to {MAX_UTILIZATION_SECONDS}",
                        account.name
                    ))
                })?,
        };
        let page_size = match get("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=DEFAULT_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "account `{}`: setting `page_size` is `{v}`, not 1 to {DEFAULT_PAGE_SIZE}",
                        account.name
                    ))
                })?,
        };
        let base =
            |key: &str, default: &str| get(key).unwrap_or(default).trim_end_matches('/').to_owned();
        Ok(Config {
            client_email: client_email.to_owned(),
            private_key: private_key.replace("\\n", "\n"),
            private_key_id: get("private_key_id").map(str::to_owned),
            token_uri: get("token_uri").unwrap_or(DEFAULT_TOKEN_URI).to_owned(),
            projects,
            compute_base: base("api_base", DEFAULT_COMPUTE_BASE),
            monitoring_base: base("monitoring_base", DEFAULT_MONITORING_BASE),
            utilization_ms: seconds * 1000,
            page_size,
            account: account.name.clone(),
        })
    }

    /// `account `a` (sa@p.iam.gserviceaccount.com)`: who made a request, for errors.
    pub fn who(&self) -> String {
        format!("account `{}` ({})", self.account, self.client_email)
    }
}

/// Project ids are 6 to 30 lower-case letters, digits and hyphens; older ones may carry a
/// domain (`example.com:project`). Checked because the id goes into URL paths.
fn valid_project_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | ':' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_that_could_bend_a_url_are_refused() {
        assert!(valid_project_id("my-project-123"));
        assert!(valid_project_id("example.com:legacy"));
        assert!(!valid_project_id("a/../b"));
        assert!(!valid_project_id("a?b"));
        assert!(!valid_project_id(""));
    }
}
