//! `[reports]`: what the history rollups keep (retention of each tier) and which resource
//! labels get rollups of their own, with the cap on how many values of one label are kept
//! apart before the rest are grouped as `other`.

use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::validate::Checker;
pub use carbonaut_store::history::ReportsConfig;

/// `[reports]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReports {
    #[serde(default)]
    pub label_keys: Vec<Spanned<String>>,
    pub max_label_values: Option<Spanned<u64>>,
    pub hourly_retention: Option<Spanned<String>>,
    pub daily_retention: Option<Spanned<String>>,
    pub resource_retention: Option<Spanned<String>>,
}

/// Most label values one key may keep apart (`max_label_values`).
pub const MAX_LABEL_VALUES_LIMIT: u64 = 1000;

impl Checker<'_> {
    pub(super) fn reports(&mut self, raw: &RawReports) -> ReportsConfig {
        let default = ReportsConfig::default();
        let mut label_keys = Vec::new();
        for key in &raw.label_keys {
            let k = key.get_ref().trim();
            if k.is_empty() || label_keys.iter().any(|x: &String| x == k) {
                self.report.push(
                    self.at(key.span()),
                    format!("[reports] label_keys has `{k}` twice or empty"),
                    "list each resource label key once",
                );
                continue;
            }
            label_keys.push(k.to_owned());
        }
        let max_label_values = match &raw.max_label_values {
            None => default.max_label_values,
            Some(v) if (1..=MAX_LABEL_VALUES_LIMIT).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                self.report.push(
                    self.at(v.span()),
                    format!("[reports] max_label_values is {}", v.get_ref()),
                    format!(
                        "use a number from 1 to {MAX_LABEL_VALUES_LIMIT} (default {})",
                        default.max_label_values
                    ),
                );
                default.max_label_values
            }
        };
        let mut retention = |key: &str, raw: &Option<Spanned<String>>, default: Duration| {
            let d = self.interval(key, raw, default);
            if d < Duration::from_secs(3600)
                && let Some(raw) = raw
            {
                self.report.push(
                    self.at(raw.span()),
                    format!("[reports] {key} is shorter than an hour"),
                    "keep buckets at least an hour, like `14d`",
                );
                return default;
            }
            d
        };
        ReportsConfig {
            label_keys,
            max_label_values,
            hourly_retention: retention(
                "hourly_retention",
                &raw.hourly_retention,
                default.hourly_retention,
            ),
            daily_retention: retention(
                "daily_retention",
                &raw.daily_retention,
                default.daily_retention,
            ),
            resource_retention: retention(
                "resource_retention",
                &raw.resource_retention,
                default.resource_retention,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    use super::*;
    use crate::config::Config;

    const REST: &str = "[paths]\nplugin_dir = \"p\"\nstate_dir = \"s\"\n\
        [providers.cloud]\nplugin = \"mock-cloud\"\n\
        [accounts.a]\ndiscovery = \"cloud\"\nresource_metrics = \"cloud\"\n";

    fn parse(reports: &str) -> Result<Config, String> {
        Config::parse(
            &format!("{REST}{reports}"),
            "x.toml",
            Path::new("."),
            &|_| None,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_settings() {
        assert_eq!(parse("").expect("valid").reports, ReportsConfig::default());
        let r = parse(
            "[reports]\nlabel_keys = [\"team\", \"cost-center\"]\nmax_label_values = 7\n\
             hourly_retention = \"2d\"\nresource_retention = \"12h\"\n",
        )
        .expect("valid")
        .reports;
        assert_eq!(r.label_keys, ["team", "cost-center"]);
        assert_eq!(r.max_label_values, 7);
        assert_eq!(r.hourly_retention, DAY * 2);
        assert_eq!(r.resource_retention, Duration::from_secs(12 * 3600));
        assert_eq!(r.daily_retention, DAY * 400);
    }

    #[test]
    fn bad_values_are_refused_with_their_position() {
        assert_eq!(
            parse(
                "[reports]\nlabel_keys = [\"team\", \"team\"]\nmax_label_values = 0\n\
                 daily_retention = \"10m\"\n"
            )
            .expect_err("invalid"),
            "x.toml:10:23: [reports] label_keys has `team` twice or empty; list each resource \
             label key once\n\
             x.toml:11:20: [reports] max_label_values is 0; use a number from 1 to 1000 \
             (default 50)\n\
             x.toml:12:19: [reports] daily_retention is shorter than an hour; keep buckets at \
             least an hour, like `14d`"
        );
    }
}
