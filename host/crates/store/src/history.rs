//! History: rollups kept by carbonaut itself, so an operator without Prometheus can ask how
//! much a project used and emitted over a month, and how much of it was estimated.
//!
//! The collector hands every advanced sample to the [`Recorder`], which adds it to hourly and
//! daily buckets per account, project, grid location and configured label value, and to an
//! hourly bucket per resource; `store` keeps them in the state database's `history` tree and
//! prunes what is past retention (`[reports]`). A [`Report`] reads them back for
//! `GET /api/v1/report` and `carbonaut report`. `bucket` is the pure maths (splitting an
//! interval over hours, energy priced late, keys, encoding); `report` groups buckets into
//! rows; `instant` parses and prints the UTC instants reports speak in.

mod bucket;
mod instant;
mod policy;
mod recorder;
mod report;
mod store;

pub use bucket::{Bucket, DAY_MS, HOUR_MS, Tier, key as bucket_key};
pub use instant::{InstantError, format_instant, parse_instant};
pub use policy::ReportsConfig;
pub use recorder::{Advance, Embodied, HistoryWrite, OTHER_LABEL, Recorder, UNSET_LABEL};
pub use report::{GroupBy, Report, ReportError, ReportQuery, ReportRow, ReportTotals, Step};
pub use store::{HistoryError, HistoryStore};

/// The dimensions buckets are kept for; labels are `label:KEY`.
pub const ACCOUNT: &str = "account";
pub const PROJECT: &str = "project";
pub const LOCATION: &str = "location";
/// Hourly tier only.
pub const RESOURCE: &str = "resource";

pub fn label_dimension(key: &str) -> String {
    format!("label:{key}")
}

/// Project ids are unique within an account only, so a project's group names both.
pub fn project_group(account: &str, project: &str) -> String {
    format!("{account}/{project}")
}
