//! `carbonaut run [--config FILE] [--listen ADDR] [--state-dir DIR] [--shard I --total-shards N]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carbonaut::reload::ConfigSource;

pub async fn run(
    config: Option<&Path>,
    listen: Option<SocketAddr>,
    state_dir: Option<PathBuf>,
    shard: Option<carbonaut::cluster::Shard>,
) -> anyhow::Result<ExitCode> {
    let source = ConfigSource {
        path: config.map(Path::to_path_buf),
        listen,
        state_dir,
        shard,
    };
    carbonaut::daemon::run(source).await?;
    Ok(ExitCode::SUCCESS)
}
