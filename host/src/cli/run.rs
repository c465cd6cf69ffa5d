//! `carbonaut run [--config FILE] [--listen ADDR] [--state-dir DIR]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carbonaut::reload::ConfigSource;

pub async fn run(
    config: Option<&Path>,
    listen: Option<SocketAddr>,
    state_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let source = ConfigSource {
        path: config.map(Path::to_path_buf),
        listen,
        state_dir,
    };
    carbonaut::daemon::run(source).await?;
    Ok(ExitCode::SUCCESS)
}
