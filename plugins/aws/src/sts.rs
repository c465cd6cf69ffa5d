//! The credentials requests are signed with: the configured keys, or, with `role_arn`, the
//! temporary ones of `sts:AssumeRole` (one reader over many accounts: a user in one account
//! assumes a read-only role in each). Temporary credentials are kept in the key-value store
//! until five minutes before they expire, so a call does not assume the role again.

use carbonaut_sdk::kv::{ExpiringCache, StoreError};
use carbonaut_sdk::{ProviderError, log, time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::{Client, Service};
use crate::settings::Config;
use crate::sigv4::{Credentials, hex};
use crate::xml;

/// Asked for: one hour, STS's default and the most a role chain allows.
const DURATION_SECS: u32 = 3600;
/// Temporary credentials are not used in their last five minutes (a call may last a while,
/// and the clocks of this machine and AWS's may differ).
const MARGIN_MS: u64 = 5 * 60 * 1000;
const SESSION_NAME: &str = "carbonaut";

#[derive(Serialize, Deserialize)]
struct Session {
    credentials: Credentials,
}

/// The credentials for `config`'s account at `now`.
pub fn credentials(config: &Config, now: u64) -> Result<Credentials, ProviderError> {
    let Some(role) = &config.role_arn else {
        return Ok(config.credentials.clone());
    };
    let key = cache_key(config, role);
    match ExpiringCache::new(0).get::<Session>(&key, now) {
        Ok(Some(session)) => return Ok(session.credentials),
        Ok(None) => {}
        // Without the store the role is assumed at every call: STS requests are free, only
        // slower.
        Err(StoreError::Denied(_)) => {}
        Err(other) => log::warn(
            "the cached role session could not be read",
            &[("error", &format!("{other:?}"))],
        ),
    }
    let (credentials, expires_at) = assume(config, role)?;
    let lifetime = expires_at.saturating_sub(now).saturating_sub(MARGIN_MS);
    if lifetime > 0 {
        let session = Session {
            credentials: credentials.clone(),
        };
        if let Err(error) = ExpiringCache::new(lifetime).set(&key, now, &session) {
            log::debug(
                "the role session is not kept between calls",
                &[("error", &error.to_string())],
            );
        }
    }
    Ok(credentials)
}

/// Forgets the cached session of `config`'s role (AWS said it expired before we thought).
pub fn forget(config: &Config) {
    if let Some(role) = &config.role_arn {
        let _ = carbonaut_sdk::kv::delete(&cache_key(config, role));
    }
}

/// A key per account, role and key that assumes it, short whatever the ARN's length.
fn cache_key(config: &Config, role: &str) -> String {
    let digest = Sha256::digest(
        format!(
            "{}\n{role}\n{}",
            config.account, config.credentials.access_key_id
        )
        .as_bytes(),
    );
    format!("sts/{}", hex(&digest[..16]))
}

/// `sts:AssumeRole` with the configured keys: the temporary credentials and when they expire.
fn assume(config: &Config, role: &str) -> Result<(Credentials, u64), ProviderError> {
    let client = Client::new(config, config.credentials.clone());
    let mut params = vec![
        ("RoleArn".to_owned(), role.to_owned()),
        ("RoleSessionName".to_owned(), SESSION_NAME.to_owned()),
        ("DurationSeconds".to_owned(), DURATION_SECS.to_string()),
    ];
    if let Some(id) = &config.external_id {
        params.push(("ExternalId".to_owned(), id.clone()));
    }
    let text = client.call(Service::Sts, "us-east-1", "AssumeRole", &params)?;
    let failed = |why: &str| {
        ProviderError::Other(format!(
            "account `{}`, sts:AssumeRole of `{role}`: {why}",
            config.account
        ))
    };
    let doc = xml::parse(&text, "sts:AssumeRole").map_err(|e| failed(&e))?;
    let found = doc
        .descendants()
        .find(|n| n.has_tag_name("Credentials"))
        .ok_or_else(|| failed("the answer has no Credentials"))?;
    let field = |name: &str| {
        xml::text(found, name)
            .map(str::to_owned)
            .ok_or_else(|| failed(&format!("the answer has no {name}")))
    };
    let expiration = field("Expiration")?;
    let expires_at = time::parse_rfc3339_ms(&expiration)
        .map_err(|e| failed(&format!("Expiration `{expiration}`: {e:?}")))?;
    Ok((
        Credentials {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: field("SecretAccessKey")?,
            session_token: Some(field("SessionToken")?),
        },
        expires_at,
    ))
}
