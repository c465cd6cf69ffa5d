//! Command-line interface: one subcommand per file in `cli/`.

mod ask;
mod best_window;
mod check;
mod check_config;
mod inspect;
mod new;
mod report;
mod run;
mod sign;
pub(crate) mod wit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `0.1.0 (plugin contract carbonaut:provider 0.1, 0.2, 0.3)`: which plugins this build runs.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (plugin contract {})",
        env!("CARGO_PKG_VERSION"),
        carbonaut_plugins::supported_range()
    )
});

#[derive(Debug, Parser)]
#[command(
    name = "carbonaut",
    version = VERSION.as_str(),
    about = "Energy and carbon footprint of IT infrastructure, through WebAssembly provider plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect and serve: sync the topology, read energy and the grid, serve /metrics and the API.
    Run {
        /// The config file; without it, the embedded quickstart (mock cloud and meter, static-grid) runs.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen on this address instead of the config's (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Keep the state in this directory instead of the config's.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// Check a config file and the plugins it names, without running anything.
    CheckConfig {
        file: PathBuf,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// Read an API token on standard input and print the SHA-256 to put in [[auth.tokens]].
    HashToken,
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Energy and emissions per account, project, location, resource or label over a period,
    /// from the history rollups: of a stopped daemon's state directory, or of a running one.
    Report {
        /// The state directory of a stopped daemon (sled lets one process open it at a time).
        #[arg(long, conflicts_with = "url")]
        state_dir: Option<PathBuf>,
        /// Ask a running daemon instead: http://HOST:PORT.
        #[arg(long)]
        url: Option<String>,
        /// Bearer token for --url (a read token is enough).
        #[arg(long, requires = "url")]
        token: Option<String>,
        /// Start: a date (2026-11-01, midnight UTC) or RFC 3339 with any offset; default: 24 h before --to.
        #[arg(long)]
        from: Option<String>,
        /// Exclusive end, same forms; default: the end of the current UTC hour.
        #[arg(long)]
        to: Option<String>,
        /// account, project, location, resource or label:KEY.
        #[arg(long, default_value = "account")]
        by: String,
        /// hour, day or month (UTC).
        #[arg(long, default_value = "day")]
        step: String,
        /// Print CSV (the header the README documents).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// When and where a job emits least: the start and location with the lowest forecast
    /// intensity over its length, asked of a running daemon (GET /api/v1/best-window).
    BestWindow {
        /// Comma-separated locations (grid zones or countries, as /api/v1/status lists them);
        /// the saving is against starting now in the first.
        #[arg(long)]
        locations: String,
        /// The job's length, like 2h or 90m.
        #[arg(long)]
        duration: String,
        /// How far ahead it may start and end.
        #[arg(long, default_value = "24h")]
        within: String,
        /// The running daemon: http://HOST:PORT.
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        url: String,
        /// Bearer token (a read token is enough).
        #[arg(long)]
        token: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the WIT contract plugins are built against (carbonaut:provider and the WASI
    /// packages it uses), or write the files into a folder.
    Wit {
        /// Write the files here (types.wit, worlds.wit, deps/*.wit) instead of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Which shard this instance is, over the config's `[cluster]` (see README, "Sharding").
#[derive(Debug, clap::Args)]
pub struct ShardArgs {
    /// This instance's shard ordinal, 0 to N-1: it owns the accounts that hash to it.
    #[arg(
        long,
        requires = "total_shards",
        conflicts_with = "shard_from_pod_name"
    )]
    shard: Option<u32>,
    /// The number of shards N; every shard must be given the same.
    #[arg(long)]
    total_shards: Option<u32>,
    /// Take the ordinal from a StatefulSet pod name: the number after its last `-`.
    #[arg(long, value_name = "NAME", requires = "total_shards")]
    shard_from_pod_name: Option<String>,
}

impl ShardArgs {
    /// The shard the flags give, if any.
    pub fn shard(&self) -> anyhow::Result<Option<carbonaut::cluster::Shard>> {
        use carbonaut::cluster::Shard;
        let Some(total) = self.total_shards else {
            return Ok(None);
        };
        let shard = match (&self.shard_from_pod_name, self.shard) {
            (Some(pod), _) => Shard::from_pod_name(pod, total)?,
            (None, Some(ordinal)) => Shard::new(ordinal, total)?,
            (None, None) => anyhow::bail!(
                "--total-shards needs --shard or --shard-from-pod-name to say which shard this is"
            ),
        };
        Ok(Some(shard))
    }
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Load a plugin in the sandbox and print what it is: name, version, WIT version,
    /// provider kinds, settings and the sha256 of the file.
    Inspect {
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Load a plugin in the sandbox, call metadata and each provider function once with
    /// sample arguments, and print what each returned and how long it took.
    Check {
        file: PathBuf,
        /// Take settings, grants and limits from this config's provider for the plugin.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The provider in --config to use, when several use the plugin.
        #[arg(long)]
        provider: Option<String>,
        /// A setting for the calls, KEY=VALUE; repeat for more. Overrides the config's.
        #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = check::parse_setting)]
        settings: Vec<(String, String)>,
        /// A grid zone to ask an environment plugin about; repeat for more. Default: the
        /// zones of the config's [environment] mapping, else the sample location (--location).
        #[arg(long = "zone", value_name = "ZONE")]
        zones: Vec<String>,
        /// The country (ISO 3166-1 alpha-2) of the sample location the environment call is
        /// asked about and the sample resource is in (default DE, region eu-central-1).
        #[arg(long, value_name = "CC")]
        location: Option<String>,
        /// The sample location's provider region (with or without --location).
        #[arg(long)]
        region: Option<String>,
        /// The sample location's availability zone (a cloud's zone, not a grid zone).
        #[arg(long)]
        availability_zone: Option<String>,
        /// Grid intensity in gCO2e/kWh to price the sample's energy at, when the plugin is no
        /// environment plugin itself.
        #[arg(long, value_name = "G_PER_KWH")]
        intensity: Option<f64>,
        /// A loopback origin (`http://127.0.0.1:PORT`, `http://localhost:PORT`) where an
        /// emulator of the plugin's API answers, granted to this check although the plugin
        /// asks only for the real API's origins (a daemon never grants it); repeat for more.
        #[arg(long = "emulator", value_name = "ORIGIN", value_parser = check::parse_emulator)]
        emulators: Vec<carbonaut_runtime::http::HttpOrigin>,
    },
    /// Write a plugin skeleton that builds as it is, with its build instructions.
    New {
        /// The plugin's name: lower-case words joined by `-`.
        name: String,
        /// The provider kinds it implements; repeat or separate with commas.
        #[arg(long = "kind", value_enum, required = true, value_delimiter = ',')]
        kinds: Vec<new::Kind>,
        #[arg(long, value_enum)]
        lang: new::Lang,
        /// Where to write it (default: ./NAME); must be empty or missing.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust only: depend on the carbonaut-sdk crate at this path (the repository's `sdk/`,
        /// an unpacked `cargo package` crate) instead of the copy this binary writes into
        /// the skeleton's `carbonaut-sdk/`.
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Make a minisign key pair for signing plugins: PREFIX.pub (put its key in [trust] keys)
    /// and PREFIX.key (keep it private).
    Keygen {
        /// Where to write the two files (default ./carbonaut-signing).
        #[arg(long, default_value = "carbonaut-signing")]
        out: PathBuf,
        /// Encrypt the secret key with the password in this environment variable.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Sign a plugin: writes FILE.minisig beside it (minisign's format).
    Sign {
        /// The secret key (a minisign .key file).
        #[arg(long)]
        key: PathBuf,
        /// The password of an encrypted key is read from this environment variable.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        file: PathBuf,
    },
}

impl Cli {
    /// Default log level when RUST_LOG is unset: one-shot commands stay quiet.
    pub fn log_level(&self) -> &'static str {
        match self.command {
            Command::Run { .. } => "info",
            Command::CheckConfig { .. }
            | Command::HashToken
            | Command::Plugin(_)
            | Command::Wit { .. }
            | Command::Report { .. }
            | Command::BestWindow { .. } => "warn",
        }
    }
}

pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every field value escaped and, where it could pass for more, quoted: callers,
        // paths, certificates and plugins cannot write a line that looks like a record.
        .fmt_fields(carbonaut_model::text::LogFields)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            config,
            listen,
            state_dir,
            shard,
        } => run::run(config.as_deref(), listen, state_dir, shard.shard()?).await,
        Command::CheckConfig { file, shard } => check_config::run(&file, shard.shard()?).await,
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin().read_line(&mut token)?;
            let token = token.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(
                !token.is_empty(),
                "no token on standard input: `echo -n TOKEN | carbonaut hash-token`"
            );
            println!(
                "{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()))
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Inspect { file, json }) => inspect::run(&file, json).await,
        Command::Plugin(PluginCommand::Check {
            file,
            config,
            provider,
            settings,
            zones,
            location,
            region,
            availability_zone,
            intensity,
            emulators,
        }) => {
            let location = (location.is_some() || region.is_some() || availability_zone.is_some())
                .then(|| carbonaut_model::Location {
                    cloud: None,
                    grid_zone: None,
                    country: location.map(|c| c.to_ascii_uppercase()),
                    region,
                    zone: availability_zone,
                    coordinates: None,
                });
            check::run(check::Options {
                file: &file,
                config: config.as_deref(),
                provider: provider.as_deref(),
                settings: &settings,
                zones: &zones,
                location,
                intensity,
                emulators: &emulators,
            })
            .await
        }
        Command::Plugin(PluginCommand::New {
            name,
            kinds,
            lang,
            dir,
            sdk_path,
        }) => new::run(&name, &kinds, lang, dir.as_deref(), sdk_path.as_deref()),
        Command::Plugin(PluginCommand::Keygen { out, password_env }) => {
            sign::keygen(&out, password_env.as_deref())
        }
        Command::Plugin(PluginCommand::Sign {
            key,
            password_env,
            file,
        }) => sign::sign(&key, &file, password_env.as_deref()),
        Command::Wit { out } => wit::run(out.as_deref()),
        Command::BestWindow {
            locations,
            duration,
            within,
            url,
            token,
            json,
        } => {
            best_window::run(best_window::Options {
                url: &url,
                token: token.as_deref(),
                locations: &locations,
                duration: &duration,
                within: &within,
                json,
            })
            .await
        }
        Command::Report {
            state_dir,
            url,
            token,
            from,
            to,
            by,
            step,
            csv,
            json,
        } => {
            report::run(report::Options {
                state_dir: state_dir.as_deref(),
                url: url.as_deref(),
                token: token.as_deref(),
                from: from.as_deref(),
                to: to.as_deref(),
                by: &by,
                step: &step,
                csv,
                json,
            })
            .await
        }
    }
}
