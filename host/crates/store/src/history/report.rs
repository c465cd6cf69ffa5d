//! Reports: the buckets of one dimension over `[from, to)`, grouped into rows per step (hour,
//! UTC day, UTC month) and group, with totals, coverage and notes; as JSON or CSV.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::bucket::{self, Bucket, HOUR_MS, JOULES_PER_KWH, Tier};
use super::instant::{format_instant, month_start, next_month_start, parse_instant};
use super::store::{HistoryError, HistoryStore};
use super::{ACCOUNT, LOCATION, OTHER_LABEL, PROJECT, RESOURCE, UNSET_LABEL};

/// Rows one report may have; past it, ask for a coarser step or a shorter range.
pub const MAX_ROWS: usize = 100_000;

/// The CSV header, as documented in the README.
pub const CSV_HEADER: [&str; 10] = [
    "start",
    "group",
    "energy_kwh",
    "emissions_kgco2e",
    "mean_intensity_g_per_kwh",
    "estimated_share",
    "coverage",
    "resource_hours",
    "providers",
    // Last, so that a reader of the nine columns before it reads them where they were.
    "embodied_kgco2e",
];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    BadQuery(String),
    #[error(
        "the report would have more than {MAX_ROWS} rows; ask for a coarser step, a shorter range or a coarser group_by"
    )]
    TooLarge,
    #[error(transparent)]
    History(#[from] HistoryError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Account,
    Project,
    Location,
    Resource,
    Label(String),
}

impl GroupBy {
    pub fn parse(text: &str) -> Result<GroupBy, ReportError> {
        Ok(match text {
            "account" => GroupBy::Account,
            "project" => GroupBy::Project,
            "location" => GroupBy::Location,
            "resource" => GroupBy::Resource,
            other => match other.strip_prefix("label:") {
                Some(key) if !key.is_empty() => GroupBy::Label(key.to_owned()),
                _ => {
                    return Err(ReportError::BadQuery(format!(
                        "group_by `{other}` is not one of account, project, location, resource, label:KEY"
                    )));
                }
            },
        })
    }

    pub fn dimension(&self) -> String {
        match self {
            GroupBy::Account => ACCOUNT.to_owned(),
            GroupBy::Project => PROJECT.to_owned(),
            GroupBy::Location => LOCATION.to_owned(),
            GroupBy::Resource => RESOURCE.to_owned(),
            GroupBy::Label(k) => super::label_dimension(k),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hour,
    Day,
    Month,
}

impl Step {
    pub fn parse(text: &str) -> Result<Step, ReportError> {
        match text {
            "hour" => Ok(Step::Hour),
            "day" => Ok(Step::Day),
            "month" => Ok(Step::Month),
            other => Err(ReportError::BadQuery(format!(
                "step `{other}` is not one of hour, day, month"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Step::Hour => "hour",
            Step::Day => "day",
            Step::Month => "month",
        }
    }

    /// The row a bucket starting at `ms` belongs to: its start and its end.
    fn row(self, ms: u64) -> (u64, u64) {
        match self {
            Step::Hour => (bucket::hour_start(ms), bucket::hour_start(ms) + HOUR_MS),
            Step::Day => (
                bucket::day_start(ms),
                bucket::day_start(ms) + bucket::DAY_MS,
            ),
            Step::Month => (month_start(ms), next_month_start(ms)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub from_ms: u64,
    pub to_ms: u64,
    pub group_by: GroupBy,
    pub step: Step,
}

impl ReportQuery {
    /// From the API's or the CLI's strings. Defaults: the last 24 hours, by account, hourly.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        group_by: Option<&str>,
        step: Option<&str>,
        now_ms: u64,
    ) -> Result<ReportQuery, ReportError> {
        let instant = |name: &str, text: &str| {
            parse_instant(text).map_err(|e| ReportError::BadQuery(format!("{name}: {e}")))
        };
        let to_ms = match to {
            Some(t) => instant("to", t)?,
            None => bucket::hour_start(now_ms) + HOUR_MS,
        };
        let from_ms = match from {
            Some(f) => instant("from", f)?,
            None => to_ms.saturating_sub(bucket::DAY_MS),
        };
        // `[from, to)` with from == to is empty: a valid question with an empty answer, as
        // a range too short to hold a bucket start is.
        if from_ms > to_ms {
            return Err(ReportError::BadQuery(format!(
                "from ({}) is after to ({}); the range is [from, to)",
                format_instant(from_ms),
                format_instant(to_ms)
            )));
        }
        Ok(ReportQuery {
            from_ms,
            to_ms,
            group_by: GroupBy::parse(group_by.unwrap_or("account"))?,
            step: Step::parse(step.unwrap_or("hour"))?,
        })
    }
}

/// The agreed JSON shape (see the README's operator section).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub step: String,
    pub group_by: String,
    pub rows: Vec<ReportRow>,
    pub totals: ReportTotals,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// Start of the UTC hour, day or month.
    pub start: String,
    pub group: String,
    pub energy_kwh: f64,
    pub emissions_kgco2e: f64,
    /// Energy-weighted; `null` when no energy of the row had a carbon intensity.
    pub mean_intensity_g_per_kwh: Option<f64>,
    /// Share of the energy that providers flagged as estimated.
    pub estimated_share: f64,
    /// Hours with data / hours of the row within the range.
    pub coverage: f64,
    pub resource_hours: f64,
    pub providers: Vec<String>,
    /// The resources' shares of their machines' manufacturing emissions, apart from the
    /// operational `emissions_kgco2e`.
    pub embodied_kgco2e: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportTotals {
    pub energy_kwh: f64,
    pub emissions_kgco2e: f64,
    pub mean_intensity_g_per_kwh: Option<f64>,
    pub estimated_share: f64,
    /// Hours in which any group has data / hours asked.
    pub coverage: f64,
    pub resource_hours: f64,
    pub embodied_kgco2e: f64,
}

/// A row being summed: the figures and, per UTC day, the hours with data.
#[derive(Default)]
struct Sum {
    bucket: Bucket,
    hours: BTreeMap<u64, u32>,
}

impl Sum {
    fn add(&mut self, start: u64, b: &Bucket) {
        self.bucket.add(b);
        *self.hours.entry(bucket::day_start(start)).or_default() |= b.hours;
    }

    fn hours_with_data(&self) -> u32 {
        self.hours.values().map(|m| m.count_ones()).sum()
    }
}

impl Report {
    /// Reads the buckets `query` asks for from `store`. `label_keys` are the configured
    /// `[reports] label_keys`, or `None` where the config is not known (a report read from a
    /// state directory): a `label:KEY` neither configured nor in the history is refused.
    pub fn build(
        store: &HistoryStore,
        query: &ReportQuery,
        label_keys: Option<&[String]>,
    ) -> Result<Report, ReportError> {
        let dimension = query.group_by.dimension();
        let retired = match &query.group_by {
            GroupBy::Label(key) => check_label(store, key, label_keys)?,
            _ => false,
        };
        let tier = match (&query.group_by, query.step) {
            (GroupBy::Resource, _) | (_, Step::Hour) => Tier::Hourly,
            _ => Tier::Daily,
        };
        let buckets = store.scan(
            tier,
            &dimension,
            ceil(query.from_ms, tier),
            ceil(query.to_ms, tier),
        );
        let mut report = Report::from_buckets(query, tier, buckets)?;
        match store.oldest(tier, &dimension)? {
            None => report.notes.push(format!(
                "no {} buckets of {dimension} are stored yet",
                tier_name(tier)
            )),
            Some(oldest) if oldest > ceil(query.from_ms, tier) => report.notes.push(format!(
                "the {} buckets of {dimension} begin at {}: older ones were pruned (see \
                 [reports] retention) or carbonaut was not running; coverage counts the hours \
                 before as missing",
                tier_name(tier),
                format_instant(oldest)
            )),
            Some(_) => {}
        }
        if let (true, GroupBy::Label(key)) = (retired, &query.group_by) {
            report.notes.push(format!(
                "label `{key}` is no longer in [reports] label_keys: these are the buckets \
                 recorded while it was"
            ));
        }
        Ok(report)
    }

    /// Groups `buckets` (start, group, figures; all of one dimension and tier, starting
    /// within the range) into rows and totals.
    pub fn from_buckets(
        query: &ReportQuery,
        tier: Tier,
        buckets: impl Iterator<Item = Result<(u64, String, Bucket), HistoryError>>,
    ) -> Result<Report, ReportError> {
        let (from, to) = (ceil(query.from_ms, tier), ceil(query.to_ms, tier));
        let mut rows: HashMap<(u64, String), Sum> = HashMap::new();
        let mut total = Sum::default();
        // Buckets come in time order: the current row's span answers most lookups.
        let mut span = (0, 0);
        for item in buckets {
            let (start, group, b) = item?;
            if !(span.0..span.1).contains(&start) {
                span = query.step.row(start);
            }
            let key = (span.0, group);
            if rows.len() >= MAX_ROWS && !rows.contains_key(&key) {
                return Err(ReportError::TooLarge);
            }
            rows.entry(key).or_default().add(start, &b);
            total.add(start, &b);
        }
        let mut rows: Vec<((u64, String), Sum)> = rows.into_iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let hours_between = |a: u64, b: u64| (b.saturating_sub(a) / HOUR_MS) as f64;
        let rows = rows
            .into_iter()
            .map(|((row_start, group), sum)| {
                let (_, row_end) = query.step.row(row_start);
                let asked = hours_between(row_start.max(from), row_end.min(to));
                let b = &sum.bucket;
                ReportRow {
                    start: format_instant(row_start),
                    group,
                    energy_kwh: b.energy_joules / JOULES_PER_KWH,
                    emissions_kgco2e: b.emissions_grams / 1000.0,
                    mean_intensity_g_per_kwh: b.mean_intensity(),
                    estimated_share: b.estimated_share(),
                    coverage: coverage(sum.hours_with_data(), asked),
                    resource_hours: b.resource_seconds / 3600.0,
                    providers: b.providers.clone(),
                    embodied_kgco2e: b.embodied_grams / 1000.0,
                }
            })
            .collect();
        let b = &total.bucket;
        let totals = ReportTotals {
            energy_kwh: b.energy_joules / JOULES_PER_KWH,
            emissions_kgco2e: b.emissions_grams / 1000.0,
            mean_intensity_g_per_kwh: b.mean_intensity(),
            estimated_share: b.estimated_share(),
            coverage: coverage(total.hours_with_data(), hours_between(from, to)),
            resource_hours: b.resource_seconds / 3600.0,
            embodied_kgco2e: b.embodied_grams / 1000.0,
        };
        let mut notes = Vec::new();
        if query.from_ms == query.to_ms {
            notes.push(
                "from equals to: the range [from, to) is empty, so there are no rows".to_owned(),
            );
        }
        if from != query.from_ms || to != query.to_ms {
            notes.push(format!(
                "from and to are not on UTC {} boundaries: buckets are UTC and count when they \
                 start within the range, here [{}, {})",
                match tier {
                    Tier::Hourly => "hour",
                    Tier::Daily => "day",
                },
                format_instant(from),
                format_instant(to)
            ));
        }
        match &query.group_by {
            GroupBy::Resource => notes.push(
                "group_by=resource reads the hourly tier per resource only, kept for \
                 [reports] resource_retention (3 days by default)"
                    .to_owned(),
            ),
            GroupBy::Label(key) => notes.push(format!(
                "resources without label `{key}` are grouped as `{UNSET_LABEL}`, values past \
                 [reports] max_label_values (the most common are kept) as `{OTHER_LABEL}`"
            )),
            _ => {}
        }
        Ok(Report {
            from: format_instant(query.from_ms),
            to: format_instant(query.to_ms),
            step: query.step.name().to_owned(),
            group_by: match &query.group_by {
                GroupBy::Label(k) => format!("label:{k}"),
                other => other.dimension(),
            },
            rows,
            totals,
            notes,
        })
    }

    /// The rows as CSV with [`CSV_HEADER`]; providers are joined with `;`.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(CSV_HEADER)?;
        for r in &self.rows {
            w.write_record([
                r.start.clone(),
                r.group.clone(),
                r.energy_kwh.to_string(),
                r.emissions_kgco2e.to_string(),
                r.mean_intensity_g_per_kwh
                    .map_or(String::new(), |i| i.to_string()),
                r.estimated_share.to_string(),
                r.coverage.to_string(),
                r.resource_hours.to_string(),
                r.providers.join(";"),
                r.embodied_kgco2e.to_string(),
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Whether `label:KEY` may be asked for: configured, or recorded before (then `Ok(true)`: a
/// key since removed from the config, whose history is still kept). Anything else is most
/// likely a typo (`teams` for `team`), which would otherwise answer every resource as
/// `(unset)` with zero emissions: refused, naming the keys there are.
fn check_label(
    store: &HistoryStore,
    key: &str,
    configured: Option<&[String]>,
) -> Result<bool, ReportError> {
    if configured.is_some_and(|keys| keys.iter().any(|k| k == key)) {
        return Ok(false);
    }
    let dimension = super::label_dimension(key);
    if store.oldest(Tier::Hourly, &dimension)?.is_some()
        || store.oldest(Tier::Daily, &dimension)?.is_some()
    {
        return Ok(configured.is_some());
    }
    let list = |keys: &[String]| {
        if keys.is_empty() {
            "none".to_owned()
        } else {
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    Err(ReportError::BadQuery(match configured {
        Some(keys) => format!(
            "group_by=label:{key}: `{key}` is not in [reports] label_keys (configured: {}) and \
             no history is kept for it; group by a configured key, or add `{key}` to \
             label_keys to record it from now on",
            list(keys)
        ),
        None => {
            let prefix = super::label_dimension("");
            let mut recorded: Vec<String> = Vec::new();
            for tier in [Tier::Hourly, Tier::Daily] {
                for d in store.dimensions(tier)? {
                    if let Some(k) = d.strip_prefix(&prefix)
                        && !recorded.iter().any(|r| r == k)
                    {
                        recorded.push(k.to_owned());
                    }
                }
            }
            format!(
                "group_by=label:{key}: no history is kept for label `{key}` (labels with \
                 history: {}); only keys in [reports] label_keys are recorded",
                list(&recorded)
            )
        }
    }))
}

fn coverage(hours_with_data: u32, asked: f64) -> f64 {
    if asked > 0.0 {
        (f64::from(hours_with_data) / asked).min(1.0)
    } else {
        0.0
    }
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Hourly => "hourly",
        Tier::Daily => "daily",
    }
}

/// The first bucket start of `tier` at or after `ms`.
fn ceil(ms: u64, tier: Tier) -> u64 {
    let start = tier.start(ms);
    if start == ms {
        ms
    } else {
        start.saturating_add(tier.width_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::bucket::{DAY_MS, hour_bit};

    const NOV_1: u64 = 1_793_491_200_000;

    fn b(joules: f64, grams: f64, start: u64) -> Bucket {
        Bucket {
            energy_joules: joules,
            emissions_grams: grams,
            priced_joules: joules,
            estimated_joules: joules / 4.0,
            resource_seconds: 3600.0,
            hours: hour_bit(start),
            providers: vec!["meter".into()],
            embodied_grams: grams / 2.0,
        }
    }

    fn query(from: u64, to: u64, step: Step) -> ReportQuery {
        ReportQuery {
            from_ms: from,
            to_ms: to,
            group_by: GroupBy::Project,
            step,
        }
    }

    fn ok(
        items: Vec<(u64, &str, Bucket)>,
    ) -> impl Iterator<Item = Result<(u64, String, Bucket), HistoryError>> {
        items.into_iter().map(|(s, g, b)| Ok((s, g.to_owned(), b)))
    }

    #[test]
    fn hours_become_rows_with_coverage_and_totals() {
        let items = vec![
            (NOV_1, "a/p1", b(3.6e6, 200.0, NOV_1)),
            (NOV_1, "a/p2", b(7.2e6, 100.0, NOV_1)),
            (NOV_1 + HOUR_MS, "a/p1", b(3.6e6, 300.0, NOV_1 + HOUR_MS)),
        ];
        let q = query(NOV_1, NOV_1 + 4 * HOUR_MS, Step::Hour);
        let r = Report::from_buckets(&q, Tier::Hourly, ok(items)).expect("report");
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.rows[0].start, "2026-11-01T00:00:00Z");
        assert_eq!(
            (r.rows[0].group.as_str(), r.rows[0].energy_kwh),
            ("a/p1", 1.0)
        );
        assert_eq!(r.rows[0].mean_intensity_g_per_kwh, Some(200.0));
        assert_eq!(r.rows[0].coverage, 1.0);
        assert_eq!(r.totals.energy_kwh, 4.0);
        assert_eq!(r.totals.emissions_kgco2e, 0.6);
        assert_eq!(r.totals.mean_intensity_g_per_kwh, Some(150.0));
        assert_eq!(r.totals.estimated_share, 0.25);
        // Two of the four hours asked have data.
        assert_eq!(r.totals.coverage, 0.5);
        assert_eq!(r.totals.resource_hours, 3.0);
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }

    #[test]
    fn a_month_is_the_sum_of_its_days() {
        let mut days = Vec::new();
        for d in 0..30 {
            let start = NOV_1 + d * DAY_MS;
            let mut bucket = b(1.0e6 + d as f64 * 0.1, 70.0 / 3.0 * d as f64, start);
            bucket.hours = (1 << 24) - 1 - (d as u32 % 3);
            days.push((start, "a/p1", bucket));
        }
        let q = query(NOV_1, NOV_1 + 30 * DAY_MS, Step::Day);
        let by_day = Report::from_buckets(&q, Tier::Daily, ok(days.clone())).expect("days");
        let q = query(NOV_1, NOV_1 + 30 * DAY_MS, Step::Month);
        let by_month = Report::from_buckets(&q, Tier::Daily, ok(days)).expect("month");
        assert_eq!(by_day.rows.len(), 30);
        assert_eq!(by_month.rows.len(), 1);
        let month = &by_month.rows[0];
        let sum = |f: fn(&ReportRow) -> f64| by_day.rows.iter().map(f).sum::<f64>();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
        assert!(close(month.energy_kwh, sum(|r| r.energy_kwh)));
        assert!(close(month.emissions_kgco2e, sum(|r| r.emissions_kgco2e)));
        assert!(close(month.resource_hours, sum(|r| r.resource_hours)));
        // Coverage: days 1, 4, ... miss hour 0 and days 2, 5, ... hour 1: 30 days of 24
        // hours, minus 20.
        assert!(close(month.coverage, (720.0 - 20.0) / 720.0));
        assert_eq!(month.start, "2026-11-01T00:00:00Z");
    }

    #[test]
    fn an_offset_range_counts_buckets_that_start_inside_it() {
        // 2026-11-01T00:30+00:00 to 03:30: hours 01, 02 and 03.
        let items: Vec<_> = (0..5)
            .map(|h| {
                (
                    NOV_1 + h * HOUR_MS,
                    "a/p1",
                    b(1.0, 1.0, NOV_1 + h * HOUR_MS),
                )
            })
            .filter(|(s, _, _)| *s >= NOV_1 + HOUR_MS && *s < NOV_1 + 4 * HOUR_MS)
            .collect();
        let q = query(
            NOV_1 + HOUR_MS / 2,
            NOV_1 + 3 * HOUR_MS + HOUR_MS / 2,
            Step::Hour,
        );
        let r = Report::from_buckets(&q, Tier::Hourly, ok(items)).expect("report");
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.totals.coverage, 1.0);
        assert!(r.notes[0].contains("[2026-11-01T01:00:00Z, 2026-11-01T04:00:00Z)"));
    }

    #[test]
    fn queries_are_checked() {
        let q = ReportQuery::parse(
            Some("2026-11-01T01:00:00+01:00"),
            Some("2026-12-01"),
            Some("label:team"),
            Some("month"),
            0,
        )
        .expect("valid");
        assert_eq!(q.from_ms, NOV_1);
        assert_eq!(q.group_by, GroupBy::Label("team".into()));
        for (from, to, by, step) in [
            ("2026-12-01", "2026-11-01", "account", "day"),
            ("2026-11-01", "2026-12-01", "team", "day"),
            ("2026-11-01", "2026-12-01", "label:", "day"),
            ("2026-11-01", "2026-12-01", "account", "week"),
            ("soon", "2026-12-01", "account", "day"),
        ] {
            let e = ReportQuery::parse(Some(from), Some(to), Some(by), Some(step), 0);
            assert!(
                matches!(e, Err(ReportError::BadQuery(_))),
                "{from} {to} {by} {step}"
            );
        }
        // [from, to) with from == to: empty, not malformed.
        let q = ReportQuery::parse(Some("2026-11-01"), Some("2026-11-01"), None, None, 0)
            .expect("an empty range");
        assert_eq!((q.from_ms, q.to_ms), (NOV_1, NOV_1));
        let r = Report::from_buckets(&q, Tier::Hourly, std::iter::empty()).expect("report");
        assert!(r.rows.is_empty() && r.totals.energy_kwh == 0.0);
        assert!(r.notes[0].contains("empty"), "{:?}", r.notes);
        let now = NOV_1 + 90 * 60_000;
        let q = ReportQuery::parse(None, None, None, None, now).expect("defaults");
        assert_eq!(
            (q.from_ms, q.to_ms),
            (NOV_1 + 2 * HOUR_MS - DAY_MS, NOV_1 + 2 * HOUR_MS)
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let items = vec![(NOV_1, "acme/\"web\", eu", b(3.6e6, 1.0, NOV_1))];
        let q = query(NOV_1, NOV_1 + HOUR_MS, Step::Hour);
        let r = Report::from_buckets(&q, Tier::Hourly, ok(items)).expect("report");
        let csv = r.to_csv().expect("csv");
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
        assert_eq!(
            lines.next(),
            Some("2026-11-01T00:00:00Z,\"acme/\"\"web\"\", eu\",1,0.001,1,0.25,1,1,meter,0.0005")
        );
    }
}
