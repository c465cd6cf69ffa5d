//! A writer for the Prometheus text exposition format (0.0.4).
//!
//! Written by hand rather than with prometheus-client: the resource metrics are rendered once
//! per collection into one string that every scrape serves as is, and prometheus-client
//! speaks OpenMetrics, whose counter naming `promtool check metrics` flags in text format.

use std::fmt::Write as _;

#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Self {
        Exposition {
            out: String::with_capacity(bytes),
        }
    }

    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        self.value(value);
    }

    /// A sample whose label set was rendered before by [`label_set`] (a resource's labels
    /// repeat in every family: escaped once, copied after).
    pub fn sample_with(&mut self, name: &str, label_set: &str, value: f64) {
        self.out.push_str(name);
        self.out.push_str(label_set);
        self.value(value);
    }

    /// A histogram bucket: the labels plus `le`.
    pub fn bucket(&mut self, name: &str, labels: &[(&str, &str)], le: &str, value: f64) {
        self.out.push_str(name);
        self.labels(labels, Some(le));
        self.value(value);
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('}');
    }

    fn value(&mut self, value: f64) {
        self.out.push(' ');
        if value.is_nan() {
            self.out.push_str("NaN");
        } else if value.is_infinite() {
            self.out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
        } else if value.fract() == 0.0 && value.abs() < 1e15 {
            // Whole numbers (counts, flags, integral readings) print as integers, as `fmt` did.
            self.out.push_str(itoa::Buffer::new().format(value as i64));
        } else {
            // Shortest representation that parses back to the same f64, like `fmt`, faster.
            self.out.push_str(ryu::Buffer::new().format_finite(value));
        }
        self.out.push('\n');
    }
}

/// `{k="v",...}` for `labels`, escaped: what [`Exposition::sample_with`] takes.
pub fn label_set(labels: &[(&str, &str)]) -> String {
    let mut e = Exposition::with_capacity(64);
    e.labels(labels, None);
    e.out
}

fn escape_into(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_samples_and_escapes_labels() {
        let mut e = Exposition::default();
        e.family("x_total", "counter", "An example.");
        e.sample("x_total", &[("a", "q\"uo\\te\nd")], 1.5);
        e.sample("x_total", &[], 2.0);
        e.bucket("h_bucket", &[("p", "m")], "+Inf", 3.0);
        assert_eq!(
            e.finish(),
            "# HELP x_total An example.\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"uo\\\\te\\nd\"} 1.5\nx_total 2\nh_bucket{p=\"m\",le=\"+Inf\"} 3\n"
        );
    }
}
