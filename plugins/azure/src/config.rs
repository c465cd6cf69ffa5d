//! The plugin's settings: the service principal (tenant, client id, client secret), the
//! subscriptions to measure, the utilisation interval and the endpoints (overridden only in
//! tests). An account's settings win over its provider's, so one provider serves several
//! service principals.

use carbonaut_sdk::{Account, ProviderError, Settings, setting};

pub const DEFAULT_LOGIN_BASE: &str = "https://login.microsoftonline.com";
pub const DEFAULT_MANAGEMENT_BASE: &str = "https://management.azure.com";
/// How often Azure Monitor is asked, by default: metric queries are billed per request.
pub const DEFAULT_UTILIZATION_SECONDS: u64 = 300;
/// `Percentage CPU` has a one-minute grain: asking more often returns the same points.
const MIN_UTILIZATION_SECONDS: u64 = 60;
/// A day: the same bound as the aws plugin's; longer would leave hours without a reading.
const MAX_UTILIZATION_SECONDS: u64 = 86_400;

pub struct Config {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Empty: every subscription the principal can read.
    pub subscriptions: Vec<String>,
    pub login_base: String,
    pub management_base: String,
    pub utilization_ms: u64,
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
        let tenant_id = required(
            "tenant_id",
            "the directory (tenant) id of the service principal",
        )?;
        let client_id = required(
            "client_id",
            "the application (client) id of the service principal",
        )?;
        let client_secret = required("client_secret", "a client secret of the application")?;
        for (key, value) in [("tenant_id", tenant_id), ("client_id", client_id)] {
            if !valid_id(value) {
                return Err(bad(format!(
                    "account `{}`: setting `{key}` is `{value}`, not an id (letters, digits, \
                     `-` and `.`)",
                    account.name
                )));
            }
        }
        let subscriptions: Vec<String> = get("subscriptions")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        if let Some(bad_id) = subscriptions.iter().find(|s| !valid_id(s)) {
            return Err(bad(format!(
                "account `{}`: setting `subscriptions` holds `{bad_id}`, which is not a \
                 subscription id",
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
        let base =
            |key: &str, default: &str| get(key).unwrap_or(default).trim_end_matches('/').to_owned();
        Ok(Config {
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            subscriptions,
            login_base: base("login_base", DEFAULT_LOGIN_BASE),
            management_base: base("management_base", DEFAULT_MANAGEMENT_BASE),
            utilization_ms: seconds * 1000,
            account: account.name.clone(),
        })
    }

    /// `account `a` (client 1234…)`: who made a request, for errors.
    pub fn who(&self) -> String {
        format!("account `{}` (client {})", self.account, self.client_id)
    }
}

/// GUIDs, or a tenant's domain (`contoso.onmicrosoft.com`): checked because ids go into
/// URL paths.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_bend_a_url_are_refused() {
        assert!(valid_id("8f3c1b2a-0d4e-4f5a-9b6c-7d8e9f0a1b2c"));
        assert!(valid_id("contoso.onmicrosoft.com"));
        assert!(!valid_id("a/../b"));
        assert!(!valid_id("a?b"));
        assert!(!valid_id(""));
    }
}
