//! How every log record's fields are written: the one place that makes outside text safe in
//! the log, so no call site has to remember to. Escaping field by field had missed a JWT
//! header, a certificate subject and a path; here a field value cannot end the line (control
//! characters and line separators are escaped, in the message too) nor pass for another field
//! (a value with a space, a quote or an escape is written quoted).
//!
//! Values that need nothing stay as before: `status=401`, `path="/x"` (a `?` field already
//! quoted by its `Debug`), `account=acme`.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use super::{has_control, needs_escape, push_escaped, quote};

/// The field formatter of the daemon's log (`fmt().fmt_fields(LogFields)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFields;

impl<'writer> FormatFields<'writer> for LogFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn separate(&mut self) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        Ok(())
    }

    fn message(&mut self, text: &str) {
        self.result = self.result.and_then(|()| {
            self.separate()?;
            if !has_control(text) {
                return self.writer.write_str(text);
            }
            let mut out = String::with_capacity(text.len() + 8);
            text.chars().for_each(|c| push_escaped(&mut out, c));
            self.writer.write_str(&out)
        });
    }

    /// `name=value`, the value as is when it is one safe token or already a well-formed
    /// quoted string, else quoted.
    fn field(&mut self, field: &Field, value: &str, always_quote: bool) {
        let name = field.name();
        // tracing-log's metadata fields, which the default formatter leaves out too.
        if name.starts_with("log.") {
            return;
        }
        self.result = self.result.and_then(|()| {
            self.separate()?;
            write!(self.writer, "{}=", name.trim_start_matches("r#"))?;
            if !always_quote && (is_token(value) || is_quoted(value)) {
                self.writer.write_str(value)
            } else {
                self.writer.write_str(&quote(value))
            }
        });
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message(value);
        } else {
            // As the default formatter writes a string: always quoted.
            self.field(field, value, true);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message(&text);
        } else {
            self.field(field, &text, false);
        }
    }
}

/// One token a reader cannot split: no space, quote, backslash or escape-worthy character.
fn is_token(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || needs_escape(c))
}

/// A string literal as `Debug` writes one: quoted, every inner quote backslashed, nothing
/// that needs escaping.
fn is_quoted(value: &str) -> bool {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            // A backslash escapes what follows; one at the very end escapes the closing quote.
            '\\' if chars.next().is_none() => return false,
            '\\' => {}
            '"' => return false,
            c if needs_escape(c) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// What `log` writes through a subscriber using [`LogFields`], without time or target.
    fn logged(log: impl FnOnce()) -> String {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(LogFields)
            .without_time()
            .with_target(false)
            .with_ansi(false)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = out.0.lock().expect("lock").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn no_field_can_start_a_record_or_pass_for_another_field() {
        let forged =
            "x\n2026-01-01T00:00:00Z  INFO carbonaut: change requested caller=\"token:ops\"";
        let line = logged(|| {
            tracing::warn!(reason = %forged, shown = ?forged, plain = forged, "refused");
        });
        assert_eq!(line.lines().count(), 1, "{line}");
        let escaped =
            r#"x\n2026-01-01T00:00:00Z  INFO carbonaut: change requested caller=\"token:ops\""#;
        assert_eq!(
            line.trim_end(),
            format!(r#" WARN refused reason="{escaped}" shown="{escaped}" plain="{escaped}""#)
        );
    }

    #[test]
    fn safe_values_are_written_as_before() {
        let line = logged(|| {
            tracing::info!(status = 401, account = %"acme", path = ?"/api/v1/x", ok = true, "done");
        });
        assert_eq!(
            line.trim_end(),
            r#" INFO done status=401 account=acme path="/api/v1/x" ok=true"#
        );
    }

    #[test]
    fn escapes_and_separators_are_escaped_in_the_message_too() {
        let line = logged(|| tracing::info!("a\u{1b}[2Jb\u{2028}c\rd"));
        assert_eq!(line.trim_end(), r" INFO a\u{1b}[2Jb\u{2028}c\rd");
    }

    #[test]
    fn only_well_formed_literals_pass_as_quoted() {
        assert!(is_quoted(r#""a \"b\" \\""#));
        assert!(!is_quoted(r#""a" k="b""#));
        assert!(!is_quoted(r#""a\""#));
        assert!(!is_quoted("\"a\nb\""));
        assert!(is_token("/api/v1/x"));
        assert!(!is_token("a b"));
        assert!(!is_token(""));
    }
}
