//! The resource template: which labels of a series (or of a scrape target) name the resource
//! it belongs to. `{instance}` is replaced by the `instance` label; `{instance:host}` by that
//! label without its `:port`, so that exporters on different ports of one machine (Scaphandre
//! on 8080, node_exporter on 9100) land on the same resource.

use std::collections::BTreeMap;

/// Labels of one series or target, `__name__` included when there is one.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Label { name: String, host_only: bool },
}

/// A parsed `resource_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; the error says what is wrong, for a `BadConfig`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("`{text}` has a `{{` without its `}}`"))?;
            let inner = &after[..close];
            let (name, modifier) = match inner.split_once(':') {
                Some((name, modifier)) => (name, Some(modifier)),
                None => (inner, None),
            };
            if !is_label_name(name) {
                return Err(format!(
                    "`{{{inner}}}` in `{text}` is not a label name (letters, digits and `_`, \
                     not starting with a digit)"
                ));
            }
            let host_only = match modifier {
                None => false,
                Some("host") => true,
                Some(other) => {
                    return Err(format!(
                        "`{{{inner}}}` in `{text}`: the only modifier is `:host` (drops the \
                         port), not `:{other}`"
                    ));
                }
            };
            parts.push(Part::Label {
                name: name.to_owned(),
                host_only,
            });
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("`{text}` has a `}}` without its `{{`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Label { .. })) {
            return Err(format!(
                "`{text}` names no label: every series would map to the same resource; \
                 write for example `{{instance}}`"
            ));
        }
        Ok(Template { parts })
    }

    /// The key of the resource `labels` belong to; `None` when a label it names is missing.
    pub fn render(&self, labels: &Labels) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Label { name, host_only } => {
                    let value = labels.get(name)?;
                    out.push_str(if *host_only { strip_port(value) } else { value });
                }
            }
        }
        Some(out)
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `host:port` → `host`, `[::1]:9100` → `[::1]`; a value without a port is kept whole.
fn strip_port(value: &str) -> &str {
    if value.starts_with('[') {
        return match value.find(']') {
            Some(end) => &value[..=end],
            None => value,
        };
    }
    match value.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address, which has no port.
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn renders_labels_and_text() {
        let t = Template::parse("{job}/{instance}").expect("ok");
        let l = labels(&[("job", "node"), ("instance", "10.0.0.5:9100")]);
        assert_eq!(t.render(&l).as_deref(), Some("node/10.0.0.5:9100"));
        let t = Template::parse("{instance:host}").expect("ok");
        assert_eq!(t.render(&l).as_deref(), Some("10.0.0.5"));
        assert_eq!(t.render(&labels(&[("job", "x")])), None);
    }

    #[test]
    fn strips_ports_only() {
        assert_eq!(strip_port("[::1]:9100"), "[::1]");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
        assert_eq!(strip_port("worker-1"), "worker-1");
        assert_eq!(strip_port("worker-1:8080"), "worker-1");
    }

    #[test]
    fn refuses_bad_templates() {
        for bad in [
            "{instance",
            "instance}",
            "{1x}",
            "{instance:port}",
            "plain",
            "{}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
