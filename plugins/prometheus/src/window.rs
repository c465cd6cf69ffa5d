//! The window of `rate()` over node_exporter's CPU seconds, chosen from how often Prometheus
//! scrapes. `rate()` needs two samples inside its window, so a window equal to the scrape
//! interval (Prometheus' default is 1m) is empty most of the time; four intervals, as
//! Grafana's `$__rate_interval` takes, still hold two samples when a scrape or two fail.

use carbonaut_sdk::log;

use crate::api::Client;

/// How many scrape intervals the chosen window spans (Grafana's `$__rate_interval` factor).
pub const INTERVALS_PER_WINDOW: u64 = 4;
/// Prometheus' own default `scrape_interval`, for a server that tells neither.
const PROMETHEUS_DEFAULT_INTERVAL_MS: u64 = 60_000;

/// The longest scrape interval the server uses, and which job uses it (for the warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub ms: u64,
    /// The job, or `global` when read from the configuration's default.
    pub job: String,
}

/// The window to query with: the operator's (checked against the scrape interval, with a
/// warning saying what to change when it is too short), else four scrape intervals.
pub fn choose(client: &Client, configured: Option<&str>) -> String {
    let interval = longest_interval(client);
    // The settings were checked: a configured window parses.
    if let Some(text) = configured {
        if let (Some(ms), Some(interval)) = (parse_duration(text), interval.as_ref())
            && let Some(warning) = too_short(text, ms, interval)
        {
            log::warn(&warning, &[("rate_window", text)]);
        }
        return text.to_owned();
    }
    let interval_ms = interval.map_or(PROMETHEUS_DEFAULT_INTERVAL_MS, |i| i.ms);
    format_duration(interval_ms * INTERVALS_PER_WINDOW)
}

/// The warning for a configured window shorter than four scrape intervals, naming the value to
/// write instead; `None` when the window is long enough.
pub fn too_short(text: &str, window_ms: u64, interval: &Interval) -> Option<String> {
    let wanted = interval.ms * INTERVALS_PER_WINDOW;
    (window_ms < wanted).then(|| {
        format!(
            "rate_window = \"{text}\" is shorter than {INTERVALS_PER_WINDOW} scrape intervals of \
             job `{}` ({} each): rate() needs two samples inside the window, so utilisation \
             (and every power estimate built on it) will often be missing; set rate_window = \
             \"{}\" or remove the setting to let the plugin choose",
            interval.job,
            format_duration(interval.ms),
            format_duration(wanted)
        )
    })
}

/// The longest scrape interval among the active targets, else in the loaded configuration;
/// `None` when the server tells neither (a Prometheus-compatible server without these APIs).
fn longest_interval(client: &Client) -> Option<Interval> {
    let from_targets = match client.targets() {
        Ok(targets) => targets
            .iter()
            .filter_map(|t| {
                let ms = parse_duration(t.scrape_interval.as_deref()?)?;
                let job = t.labels.get("job").cloned().unwrap_or_default();
                Some(Interval { ms, job })
            })
            .max_by_key(|i| i.ms),
        Err(error) => {
            log::debug(
                "the scrape targets could not be read; trying the configuration",
                &[("error", &format!("{error:?}"))],
            );
            None
        }
    };
    from_targets.or_else(|| match client.config_yaml() {
        Ok(yaml) => longest_in_config(&yaml),
        Err(error) => {
            log::debug(
                "the configuration could not be read; assuming Prometheus' default scrape \
                 interval of 1m",
                &[("error", &format!("{error:?}"))],
            );
            None
        }
    })
}

/// The longest `scrape_interval` in the YAML of `/api/v1/status/config`, with the job it is
/// under (`global` for the default). Prometheus writes that YAML itself, one key per line.
pub fn longest_in_config(yaml: &str) -> Option<Interval> {
    let mut job = "global".to_owned();
    let mut longest: Option<Interval> = None;
    for line in yaml.lines() {
        let line = line.trim_start().trim_start_matches("- ");
        if let Some(name) = line.strip_prefix("job_name:") {
            job = unquote(name).to_owned();
        } else if let Some(value) = line.strip_prefix("scrape_interval:")
            && let Some(ms) = parse_duration(unquote(value))
            && longest.as_ref().is_none_or(|l| ms > l.ms)
        {
            longest = Some(Interval {
                ms,
                job: job.clone(),
            });
        }
    }
    longest
}

fn unquote(value: &str) -> &str {
    value.trim().trim_matches(['"', '\''])
}

/// A Prometheus duration (`1m`, `15s`, `1m30s`, `500ms`, `1h`, `1d`, `1w`, `1y`) in ms.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(unit_ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Milliseconds as the shortest Prometheus duration that says them exactly (`4m`, `90s`).
pub fn format_duration(ms: u64) -> String {
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_prometheus_durations() {
        assert_eq!(parse_duration("1m"), Some(60_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("2h"), Some(7_200_000));
        for bad in ["", "a while", "1", "m", "1.5m", "-1m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(240_000), "4m");
        assert_eq!(format_duration(90_000), "90s");
        assert_eq!(format_duration(4_000), "4s");
        assert_eq!(format_duration(7_200_000), "2h");
        assert_eq!(format_duration(1_500), "1500ms");
    }

    #[test]
    fn a_window_of_one_stock_interval_is_too_short_and_says_what_to_write() {
        let stock = Interval {
            ms: 60_000,
            job: "node".into(),
        };
        let warning = too_short("1m", 60_000, &stock).expect("a warning");
        assert!(
            warning.contains("rate_window = \"4m\"") && warning.contains("job `node` (1m each)"),
            "{warning}"
        );
        assert_eq!(too_short("4m", 240_000, &stock), None);
    }

    /// The shape of Prometheus 2.42's `/api/v1/status/config` (`data.yaml`): the global
    /// default, then each job with its own interval filled in.
    #[test]
    fn reads_the_longest_interval_from_the_configuration() {
        let yaml = "global:\n  scrape_interval: 1m\n  scrape_timeout: 10s\n\
                    scrape_configs:\n- job_name: node\n  scrape_interval: 15s\n\
                    - job_name: slow\n  scrape_interval: 2m\n";
        assert_eq!(
            longest_in_config(yaml),
            Some(Interval {
                ms: 120_000,
                job: "slow".into()
            })
        );
        assert_eq!(
            longest_in_config("global:\n  scrape_interval: 1m\n")
                .expect("found")
                .job,
            "global"
        );
    }
}
