//! The config file as written: serde structs that refuse unknown keys and keep the positions
//! of the values later checks point at, and the translation of TOML errors into
//! `FILE:LINE:COLUMN` messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::error::{ConfigError, Position};

/// Setting values as written; only strings, numbers and booleans are accepted later. Keys keep
/// their positions too, for the check against the plugin's declared settings.
pub(super) type RawSettings = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    pub paths: RawPaths,
    #[serde(default)]
    pub intervals: RawIntervals,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    pub environment: Option<RawEnvironment>,
    pub footprint: Option<super::footprint::RawFootprint>,
    #[serde(default)]
    pub accounts: BTreeMap<String, RawAccount>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub reports: super::reports::RawReports,
    pub cluster: Option<RawCluster>,
    /// `[plugins.NAME]`: what is pinned about one plugin file.
    #[serde(default)]
    pub plugins: BTreeMap<String, RawPluginPin>,
    #[serde(default)]
    pub trust: RawTrust,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPluginPin {
    pub sha256: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    /// Minisign public keys (base64 lines).
    #[serde(default)]
    pub keys: Vec<Spanned<String>>,
    pub require_signatures: Option<Spanned<bool>>,
}

/// `[cluster]`: this instance's shard (see `crate::cluster`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub shard: Spanned<u32>,
    pub total_shards: Spanned<u32>,
    pub unowned_retention: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub memory_mib: Option<Spanned<u64>>,
    pub call_deadline: Option<Spanned<String>>,
    pub max_concurrent_calls: Option<Spanned<u64>>,
    pub max_result_items: Option<Spanned<u64>>,
    pub max_power_watts: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    #[serde(default)]
    pub protect_metrics: bool,
    /// Client certificates → roles (mutual TLS); see `config/access.rs`.
    #[serde(default)]
    pub clients: Vec<super::access::RawClient>,
    pub jwt: Option<super::access::RawJwt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    pub name: String,
    pub sha256: Spanned<String>,
    pub role: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub tls: Option<RawTls>,
    pub shutdown_timeout: Option<Spanned<String>>,
    /// Where the Carbon Aware SDK-compatible routes are served (`/emissions/...`).
    pub carbon_aware_prefix: Option<Spanned<String>>,
}

/// `[state]`: how long a write to the state directory may take, and how long writes may fail
/// before the daemon exits for its supervisor to restart it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub write_timeout: Option<Spanned<String>>,
    pub give_up_after: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert: String,
    pub key: String,
    /// CA bundle that signs the client certificates accepted (mutual TLS).
    pub client_ca: Option<Spanned<String>>,
    /// `required` (the default with `client_ca`) or `optional`.
    pub client_auth: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPaths {
    pub plugin_dir: String,
    pub state_dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntervals {
    pub topology_sync: Option<Spanned<String>>,
    pub resource_metrics: Option<Spanned<String>>,
    pub environment: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
    pub stale_after: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    pub plugin: Spanned<String>,
    #[serde(default)]
    pub settings: RawSettings,
    /// Guest path → host directory, granted read-only.
    #[serde(default)]
    pub read_only_dirs: BTreeMap<String, Spanned<String>>,
    /// Origins the plugin may reach over HTTP.
    #[serde(default)]
    pub allow_http: Vec<Spanned<String>>,
    /// A PEM bundle of CA certificates HTTPS requests trust instead of the public roots.
    pub tls_ca: Option<Spanned<String>>,
    #[serde(default)]
    pub key_value: bool,
    /// Overrides of the global `[limits]` for this provider.
    pub limits: Option<RawLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    pub provider: Spanned<String>,
    /// Where intensity forecasts come from, when not from `provider`.
    pub forecast: Option<Spanned<String>>,
    #[serde(default)]
    pub zones: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub discovery: Spanned<String>,
    pub resource_metrics: Spanned<String>,
    #[serde(default)]
    pub settings: RawSettings,
}

/// Parses `text`; the parser stops at the first syntax or shape error, so there is one.
pub(super) fn parse(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| translate(&e, text, file))
}

fn translate(error: &toml::de::Error, text: &str, file: &str) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    // Some parser messages span lines ("invalid key\nexpected ..."); errors are one line each.
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let (problem, fix) = if message.starts_with("unknown field") {
        (message, "remove it or correct its spelling".to_owned())
    } else if message.starts_with("missing field") {
        (message, "add it".to_owned())
    } else if message.starts_with("invalid type") {
        (message, "write a value of the expected type".to_owned())
    } else if message == "duplicate key" {
        duplicate(text, span.clone())
    } else {
        (
            format!("invalid TOML: {message}"),
            "fix the syntax (see https://toml.io)".to_owned(),
        )
    };
    ConfigError::Invalid {
        file: file.to_owned(),
        at: Position::at(text, span.start),
        problem,
        fix,
    }
}

/// The parser says only "duplicate key"; name the key, and the table when a header repeats.
fn duplicate(text: &str, span: std::ops::Range<usize>) -> (String, String) {
    let key = text.get(span.clone()).unwrap_or("?").trim();
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    if line.starts_with('[') {
        let header = line
            .split(']')
            .next()
            .unwrap_or(line)
            .trim_matches('[')
            .trim();
        (
            format!("table [{header}] is defined twice"),
            "merge the two tables, or rename one: names must be unique".to_owned(),
        )
    } else {
        (
            format!("key `{key}` is set twice"),
            "keep only one of them".to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text, "x.toml")
            .expect_err("the config is invalid")
            .to_string()
    }

    const PATHS: &str = "[paths]\nplugin_dir = \"p\"\nstate_dir = \"s\"\n";

    #[test]
    fn unknown_keys_are_refused_with_their_position() {
        assert_eq!(
            error(&format!("{PATHS}[server]\n  lisen = \"127.0.0.1:1\"\n")),
            "x.toml:5:3: unknown field `lisen`, expected one of `listen`, `tls`, `shutdown_timeout`, `carbon_aware_prefix`; remove it or correct its spelling"
        );
        assert_eq!(
            error(&format!(
                "{PATHS}[providers.cloud]\nplugin = \"x\"\nsetings = {{}}\n"
            )),
            "x.toml:6:1: unknown field `setings`, expected one of `plugin`, `settings`, \
             `read_only_dirs`, `allow_http`, `tls_ca`, `key_value`, `limits`; remove it or \
             correct its spelling"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        assert_eq!(
            error("[paths\nplugin_dir = \"p\"\n"),
            "x.toml:1:7: invalid TOML: unclosed table, expected `]`; \
             fix the syntax (see https://toml.io)"
        );
        assert_eq!(
            error(&format!("{PATHS}[server]\nlisten = localhost\n")),
            "x.toml:5:10: invalid TOML: string values must be quoted, expected literal string; \
             fix the syntax (see https://toml.io)"
        );
    }

    #[test]
    fn a_provider_defined_twice_is_refused() {
        let text = format!(
            "{PATHS}[providers.cloud]\nplugin = \"a\"\n\n[providers.cloud]\nplugin = \"b\"\n"
        );
        assert_eq!(
            error(&text),
            "x.toml:7:12: table [providers.cloud] is defined twice; \
             merge the two tables, or rename one: names must be unique"
        );
    }

    #[test]
    fn a_key_set_twice_is_refused() {
        assert_eq!(
            error(&format!(
                "{PATHS}[server]\nlisten = \"a\"\nlisten = \"b\"\n"
            )),
            "x.toml:6:1: key `listen` is set twice; keep only one of them"
        );
    }

    #[test]
    fn missing_and_mistyped_values_are_refused() {
        assert_eq!(
            error("[server]\n"),
            "x.toml:1:1: missing field `paths`; add it"
        );
        assert_eq!(
            error(&format!("{PATHS}[providers.cloud]\nplugin = 3\n")),
            "x.toml:5:10: invalid type: integer `3`, expected a string; \
             write a value of the expected type"
        );
    }
}
