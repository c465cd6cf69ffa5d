//! Untrusted text (what a plugin says, what a caller sends) made safe to log and to serve:
//! control characters escaped so it cannot start a new log record or move a terminal's cursor,
//! and length capped so a message cannot flood the log. [`LogFields`] applies the same escaping
//! to every field of every log record, whoever wrote the call; [`Secrets`] takes resolved
//! secrets out of what plugins say.

mod log_fields;
mod secrets;

pub use log_fields::LogFields;
pub use secrets::Secrets;

/// Whether `c` is written as an escape: control characters (newlines, ESC, NUL, DEL, C1), and
/// the Unicode line and paragraph separators and bidirectional overrides, which some log
/// viewers and terminals treat as a line break or use to reorder what is shown.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character [`needs_escape`] names written as an escape (`\n`, `\u{1b}`),
/// cut to at most `max_bytes` of the original plus a marker saying how much
/// was cut.
pub fn escape(text: &str, max_bytes: usize) -> String {
    let kept = cut(text, max_bytes);
    let dropped = &text[kept.len()..];
    let mut out = String::with_capacity(kept.len() + 16);
    for c in kept.chars() {
        push_escaped(&mut out, c);
    }
    if !dropped.is_empty() {
        out.push_str(&format!("… ({} more bytes)", dropped.len()));
    }
    out
}

/// The longest start of `text` of at most `max_bytes` that ends on a character boundary.
pub fn cut(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Appends `c` to `out`, as an escape when [`needs_escape`] says so.
pub(crate) fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if needs_escape(c) => out.extend(c.escape_unicode()),
        c => out.push(c),
    }
}

/// `text` in double quotes, `"` and `\` backslashed and the rest escaped as [`escape`] does,
/// so it reads as one value wherever it stands in a log line.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => push_escaped(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Whether `text` holds a character [`escape`] would rewrite.
pub fn has_control(text: &str) -> bool {
    text.chars().any(needs_escape)
}

/// Escapes `text` in place, only when it needs it (the common case allocates nothing).
pub fn escape_in_place(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes || has_control(text) {
        *text = escape(text, max_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_a_log_record() {
        let forged = "ok\n2026-11-29T00:00:00Z ERROR carbonaut: fake\x1b[2J\0";
        let safe = escape(forged, 1024);
        assert!(!has_control(&safe), "{safe:?}");
        assert_eq!(
            safe,
            "ok\\n2026-11-29T00:00:00Z ERROR carbonaut: fake\\u{1b}[2J\\u{0}"
        );
    }

    #[test]
    fn line_separators_and_bidi_overrides_are_escaped_too() {
        let safe = escape("a\u{2028}b\u{202e}c\u{85}d", 100);
        assert_eq!(safe, "a\\u{2028}b\\u{202e}c\\u{85}d");
        assert!(!has_control(&safe));
    }

    #[test]
    fn quoted_text_is_one_value() {
        assert_eq!(quote(r#"x" k="v\"#), r#""x\" k=\"v\\""#);
        assert_eq!(quote("a\nb"), r#""a\nb""#);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_so() {
        let long = "é".repeat(1000); // 2000 bytes
        let safe = escape(&long, 101);
        assert!(safe.starts_with(&"é".repeat(50)));
        assert!(safe.ends_with("… (1900 more bytes)"), "{safe}");
        let mut s = "fine".to_owned();
        escape_in_place(&mut s, 10);
        assert_eq!(s, "fine");
    }
}
