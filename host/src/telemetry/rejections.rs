//! What the boundary checks refused, per provider instance, for `/api/v1/status`: the
//! Prometheus counter counts per plugin (`carbonaut_plugin_rejected_items_total`), but an
//! operator looking at one provider wants to see that its answers are being refused, and why,
//! without correlating plugin names.

use carbonaut_model::sync::lock;
use std::collections::BTreeMap;
use std::sync::Mutex;

use carbonaut_plugins::Rejections;

/// One provider instance's refused items since the host started.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ProviderRejections {
    /// Items (or fields) refused, all reasons.
    pub items: u64,
    /// Items refused per reason (`power`, `timestamp-past`, ... as in docs/plugin-authors.md).
    pub by_reason: BTreeMap<String, u64>,
    /// When the latest answer with a refused item came back, ms since the Unix epoch.
    pub last_at_ms: Option<u64>,
    /// The latest refusal: its reason and an example of what was refused (escaped, capped).
    pub last: Option<String>,
}

#[derive(Default)]
pub struct RejectionsByProvider {
    inner: Mutex<BTreeMap<String, ProviderRejections>>,
}

impl RejectionsByProvider {
    pub fn record(&self, provider: &str, rejections: &Rejections, now_ms: u64) {
        if rejections.is_empty() {
            return;
        }
        let mut inner = lock(&self.inner);
        let entry = inner.entry(provider.to_owned()).or_default();
        for (reason, (count, example)) in &rejections.by_reason {
            entry.items += count;
            *entry
                .by_reason
                .entry(reason.as_str().to_owned())
                .or_default() += count;
            entry.last = Some(format!("{}: {example}", reason.as_str()));
        }
        entry.last_at_ms = Some(now_ms);
    }

    /// `provider`'s refusals; all zero when none were refused.
    pub fn of(&self, provider: &str) -> ProviderRejections {
        lock(&self.inner).get(provider).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_plugins::Reason;

    #[test]
    fn refusals_add_up_per_provider_and_reason() {
        let log = RejectionsByProvider::default();
        let mut answer = Rejections::default();
        answer.add(Reason::Power, || "NaN W".into());
        answer.add(Reason::Power, || "unused".into());
        log.record("meter", &answer, 1_000);
        log.record("meter", &Rejections::default(), 2_000);
        log.record("meter", &answer, 3_000);
        let seen = log.of("meter");
        assert_eq!(seen.items, 4);
        assert_eq!(seen.by_reason, BTreeMap::from([("power".to_owned(), 4)]));
        assert_eq!(
            seen.last_at_ms,
            Some(3_000),
            "an empty answer is no refusal"
        );
        assert_eq!(seen.last.as_deref(), Some("power: NaN W"));
        assert_eq!(log.of("other"), ProviderRejections::default());
    }
}
