//! The second stage of loading: turns the raw file into a [`Config`], resolving paths and
//! secrets, and checks what can be checked without plugins (references between providers and
//! accounts, addresses, intervals), reporting every problem rather than the first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use humantime_serde::re::humantime;
use serde_spanned::Spanned;

use super::error::{ConfigErrors, Position, Report, list};
use super::raw::{RawConfig, RawIntervals, RawSettings};
use super::secrets::{ExpandError, expand};
use super::{
    AccountConfig, AuthConfig, Config, DEFAULT_LISTEN, EnvironmentConfig, Intervals, Positions,
    ProviderConfig, Role, Settings, TlsConfig, TokenConfig,
};
use carbonaut_runtime::Limits;

/// Collects every problem while building the config; `config/sandbox.rs` adds the checks of
/// what a provider may use.
pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) report: Report,
}

pub(super) fn build(
    raw: RawConfig,
    text: &str,
    source: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut c = Checker {
        text,
        env,
        report: Report::new(source),
    };
    let mut positions = Positions::default();

    let listen = raw.server.listen.map_or(DEFAULT_LISTEN, |l| c.listen(&l));
    let tls = raw.server.tls.map(|t| TlsConfig {
        client: c.client_ca(t.client_ca.as_ref(), t.client_auth.as_ref(), base_dir),
        cert: base_dir.join(t.cert),
        key: base_dir.join(t.key),
    });
    let carbon_aware_prefix = raw
        .server
        .carbon_aware_prefix
        .map(|p| c.carbon_aware_prefix(&p))
        .unwrap_or_default();
    let intervals = c.intervals(&raw.intervals);
    let state = c.state(&raw.state);
    let shutdown_timeout = c.interval(
        "shutdown_timeout",
        &raw.server.shutdown_timeout,
        super::DEFAULT_SHUTDOWN_TIMEOUT,
    );
    let limits = c.limits(&raw.limits, Limits::default(), "limits");
    let reports = c.reports(&raw.reports);

    let mut providers = BTreeMap::new();
    for (name, p) in raw.providers {
        let (settings, keys) = c.settings(&p.settings, &format!("provider `{name}`"));
        positions.provider_settings.insert(name.clone(), keys);
        positions
            .provider_plugin
            .insert(name.clone(), c.at(p.plugin.span()));
        let read_only_dirs = c.read_only_dirs(&name, &p.read_only_dirs, base_dir);
        let allow_http = c.allow_http(&name, &p.allow_http);
        let tls_ca = p
            .tls_ca
            .as_ref()
            .and_then(|ca| c.tls_ca(&name, ca, base_dir));
        let provider_limits = p
            .limits
            .as_ref()
            .map(|raw| c.limits(raw, limits, &format!("providers.{name}.limits")));
        let plugin = p.plugin.into_inner();
        providers.insert(
            name,
            ProviderConfig {
                plugin,
                settings,
                read_only_dirs,
                allow_http,
                tls_ca,
                key_value: p.key_value,
                limits: provider_limits,
            },
        );
    }

    if let Some(estimation) = raw.footprint.as_ref().and_then(|f| f.estimation.as_ref()) {
        c.reference(&providers, estimation, || {
            "[footprint] estimation names provider".to_owned()
        });
        positions.estimation_provider = Some(c.at(estimation.span()));
    }
    let footprint = c.footprint(raw.footprint);
    let environment = raw.environment.map(|e| {
        c.reference(&providers, &e.provider, || {
            "[environment] names provider".to_owned()
        });
        positions.environment_provider = Some(c.at(e.provider.span()));
        if let Some(forecast) = &e.forecast {
            c.reference(&providers, forecast, || {
                "[environment] forecast names provider".to_owned()
            });
            positions.forecast_provider = Some(c.at(forecast.span()));
        }
        EnvironmentConfig {
            provider: e.provider.into_inner(),
            forecast: e.forecast.map(Spanned::into_inner),
            zones: e.zones,
        }
    });

    if raw.accounts.is_empty() {
        c.report.push(
            Position::START,
            "no accounts are defined",
            "add an [accounts.NAME] table naming its `discovery` and `resource_metrics` providers",
        );
    }
    let mut accounts = BTreeMap::new();
    for (name, a) in raw.accounts {
        c.reference(&providers, &a.discovery, || {
            format!("account `{name}` names discovery provider")
        });
        c.reference(&providers, &a.resource_metrics, || {
            format!("account `{name}` names resource-metrics provider")
        });
        let (settings, keys) = c.settings(&a.settings, &format!("account `{name}`"));
        positions.account_settings.insert(name.clone(), keys);
        positions
            .account_discovery
            .insert(name.clone(), c.at(a.discovery.span()));
        positions
            .account_resource_metrics
            .insert(name.clone(), c.at(a.resource_metrics.span()));
        let account = AccountConfig {
            discovery: a.discovery.into_inner(),
            resource_metrics: a.resource_metrics.into_inner(),
            settings,
        };
        accounts.insert(name, account);
    }

    let have_client_ca = tls.as_ref().is_some_and(|t| t.client.is_some());
    let auth = c.auth(raw.auth, have_client_ca, base_dir);
    let trust = c.trust(&raw.plugins, &raw.trust);
    let cluster = c.cluster(raw.cluster);

    let config = Config {
        cluster,
        trust,
        reports,
        footprint,
        limits,
        tls,
        auth,
        source: source.to_owned(),
        listen,
        carbon_aware_prefix,
        plugin_dir: base_dir.join(raw.paths.plugin_dir),
        state_dir: base_dir.join(raw.paths.state_dir),
        intervals,
        state,
        shutdown_timeout,
        providers,
        accounts,
        environment,
        positions,
    };
    c.report.finish(config)
}

impl Checker<'_> {
    pub(super) fn at(&self, span: Range<usize>) -> Position {
        Position::at(self.text, span.start)
    }

    fn auth(
        &mut self,
        raw: super::raw::RawAuth,
        have_client_ca: bool,
        base_dir: &Path,
    ) -> AuthConfig {
        let mut tokens = Vec::new();
        for t in raw.tokens {
            let role = match t.role.get_ref().as_str() {
                "read" => Role::Read,
                "admin" => Role::Admin,
                other => {
                    self.report.push(
                        self.at(t.role.span()),
                        format!("token `{}` has role `{other}`", t.name),
                        "use `read` (GET endpoints) or `admin` (also changes plugins and reloads)",
                    );
                    continue;
                }
            };
            let digest = hex::decode(t.sha256.get_ref().trim())
                .ok()
                .and_then(|d| <[u8; 32]>::try_from(d).ok());
            let Some(sha256) = digest else {
                self.report.push(
                    self.at(t.sha256.span()),
                    format!("token `{}`: `sha256` is not 64 hexadecimal digits", t.name),
                    "store the token's SHA-256, not the token: `carbonaut hash-token` prints it",
                );
                continue;
            };
            tokens.push(TokenConfig {
                name: t.name,
                sha256,
                role,
            });
        }
        AuthConfig {
            tokens,
            protect_metrics: raw.protect_metrics,
            clients: self.clients(raw.clients, have_client_ca),
            jwt: raw.jwt.map(|j| self.jwt(j, base_dir)),
        }
    }

    /// `""` (the root) or `/a/b`: segments of URL-safe characters, no trailing slash, so
    /// `{prefix}/emissions/bylocation` is one route and cannot shadow another.
    fn carbon_aware_prefix(&mut self, prefix: &Spanned<String>) -> String {
        let text = prefix.get_ref().trim_end_matches('/');
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        };
        let reserved = ["api", "metrics", "healthz", "readyz", "dashboard"];
        let mut segments = text.split('/').skip(1);
        let ok = text.is_empty()
            || (text.starts_with('/')
                && segments.clone().all(segment_ok)
                && segments
                    .next()
                    .is_none_or(|first| !reserved.contains(&first)));
        if ok {
            return text.to_owned();
        }
        self.report.push(
            self.at(prefix.span()),
            format!(
                "carbon_aware_prefix `{}` is not a URL path like `/carbon-aware`",
                prefix.get_ref()
            ),
            "write `/` followed by letters, digits and `-._~`, segments separated by `/`, not \
             starting with /api, /metrics, /healthz, /readyz or /dashboard; or `/` to serve at \
             the root",
        );
        String::new()
    }

    fn listen(&mut self, listen: &Spanned<String>) -> SocketAddr {
        listen.get_ref().parse().unwrap_or_else(|_| {
            self.report.push(
                self.at(listen.span()),
                format!(
                    "listen address `{}` is not an IP address and port",
                    listen.get_ref()
                ),
                "write it like `127.0.0.1:9464`, or `0.0.0.0:9464` to listen on every interface",
            );
            DEFAULT_LISTEN
        })
    }

    fn intervals(&mut self, raw: &RawIntervals) -> Intervals {
        let default = Intervals::default();
        Intervals {
            topology_sync: self.interval(
                "topology_sync",
                &raw.topology_sync,
                default.topology_sync,
            ),
            resource_metrics: self.interval(
                "resource_metrics",
                &raw.resource_metrics,
                default.resource_metrics,
            ),
            environment: self.interval("environment", &raw.environment, default.environment),
            retention: self.interval("retention", &raw.retention, default.retention),
            stale_after: match &raw.stale_after {
                None => default.stale_after,
                Some(n) => match u32::try_from(*n.get_ref()) {
                    Ok(n) if n > 0 => n,
                    _ => {
                        self.report.push(
                            self.at(n.span()),
                            format!("`stale_after` is {}", n.get_ref()),
                            "give a whole number of resource_metrics intervals, 1 or more \
                             (default 3)",
                        );
                        default.stale_after
                    }
                },
            },
        }
    }

    fn state(&mut self, raw: &super::raw::RawState) -> super::StateConfig {
        let default = super::StateConfig::default();
        super::StateConfig {
            write_timeout: self.interval(
                "write_timeout",
                &raw.write_timeout,
                default.write_timeout,
            ),
            give_up_after: self.interval(
                "give_up_after",
                &raw.give_up_after,
                default.give_up_after,
            ),
        }
    }

    pub(super) fn interval(
        &mut self,
        key: &str,
        raw: &Option<Spanned<String>>,
        default: Duration,
    ) -> Duration {
        let Some(raw) = raw else { return default };
        let at = self.at(raw.span());
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.report.push(
                    at,
                    format!("interval `{key}` is zero"),
                    "use a duration greater than zero, like `30s` or `5m`",
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.report.push(
                    at,
                    format!(
                        "interval `{key}` is `{}`, not a duration ({e})",
                        raw.get_ref()
                    ),
                    "write a duration like `30s`, `5m` or `1h 30m`",
                );
                default
            }
        }
    }

    /// Reports `value` unless it names a defined provider; `what` starts the message.
    fn reference<T>(
        &mut self,
        providers: &BTreeMap<String, T>,
        value: &Spanned<String>,
        what: impl FnOnce() -> String,
    ) {
        let name = value.get_ref();
        if providers.contains_key(name) {
            return;
        }
        let fix = if providers.is_empty() {
            format!("define [providers.{name}] (no providers are defined)")
        } else {
            format!(
                "define [providers.{name}] or use one of: {}",
                list(providers.keys().map(String::as_str))
            )
        };
        self.report.push(
            self.at(value.span()),
            format!("{} `{name}`, which is not defined", what()),
            fix,
        );
    }

    /// The settings, and where each key was written.
    fn settings(
        &mut self,
        raw: &RawSettings,
        owner: &str,
    ) -> (Settings, BTreeMap<String, Position>) {
        let mut settings = Settings::default();
        let mut keys = BTreeMap::new();
        for (key, value) in raw {
            keys.insert(key.get_ref().clone(), self.at(key.span()));
            let key = key.get_ref();
            let at = self.at(value.span());
            let (text, secret, resolved) = match value.get_ref() {
                toml::Value::String(s) => match expand(s, self.env) {
                    Ok(e) => (e.value, e.secret, e.resolved),
                    Err(errors) => {
                        for e in errors {
                            self.secret_error(&e, value.span(), key, owner);
                        }
                        continue;
                    }
                },
                toml::Value::Integer(i) => (i.to_string(), false, Vec::new()),
                toml::Value::Float(f) => (f.to_string(), false, Vec::new()),
                toml::Value::Boolean(b) => (b.to_string(), false, Vec::new()),
                other => {
                    let kind = match other {
                        toml::Value::Array(_) => "an array",
                        toml::Value::Table(_) => "a table",
                        _ => "a date-time",
                    };
                    self.report.push(
                        at,
                        format!("setting `{key}` of {owner} is {kind}"),
                        "give it a string, a number or a boolean",
                    );
                    continue;
                }
            };
            settings.insert_resolved(key.clone(), text, secret, resolved);
        }
        (settings, keys)
    }

    fn secret_error(&mut self, error: &ExpandError, span: Range<usize>, key: &str, owner: &str) {
        // Point at the reference itself when it appears verbatim (no escapes) in the value.
        let offset = self
            .text
            .get(span.clone())
            .and_then(|v| v.find(error.reference()))
            .map_or(span.start, |i| span.start + i);
        let at = Position::at(self.text, offset);
        let (problem, fix) = match error {
            ExpandError::Missing { name, .. } => (
                format!("environment variable `{name}` is not set (setting `{key}` of {owner})"),
                "set it before starting carbonaut, or write the value without `${...}`",
            ),
            ExpandError::InvalidName { reference, .. } => (
                format!("`{reference}` in setting `{key}` of {owner} is not a valid variable name"),
                "use only letters, digits and `_`, or write `$${` for a literal `${`",
            ),
            ExpandError::Unterminated { .. } => (
                format!("`${{` in setting `{key}` of {owner} has no closing `}}`"),
                "close it with `}`, or write `$${` for a literal `${`",
            ),
        };
        self.report.push(at, problem, fix);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::Config;
    use super::*;

    const BASE: &str = "[paths]\nplugin_dir = \"plugins\"\nstate_dir = \"/var/lib/carbonaut\"\n\n";

    fn env(name: &str) -> Option<String> {
        (name == "ACME_TOKEN").then(|| "hunter2".to_owned())
    }

    fn parse(rest: &str) -> Result<Config, ConfigErrors> {
        Config::parse(
            &format!("{BASE}{rest}"),
            "x.toml",
            Path::new("/etc/carbonaut"),
            &env,
        )
    }

    fn errors(rest: &str) -> String {
        parse(rest).expect_err("the config is invalid").to_string()
    }

    const PROVIDERS: &str = "[providers.cloud]\nplugin = \"mock-cloud\"\n\
        [providers.meter]\nplugin = \"mock-meter\"\n[providers.grid]\nplugin = \"mock-grid\"\n";

    #[test]
    fn relative_paths_are_resolved_against_the_config_folder() {
        let config = parse(&format!(
            "{PROVIDERS}[accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
        ))
        .expect("the config is valid");
        assert_eq!(config.plugin_dir, PathBuf::from("/etc/carbonaut/plugins"));
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/carbonaut"));
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.intervals, Intervals::default());
        assert_eq!(config.environment, None);
    }

    #[test]
    fn undefined_providers_are_all_reported_with_the_names_to_choose_from() {
        assert_eq!(
            errors(&format!(
                "{PROVIDERS}[environment]\nprovider = \"gird\"\nforecast = \"forcast\"\n\
                 [accounts.acme]\ndiscovery = \"clod\"\nresource_metrics = \"meter\"\n\
                 [accounts.b]\ndiscovery = \"cloud\"\nresource_metrics = \"metre\"\n"
            )),
            "x.toml:12:12: [environment] names provider `gird`, which is not defined; \
             define [providers.gird] or use one of: cloud, grid, meter\n\
             x.toml:13:12: [environment] forecast names provider `forcast`, which is not \
             defined; define [providers.forcast] or use one of: cloud, grid, meter\n\
             x.toml:15:13: account `acme` names discovery provider `clod`, which is not defined; \
             define [providers.clod] or use one of: cloud, grid, meter\n\
             x.toml:19:20: account `b` names resource-metrics provider `metre`, which is not \
             defined; define [providers.metre] or use one of: cloud, grid, meter"
        );
        assert_eq!(
            errors("[accounts.a]\ndiscovery = \"c\"\nresource_metrics = \"c\"\n"),
            "x.toml:6:13: account `a` names discovery provider `c`, which is not defined; \
             define [providers.c] (no providers are defined)\n\
             x.toml:7:20: account `a` names resource-metrics provider `c`, which is not defined; \
             define [providers.c] (no providers are defined)"
        );
    }

    #[test]
    fn a_config_without_accounts_is_refused() {
        assert_eq!(
            errors(PROVIDERS),
            "x.toml:1:1: no accounts are defined; add an [accounts.NAME] table naming its \
             `discovery` and `resource_metrics` providers"
        );
    }

    #[test]
    fn intervals_must_be_positive_durations() {
        assert_eq!(
            errors(&format!(
                "[intervals]\nresource_metrics = \"0s\"\nenvironment = \"5 parsecs\"\n\n{PROVIDERS}\
                 [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
            )),
            "x.toml:6:20: interval `resource_metrics` is zero; \
             use a duration greater than zero, like `30s` or `5m`\n\
             x.toml:7:15: interval `environment` is `5 parsecs`, not a duration \
             (unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, \
             days, weeks, months, years (and few variations)); \
             write a duration like `30s`, `5m` or `1h 30m`"
        );
    }

    #[test]
    fn a_bad_listen_address_is_refused() {
        assert_eq!(
            errors(&format!(
                "[server]\nlisten = \"localhost:9464\"\n{PROVIDERS}\
                 [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n"
            )),
            "x.toml:6:10: listen address `localhost:9464` is not an IP address and port; \
             write it like `127.0.0.1:9464`, or `0.0.0.0:9464` to listen on every interface"
        );
    }

    const ACCOUNT: &str = "[accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n";

    #[test]
    fn secrets_come_from_the_environment_and_are_redacted() {
        let config = parse(&format!(
            "{PROVIDERS}{ACCOUNT}settings = {{ token = \"Bearer ${{ACME_TOKEN}}\", projects = 3, \
             ratio = 0.5, debug = true }}\n"
        ))
        .expect("the config is valid");
        let settings = &config.accounts["acme"].settings;
        assert_eq!(
            settings.to_wit(),
            [
                ("debug".into(), "true".into()),
                ("projects".into(), "3".into()),
                ("ratio".into(), "0.5".into()),
                ("token".into(), "Bearer hunter2".into()),
            ]
        );
        assert!(settings.is_secret("token"));
        let debug = format!("{config:?}");
        assert!(debug.contains(r#""token": ***"#), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn a_missing_environment_variable_is_named_where_it_is_used() {
        assert_eq!(
            errors(&format!(
                "{PROVIDERS}{ACCOUNT}settings = {{ token = \"${{ACME_TOKN}}\", key = '${{A B}}' }}\n"
            )),
            "x.toml:14:23: environment variable `ACME_TOKN` is not set (setting `token` of \
             account `acme`); set it before starting carbonaut, or write the value without `${...}`\n\
             x.toml:14:45: `${A B}` in setting `key` of account `acme` is not a valid variable \
             name; use only letters, digits and `_`, or write `$${` for a literal `${`"
        );
    }

    #[test]
    fn settings_take_only_scalars() {
        assert_eq!(
            errors(&format!(
                "[providers.cloud]\nplugin = \"mock-cloud\"\nsettings = {{ zones = [\"a\"] }}\n\
                 [providers.meter]\nplugin = \"mock-meter\"\n{ACCOUNT}"
            )),
            "x.toml:7:22: setting `zones` of provider `cloud` is an array; \
             give it a string, a number or a boolean"
        );
    }
}
