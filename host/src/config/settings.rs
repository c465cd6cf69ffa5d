//! Settings of a provider or an account: ordered key/values as plugins receive them, each
//! flagged secret when its value came from the environment, so it is never logged or served.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings {
    entries: BTreeMap<String, Setting>,
}

#[derive(Clone, PartialEq, Eq)]
struct Setting {
    value: String,
    secret: bool,
    /// What its `${...}` references resolved to.
    resolved: Vec<String>,
}

impl Settings {
    /// The key/values a plugin receives, secrets resolved, in key order.
    pub fn to_wit(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }

    pub fn keys(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Whether `key`'s value came from `${...}` and must not be shown.
    pub fn is_secret(&self, key: &str) -> bool {
        self.entries.get(key).is_some_and(|s| s.secret)
    }

    /// Every secret value: each secret setting whole, and what each of its references
    /// resolved to (empty ones left out).
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.entries
            .values()
            .filter(|s| s.secret)
            .flat_map(|s| std::iter::once(&s.value).chain(&s.resolved))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|s| s.value.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    fn insert(&mut self, key: String, value: String, secret: bool) {
        self.insert_resolved(key, value, secret, Vec::new());
    }

    /// A setting whose `${...}` references resolved to `resolved`.
    pub(super) fn insert_resolved(
        &mut self,
        key: String,
        value: String,
        secret: bool,
        resolved: Vec<String>,
    ) {
        self.entries.insert(
            key,
            Setting {
                value,
                secret,
                resolved,
            },
        );
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, s)| {
                let value: &dyn fmt::Debug = if s.secret { &Redacted } else { &s.value };
                (k, value)
            }))
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret_values_only() {
        let mut settings = Settings::default();
        settings.insert("token".into(), "hunter2".into(), true);
        settings.insert("projects".into(), "3".into(), false);
        assert_eq!(
            format!("{settings:?}"),
            r#"{"projects": "3", "token": ***}"#
        );
        assert!(!format!("{settings:#?}").contains("hunter2"));
        assert!(settings.is_secret("token"));
        assert!(!settings.is_secret("projects"));
        assert!(!settings.is_secret("absent"));
    }

    #[test]
    fn secret_values_are_the_whole_values_and_their_resolved_parts() {
        let mut settings = Settings::default();
        settings.insert_resolved(
            "auth".into(),
            "Bearer hunter2".into(),
            true,
            vec!["hunter2".into()],
        );
        settings.insert_resolved("empty".into(), String::new(), true, vec![String::new()]);
        settings.insert("projects".into(), "3".into(), false);
        let values: Vec<&str> = settings.secret_values().collect();
        assert_eq!(values, ["Bearer hunter2", "hunter2"]);
    }

    #[test]
    fn plugins_receive_resolved_values_in_key_order() {
        let mut settings = Settings::default();
        settings.insert("b".into(), "2".into(), false);
        settings.insert("a".into(), "secret".into(), true);
        assert_eq!(
            settings.to_wit(),
            vec![("a".into(), "secret".into()), ("b".into(), "2".into())]
        );
        assert_eq!(settings.keys(), vec!["a", "b"]);
    }
}
