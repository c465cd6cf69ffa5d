//! A writer for the Prometheus text exposition format (0.0.4).
//!
//! Written by hand rather than with prometheus-client: the resource metrics are rendered once
//! per collection into one string that every scrape serves as is, and prometheus-client
//! speaks OpenMetrics, whose counter naming `promtool check metrics` flags in text format.

use std::fmt::Write as _;

pub mod gzip;

use gzip::{DeflateWriter, Deflated};

/// Text kept before it is handed to the compressor, in gzip mode.
const SPILL_BYTES: usize = 64 << 10;

#[derive(Default)]
pub struct Exposition {
    out: String,
    /// In gzip mode, where `out` goes once it holds [`SPILL_BYTES`].
    sink: Option<DeflateWriter>,
    /// In gzip mode, the sections ended so far ([`Exposition::end_section`]).
    sections: Vec<Deflated>,
    spill_error: Option<std::io::Error>,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Self {
        Exposition {
            out: String::with_capacity(bytes),
            ..Exposition::default()
        }
    }

    /// Compresses as it goes ([`Exposition::finish_sections`]); `compressed_bytes` sizes the
    /// output buffer.
    pub fn gzip(compressed_bytes: usize) -> Self {
        Exposition {
            out: String::with_capacity(SPILL_BYTES + 4096),
            sink: Some(DeflateWriter::new(compressed_bytes)),
            ..Exposition::default()
        }
    }

    /// In gzip mode, ends a section: what was written since the last one becomes a segment
    /// of its own, so sections rendered apart can be put in order afterwards. No-op for text.
    pub fn end_section(&mut self) {
        let Some(sink) = &mut self.sink else {
            return;
        };
        let cut = sink.write(self.out.as_bytes()).and_then(|()| sink.cut());
        self.out.clear();
        match cut {
            Ok(section) => self.sections.push(section),
            Err(error) => {
                self.spill_error.get_or_insert(error);
            }
        }
    }

    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self.spill();
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.labels(labels, None);
        self.value(value);
        self.spill();
    }

    /// A sample whose label set was rendered before by [`push_label_set`] (a resource's labels
    /// repeat in every family: escaped once, copied after).
    pub fn sample_with(&mut self, name: &str, label_set: &str, value: f64) {
        self.out.push_str(name);
        self.out.push_str(label_set);
        self.value(value);
        self.spill();
    }

    /// A histogram bucket: the labels plus `le`.
    pub fn bucket(&mut self, name: &str, labels: &[(&str, &str)], le: &str, value: f64) {
        self.out.push_str(name);
        self.labels(labels, Some(le));
        self.value(value);
    }

    /// The text. Only for an exposition made without [`Exposition::gzip`].
    pub fn finish(self) -> String {
        debug_assert!(
            self.sink.is_none(),
            "a gzip exposition ends with finish_sections"
        );
        self.out
    }

    /// The sections of an exposition made with [`Exposition::gzip`], the text after the last
    /// [`Exposition::end_section`] as one more.
    pub fn finish_sections(mut self) -> std::io::Result<Vec<Deflated>> {
        if !self.out.is_empty() {
            self.end_section();
        }
        match self.spill_error {
            Some(error) => Err(error),
            None => Ok(self.sections),
        }
    }

    fn spill(&mut self) {
        if self.out.len() < SPILL_BYTES {
            return;
        }
        if let Some(sink) = &mut self.sink {
            if let Err(error) = sink.write(self.out.as_bytes()) {
                self.spill_error.get_or_insert(error);
            }
            self.out.clear();
        }
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        push_labels(&mut self.out, labels, le);
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

/// Appends `{k="v",...}` for `labels`, escaped, to `out`: what [`Exposition::sample_with`]
/// takes. Many label sets can share one string (no allocation per resource).
pub fn push_label_set(out: &mut String, labels: &[(&str, &str)]) {
    push_labels(out, labels, None);
}

fn push_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v);
        out.push('"');
    }
    out.push('}');
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
    fn the_gzip_mode_compresses_exactly_the_text_mode() {
        use super::gzip::GzipPrefix;
        let fill = |e: &mut Exposition| {
            e.family("x_total", "counter", "An example.");
            for i in 0..20_000 {
                e.sample("x_total", &[("resource", &format!("r{i}"))], i as f64 * 0.5);
            }
        };
        let mut text = Exposition::default();
        fill(&mut text);
        let text = text.finish();
        let mut zipped = Exposition::gzip(1024);
        fill(&mut zipped);
        let prefix = GzipPrefix::join(zipped.finish_sections().expect("compressed"));
        assert!(text.len() > 4 * SPILL_BYTES, "spilled several times");
        assert_eq!(prefix.inflate().expect("valid gzip"), text.as_bytes());
    }

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
