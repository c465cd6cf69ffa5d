//! `carbonaut run [--config FILE] [--listen ADDR] [--state-dir DIR]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carbonaut::config::Config;

pub async fn run(
    config: Option<&Path>,
    listen: Option<SocketAddr>,
    state_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut config = match config {
        Some(path) => Config::load(path)?,
        None => Config::embedded_quickstart()?,
    };
    if let Some(listen) = listen {
        config.listen = listen;
    }
    if let Some(dir) = state_dir {
        config.state_dir = dir;
    }
    carbonaut::daemon::run(config).await?;
    Ok(ExitCode::SUCCESS)
}
