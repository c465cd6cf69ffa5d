//! One reading of one time series, whether it came from the query API or from an exporter's
//! text exposition.

use crate::template::Labels;

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `__name__` included.
    pub labels: Labels,
    pub value: f64,
    /// When the value was scraped (raw samples) or evaluated (`rate()`), ms since the epoch.
    pub at_ms: u64,
}

impl Series {
    pub fn name(&self) -> &str {
        self.labels.get("__name__").map_or("", String::as_str)
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}
