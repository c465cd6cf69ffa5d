//! Where the config comes from (a file or the embedded quickstart), with the command-line
//! overrides re-applied on every reload.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigErrors};

/// A config that cannot be used: unreadable, or refused by its checks (each error with its
/// file, line and column).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: cannot read the config: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
}

/// Where the config comes from, and the command-line overrides to apply on every reload.
#[derive(Clone)]
pub struct ConfigSource {
    /// `None` for the embedded quickstart, which cannot change.
    pub path: Option<PathBuf>,
    pub listen: Option<std::net::SocketAddr>,
    pub state_dir: Option<PathBuf>,
    /// `--shard`/`--total-shards` or `--shard-from-pod-name`, over the config's `[cluster]`.
    pub shard: Option<crate::cluster::Shard>,
}

impl ConfigSource {
    /// Reads and validates the config, with the overrides applied.
    pub fn load(&self) -> Result<(Config, Option<String>), SourceError> {
        let mut config = match &self.path {
            None => Config::embedded_quickstart()?,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SourceError::Read {
                    path: path.clone(),
                    source,
                })?;
                let base = path.parent().unwrap_or(Path::new(""));
                let config = Config::parse(&text, &path.display().to_string(), base, &|name| {
                    std::env::var(name).ok()
                })?;
                return Ok((self.apply(config), Some(text)));
            }
        };
        config = self.apply(config);
        Ok((config, None))
    }

    fn apply(&self, mut config: Config) -> Config {
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.state_dir {
            config.state_dir = dir.clone();
        }
        if let Some(shard) = self.shard {
            config.cluster.shard = shard;
        }
        config
    }
}
