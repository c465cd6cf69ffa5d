//! The plugin's settings, read once per call: the provider's, overridden by the account's (so
//! one provider reads many AWS accounts, each with its own keys or role).

use carbonaut_sdk::{Account, ProviderError, Settings, setting};

use crate::sigv4::Credentials;

/// Seconds between two CloudWatch answers for the same instances, by default: CPUUtilization
/// of basic monitoring has one datapoint every 5 minutes, and every request is billed.
pub const DEFAULT_UTILISATION_INTERVAL_SECS: u64 = 300;
/// DescribeInstances' largest page.
const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone)]
pub struct Config {
    pub account: String,
    pub credentials: Credentials,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// Configured regions; `None` asks DescribeRegions.
    pub regions: Option<Vec<String>>,
    /// The base URL of every API (an emulator in tests), instead of AWS's endpoints.
    pub endpoint_url: Option<String>,
    pub utilisation_interval_ms: u64,
    pub page_size: u32,
}

impl Config {
    pub fn new(settings: &Settings, account: &Account) -> Result<Config, ProviderError> {
        let get = |key: &str| {
            setting(&account.settings, key)
                .or_else(|| setting(settings, key))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let required = |key: &str| {
            get(key).ok_or_else(|| {
                ProviderError::BadConfig(format!(
                    "account `{}`: setting `{key}` is required (an IAM user's access key; \
                     write it as \"${{ENV_VAR}}\")",
                    account.name
                ))
            })
        };
        let number = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            let Some(text) = get(key) else {
                return Ok(default);
            };
            text.parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ProviderError::BadConfig(format!(
                        "account `{}`: setting `{key}` is `{text}`, not a whole number from {} \
                         to {}",
                        account.name,
                        range.start(),
                        range.end()
                    ))
                })
        };
        let regions = get("regions").map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        if let Some(bad) = regions.iter().flatten().find(|r| !is_region_name(r)) {
            return Err(ProviderError::BadConfig(format!(
                "account `{}`: setting `regions` names `{bad}`, not a region like `eu-west-1`",
                account.name
            )));
        }
        Ok(Config {
            account: account.name.clone(),
            credentials: Credentials {
                access_key_id: required("access_key_id")?.to_owned(),
                secret_access_key: required("secret_access_key")?.to_owned(),
                session_token: get("session_token").map(str::to_owned),
            },
            role_arn: get("role_arn").map(str::to_owned),
            external_id: get("external_id").map(str::to_owned),
            regions: regions.filter(|r| !r.is_empty()),
            endpoint_url: get("endpoint_url").map(|u| u.trim_end_matches('/').to_owned()),
            utilisation_interval_ms: number(
                "utilisation_interval",
                DEFAULT_UTILISATION_INTERVAL_SECS,
                60..=86_400,
            )? * 1000,
            page_size: number("page_size", u64::from(MAX_PAGE_SIZE), 5..=1000)? as u32,
        })
    }
}

/// Letters, digits and `-`: what a region name holds, and nothing that could change a URL.
pub fn is_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(pairs: &[(&str, &str)]) -> Account {
        Account {
            name: "prod".into(),
            settings: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_account_overrides_the_provider_and_defaults_apply() {
        let provider = vec![
            ("access_key_id".to_owned(), "AKIDPROVIDER".to_owned()),
            ("secret_access_key".to_owned(), "s".to_owned()),
        ];
        let config = Config::new(
            &provider,
            &account(&[
                ("access_key_id", "AKIDACCOUNT"),
                ("regions", " eu-west-1, us-east-1 ,"),
            ]),
        )
        .expect("config");
        assert_eq!(config.credentials.access_key_id, "AKIDACCOUNT");
        assert_eq!(
            config.regions,
            Some(vec!["eu-west-1".to_owned(), "us-east-1".to_owned()])
        );
        assert_eq!(config.utilisation_interval_ms, 300_000);
        assert_eq!(config.page_size, 1000);
    }

    #[test]
    fn bad_settings_name_the_account_and_the_key() {
        let err = Config::new(&vec![], &account(&[("access_key_id", "A")])).expect_err("no secret");
        assert!(
            matches!(&err, ProviderError::BadConfig(m) if m.contains("account `prod`: setting `secret_access_key`")),
            "{err:?}"
        );
        let keys = [("access_key_id", "A"), ("secret_access_key", "B")];
        for (key, value) in [
            ("regions", "eu-west-1,x/y"),
            ("utilisation_interval", "10"),
            ("page_size", "abc"),
        ] {
            let mut pairs = keys.to_vec();
            pairs.push((key, value));
            let err = Config::new(&vec![], &account(&pairs)).expect_err(key);
            assert!(
                matches!(&err, ProviderError::BadConfig(m) if m.contains(&format!("`{key}`"))),
                "{err:?}"
            );
        }
    }
}
