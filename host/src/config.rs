//! The operator's config file: one TOML file naming the plugin and state folders, the
//! collection intervals, provider instances (a plugin with its settings), the accounts they
//! serve and the environment provider. Loading runs in two stages, as in ripgrep: the raw file
//! (`raw`) is validated into a ready-to-use [`Config`] (`validate`), with every problem
//! reported at once as `FILE:LINE:COLUMN: what is wrong; what to do`. Plugins are loaded after
//! the config is read, so checking the config against them is a separate step
//! ([`Config::check_plugins`]).

mod access;
mod catalogue;
mod cluster;
mod declared;
mod error;
mod footprint;
mod raw;
mod reports;
mod sandbox;
mod secrets;
mod settings;
mod suggest;
mod trust;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use access::{ClientCa, ClientMatch, ClientRule, Jwks, JwksError, JwtConfig, load_jwks};
pub use carbonaut_model::PluginDeclaration;
pub use declared::FREE_FORM_KEY;
pub use error::{ConfigError, ConfigErrors, Position};
pub use footprint::{DEFAULT_LIFETIME_HOURS, FootprintConfig};
pub use reports::ReportsConfig;
pub use settings::Settings;

/// Loopback, so a fresh install serves nothing to the network until the operator says so.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

/// The `source` of the config `carbonaut run` uses when given no file.
pub const QUICKSTART_SOURCE: &str = "<embedded quickstart>";

const QUICKSTART: &str = include_str!("../../examples/quickstart.toml");

/// A validated config, with paths resolved and secrets read from the environment.
#[derive(Clone)]
pub struct Config {
    /// The file path as given, or [`QUICKSTART_SOURCE`]; error messages start with it.
    pub source: String,
    pub listen: SocketAddr,
    /// Where the Carbon Aware SDK-compatible routes are served: `""` (the root) or `/a/b`.
    pub carbon_aware_prefix: String,
    pub plugin_dir: PathBuf,
    pub state_dir: PathBuf,
    pub intervals: Intervals,
    /// Bounds on writes to the state directory (`[state]`).
    pub state: StateConfig,
    /// How long SIGTERM may take, stuck writes included (`[server] shutdown_timeout`).
    pub shutdown_timeout: Duration,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub accounts: BTreeMap<String, AccountConfig>,
    pub environment: Option<EnvironmentConfig>,
    pub auth: AuthConfig,
    /// Serve HTTPS with this certificate chain and key (PEM), when set.
    pub tls: Option<TlsConfig>,
    /// What one plugin call may use (`[limits]`); see [`Limits`] for the defaults and why.
    pub limits: carbonaut_runtime::Limits,
    /// Pinned digests (`[plugins.NAME] sha256`) and signing keys (`[trust]`).
    pub trust: carbonaut_plugins::trust::TrustPolicy,
    /// What the history rollups keep (`[reports]`).
    pub reports: ReportsConfig,
    /// Estimation provider, machine life and PUE (`[footprint]`).
    pub footprint: FootprintConfig,
    /// Which shard this instance is (`[cluster]`, or the `run` flags); unsharded by default.
    pub cluster: crate::cluster::Cluster,
    positions: Positions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Mutual TLS: the CA that signs client certificates (`client_ca`, `client_auth`).
    pub client: Option<ClientCa>,
}

/// Who may use the API (`[auth]`). Tokens are kept as SHA-256 digests, never in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub tokens: Vec<TokenConfig>,
    /// When true, `/metrics` needs a token too (`read` is enough).
    pub protect_metrics: bool,
    /// Client certificate → role (`[[auth.clients]]`).
    pub clients: Vec<ClientRule>,
    /// Bearer JWTs (`[auth.jwt]`).
    pub jwt: Option<JwtConfig>,
}

/// What the API reads of the config on every request; a reload replaces it whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiConfig {
    pub auth: AuthConfig,
    /// `[reports] label_keys`: the labels a report may group by.
    pub label_keys: Vec<String>,
    /// `[server] carbon_aware_prefix`, read when the routes are built (at start).
    pub carbon_aware_prefix: String,
}

impl ApiConfig {
    pub fn of(config: &Config) -> ApiConfig {
        ApiConfig {
            auth: config.auth.clone(),
            label_keys: config.reports.label_keys.clone(),
            carbon_aware_prefix: config.carbon_aware_prefix.clone(),
        }
    }
}

impl AuthConfig {
    /// Whether any way to authenticate is configured; until one is, GET endpoints are open.
    pub fn any_method(&self) -> bool {
        !self.tokens.is_empty() || !self.clients.is_empty() || self.jwt.is_some()
    }

    /// Whether anyone can be `admin`; until someone can, changes through the API are off.
    pub fn any_admin(&self) -> bool {
        self.tokens.iter().any(|t| t.role == Role::Admin)
            || self.clients.iter().any(|c| c.role == Role::Admin)
            || self
                .jwt
                .as_ref()
                .is_some_and(|j| j.roles.values().any(|r| *r == Role::Admin))
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct TokenConfig {
    pub name: String,
    pub sha256: [u8; 32],
    pub role: Role,
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What a token may do: `read` the GET endpoints, or also change plugins and reload (`admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Admin,
}

/// How often each collection loop runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub topology_sync: Duration,
    pub resource_metrics: Duration,
    pub environment: Duration,
    /// How long a removed resource's counters wait for it to come back (same account, project
    /// and id) before they are folded into its project's and account's totals for good.
    pub retention: Duration,
    /// A resource whose latest accepted reading is older than this many `resource_metrics`
    /// intervals (readings refused or missing) loses its power, CPU and `estimated` gauges
    /// until a reading is accepted again; its `sample_age_seconds` keeps growing meanwhile.
    pub stale_after: u32,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            topology_sync: Duration::from_secs(60),
            resource_metrics: Duration::from_secs(10),
            environment: Duration::from_secs(5 * 60),
            retention: Duration::from_secs(7 * 24 * 3600),
            // Three: one late or refused reading is noise, three in a row is a problem a
            // dashboard should show as a gap rather than as a flat line.
            stale_after: 3,
        }
    }
}

/// Bounds on writes to the state directory (`[state]`). sled does not recover from an I/O
/// error (every write fails from then on, or a flush never returns), so a daemon whose
/// writes keep failing exits for its supervisor to restart it: crash-only, never limbo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateConfig {
    /// One write (a collection's counters and history, a sync) that takes longer failed.
    /// A collection of 100 000 resources wrote its history and counters in 130–163 ms
    /// (BENCHMARKS.md, F4 run D, before the fsync after each flush was added); 30 s
    /// leaves room for a slow disk without leaving the collector waiting for minutes.
    pub write_timeout: Duration,
    /// Writes failing without a success for this long stop the daemon (exit code 1), after
    /// `/readyz`, the metric and the log had time to say so.
    pub give_up_after: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            write_timeout: Duration::from_secs(30),
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// The default of `[server] shutdown_timeout`: what systemd and Kubernetes wait before
/// SIGKILL is 90 s and 30 s, so 10 s ends well inside both.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A named instance of a plugin (`[providers.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The plugin's metadata name.
    pub plugin: String,
    pub settings: Settings,
    /// Host directory → guest path, opened read-only for each call (`read_only_dirs`).
    pub read_only_dirs: Vec<(PathBuf, String)>,
    /// Origins the plugin may call over HTTP (`allow_http`).
    pub allow_http: Vec<carbonaut_runtime::http::HttpOrigin>,
    /// The CA bundle its HTTPS requests trust instead of the public roots (`tls_ca`).
    pub tls_ca: Option<carbonaut_runtime::tls_roots::TlsRoots>,
    /// Whether the plugin gets its key-value namespace (`key_value`).
    pub key_value: bool,
    /// `[providers.NAME.limits]` merged over `[limits]`, when the provider has that table.
    pub limits: Option<carbonaut_runtime::Limits>,
}

/// An account (`[accounts.NAME]`): what discovers its resources and what measures them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// Provider instance names.
    pub discovery: String,
    pub resource_metrics: String,
    pub settings: Settings,
}

/// Where grid carbon intensity comes from (`[environment]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentConfig {
    /// A provider instance name.
    pub provider: String,
    /// The provider instance asked for intensity forecasts, when not `provider` (a live
    /// intensity from one source, forecasts from another).
    pub forecast: Option<String>,
    /// A resource's region (or country) → the grid zone asked for.
    pub zones: BTreeMap<String, String>,
}

/// Where the values [`Config::check_plugins`] may complain about were written.
#[derive(Debug, Clone, Default)]
struct Positions {
    provider_plugin: BTreeMap<String, Position>,
    account_discovery: BTreeMap<String, Position>,
    account_resource_metrics: BTreeMap<String, Position>,
    environment_provider: Option<Position>,
    forecast_provider: Option<Position>,
    estimation_provider: Option<Position>,
    /// Provider → setting key → where the key was written.
    provider_settings: BTreeMap<String, BTreeMap<String, Position>>,
    /// Account → setting key → where the key was written.
    account_settings: BTreeMap<String, BTreeMap<String, Position>>,
}

impl Config {
    /// Reads and validates the file at `path`; relative paths in it are relative to its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: source.clone(),
            source: e,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new(""));
        Config::parse(&text, &source, base_dir, &|name| std::env::var(name).ok())
    }

    /// Validates `text`. `source` names it in errors, relative paths are resolved against
    /// `base_dir`, and `${NAME}` references are looked up with `env`.
    pub fn parse(
        text: &str,
        source: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let raw = raw::parse(text, source)?;
        validate::build(raw, text, source, base_dir, env)
    }

    /// `examples/quickstart.toml`, built into the binary with its paths resolved against the
    /// repository's `examples/` folder, so `carbonaut run` works from any directory.
    pub fn embedded_quickstart() -> Result<Config, ConfigErrors> {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new(""))
            .join("examples");
        Config::parse(QUICKSTART, QUICKSTART_SOURCE, &examples, &|name| {
            std::env::var(name).ok()
        })
    }

    /// The secrets provider `name`'s plugin is given, to scrub from what it says: in its own
    /// settings and in those of every account it serves, each value from `${...}` and the
    /// value of each key in `flagged` (the settings its plugin calls secret).
    pub fn secrets_seen_by(&self, name: &str, flagged: &[&str]) -> carbonaut_model::text::Secrets {
        let own = self.providers.get(name).map(|p| &p.settings);
        let accounts = self
            .accounts
            .values()
            .filter(|a| a.discovery == name || a.resource_metrics == name)
            .map(|a| &a.settings);
        let all: Vec<&Settings> = own.into_iter().chain(accounts).collect();
        let flagged_values = all
            .iter()
            .flat_map(|s| flagged.iter().filter_map(|k| s.get(k)));
        carbonaut_model::text::Secrets::new(
            all.iter()
                .flat_map(|s| s.secret_values())
                .chain(flagged_values),
        )
    }

    /// Checks that every provider's plugin is loaded and implements the kinds it is used for,
    /// and that the settings are those the plugins declare. `catalogue` maps each loaded
    /// plugin's name to its kinds and settings.
    pub fn check_plugins(
        &self,
        catalogue: &BTreeMap<String, PluginDeclaration>,
    ) -> Result<(), ConfigErrors> {
        catalogue::check(self, catalogue)
    }

    /// Checks only that the settings are those the plugins declare: for a reload that
    /// replaced plugin files under an unchanged config (a missing plugin is no error there:
    /// its providers go down until it is back).
    pub fn check_settings(
        &self,
        catalogue: &BTreeMap<String, PluginDeclaration>,
    ) -> Result<(), ConfigErrors> {
        catalogue::check_settings(self, catalogue)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("source", &self.source)
            .field("listen", &self.listen)
            .field("plugin_dir", &self.plugin_dir)
            .field("state_dir", &self.state_dir)
            .field("intervals", &self.intervals)
            .field("state", &self.state)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("providers", &self.providers)
            .field("accounts", &self.accounts)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::ProviderKind;

    fn quickstart_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.toml")
    }

    #[test]
    fn a_provider_sees_its_own_and_its_accounts_secrets_and_no_others() {
        let text = "[paths]\nplugin_dir = \"p\"\nstate_dir = \"s\"\n\n[providers.cloud]\nplugin = \"mock-cloud\"\n\
                    settings = { token = \"Bearer ${TOKEN}\", password = \"literal-pw\", projects = 2 }\n\n\
                    [providers.meter]\nplugin = \"mock-meter\"\nsettings = { key = \"${OTHER}\" }\n\n\
                    [accounts.acme]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n\
                    settings = { account_key = \"${ACCOUNT}\" }\n";
        let env = |name: &str| Some(format!("{name}-value"));
        let config = Config::parse(text, "x.toml", Path::new("."), &env).expect("valid");
        let secrets = config.secrets_seen_by("cloud", &["password"]);
        let said = "Bearer TOKEN-value, TOKEN-value, literal-pw, ACCOUNT-value, OTHER-value, 2";
        assert_eq!(secrets.scrub(said), "***, ***, ***, ***, OTHER-value, 2");
        let meter = config.secrets_seen_by("meter", &[]);
        assert_eq!(
            meter.scrub(said),
            "Bearer TOKEN-value, TOKEN-value, literal-pw, ***, ***, 2"
        );
    }

    #[test]
    fn the_quickstart_runs_the_mock_inventory_and_static_grid() {
        let config = Config::load(&quickstart_path()).expect("the quickstart is valid");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.plugin_dir, examples.join("../target/plugins"));
        assert_eq!(config.state_dir, examples.join("../target/carbonaut-state"));
        assert_eq!(
            config.intervals,
            Intervals {
                topology_sync: Duration::from_secs(30),
                resource_metrics: Duration::from_secs(5),
                environment: Duration::from_secs(60),
                retention: Duration::from_secs(7 * 24 * 3600),
                stale_after: 3,
            }
        );
        let plugins: Vec<_> = config
            .providers
            .values()
            .map(|p| p.plugin.as_str())
            .collect();
        assert_eq!(
            plugins,
            ["mock-cloud", "static-grid", "mock-meter", "mock-grid"]
        );
        let environment = config.environment.as_ref().expect("[environment]");
        assert_eq!(
            (
                environment.provider.as_str(),
                environment.forecast.as_deref()
            ),
            ("grid", Some("pretend-forecast"))
        );
        assert_eq!(
            config.accounts.keys().collect::<Vec<_>>(),
            ["acme", "globex"]
        );
        let acme = &config.accounts["acme"];
        assert_eq!(
            (acme.discovery.as_str(), acme.resource_metrics.as_str()),
            ("cloud", "meter")
        );
        assert_eq!(
            acme.settings.to_wit(),
            [
                ("projects".into(), "3".into()),
                ("resources_per_project".into(), "10".into())
            ]
        );
        let globex = &config.accounts["globex"].settings;
        assert_eq!(
            (globex.get("projects"), globex.get("resources_per_project")),
            (Some("2"), Some("5"))
        );
        let environment = config
            .environment
            .as_ref()
            .expect("an environment provider");
        assert_eq!(environment.provider, "grid");
        assert_eq!(
            environment.zones.get("eu-central-1").map(String::as_str),
            Some("DE")
        );
    }

    #[test]
    fn the_embedded_quickstart_is_the_example_file() {
        let embedded = Config::embedded_quickstart().expect("the quickstart is valid");
        let file = Config::load(&quickstart_path()).expect("the quickstart is valid");
        assert_eq!(embedded.source, QUICKSTART_SOURCE);
        assert!(embedded.plugin_dir.is_absolute());
        assert_eq!(embedded.providers, file.providers);
        assert_eq!(embedded.accounts, file.accounts);
        assert_eq!(embedded.intervals, file.intervals);
    }

    #[test]
    fn the_quickstart_matches_its_plugins() {
        let config = Config::embedded_quickstart().expect("the quickstart is valid");
        let plugin = |kind, keys: &[&str]| PluginDeclaration {
            kinds: vec![kind],
            settings: keys
                .iter()
                .map(|k| carbonaut_model::SettingSpec {
                    key: (*k).to_owned(),
                    description: String::new(),
                    required: false,
                    secret: false,
                })
                .collect(),
        };
        let catalogue = BTreeMap::from([
            (
                "mock-cloud".to_owned(),
                plugin(
                    ProviderKind::Discovery,
                    &["projects", "resources_per_project"],
                ),
            ),
            (
                "mock-meter".to_owned(),
                plugin(ProviderKind::ResourceMetrics, &["mode"]),
            ),
            (
                "static-grid".to_owned(),
                plugin(ProviderKind::Environment, &[]),
            ),
            (
                "mock-grid".to_owned(),
                plugin(ProviderKind::Environment, &[]),
            ),
        ]);
        config
            .check_plugins(&catalogue)
            .expect("every plugin is there");
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let errors = Config::load(Path::new("/nonexistent/carbonaut.toml"))
            .expect_err("there is no such file");
        assert_eq!(
            errors.to_string(),
            "/nonexistent/carbonaut.toml: cannot read the config file: \
             No such file or directory (os error 2); check the path and its permissions"
        );
    }
}
