//! Command-line interface: one subcommand per file in `cli/`.

mod inspect;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "carbonaut",
    version,
    about = "Energy and carbon footprint of IT infrastructure, through WebAssembly provider plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
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
}

impl Cli {
    /// Default log level when RUST_LOG is unset: one-shot commands stay quiet.
    pub fn log_level(&self) -> &'static str {
        match self.command {
            Command::Plugin(_) => "warn",
        }
    }
}

pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(PluginCommand::Inspect { file, json }) => inspect::run(&file, json).await,
    }
}
