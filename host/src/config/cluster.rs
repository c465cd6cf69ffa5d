//! Checks of the `[cluster]` table: a shard that exists and a retention that is a duration.

use super::raw::RawCluster;
use super::validate::Checker;
use crate::cluster::{Cluster, DEFAULT_UNOWNED_RETENTION, Shard};

impl Checker<'_> {
    pub(super) fn cluster(&mut self, raw: Option<RawCluster>) -> Cluster {
        let Some(raw) = raw else {
            return Cluster::default();
        };
        let shard = match Shard::new(*raw.shard.get_ref(), *raw.total_shards.get_ref()) {
            Ok(shard) => shard,
            Err(error) => {
                let span = if *raw.total_shards.get_ref() == 0 {
                    raw.total_shards.span()
                } else {
                    raw.shard.span()
                };
                self.report.push(
                    self.at(span),
                    format!("[cluster]: {error}"),
                    "set `shard` to this instance's ordinal, from 0 to total_shards - 1",
                );
                Shard::UNSHARDED
            }
        };
        let unowned_retention = self.interval(
            "unowned_retention",
            &raw.unowned_retention,
            DEFAULT_UNOWNED_RETENTION,
        );
        Cluster {
            shard,
            unowned_retention,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::cluster::Shard;
    use crate::config::Config;

    const REST: &str = "[paths]\nplugin_dir = \"p\"\nstate_dir = \"s\"\n\
        [providers.cloud]\nplugin = \"mock-cloud\"\n[providers.meter]\nplugin = \"mock-meter\"\n\
        [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"meter\"\n";

    fn parse(cluster: &str) -> Result<Config, String> {
        Config::parse(
            &format!("{cluster}{REST}"),
            "x.toml",
            Path::new(""),
            &|_| None,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_cluster_table_sets_the_shard() {
        let config = parse("[cluster]\nshard = 2\ntotal_shards = 3\nunowned_retention = \"1h\"\n")
            .expect("valid");
        assert_eq!(
            config.cluster.shard,
            Shard {
                ordinal: 2,
                total: 3
            }
        );
        assert_eq!(config.cluster.unowned_retention, Duration::from_secs(3600));
        let plain = parse("").expect("valid");
        assert_eq!(plain.cluster.shard, Shard::UNSHARDED);
    }

    #[test]
    fn a_shard_out_of_range_is_refused_where_it_is_written() {
        assert_eq!(
            parse("[cluster]\nshard = 3\ntotal_shards = 3\n")
                .err()
                .as_deref(),
            Some(
                "x.toml:2:9: [cluster]: shard 3 does not exist among 3 shards; shards are \
                 numbered 0 to 2; set `shard` to this instance's ordinal, from 0 to \
                 total_shards - 1"
            )
        );
        assert!(
            parse("[cluster]\nshard = 0\ntotal_shards = 0\n")
                .err()
                .is_some_and(
                    |e| e.starts_with("x.toml:3:16: [cluster]: the total number of shards is 0")
                )
        );
    }
}
