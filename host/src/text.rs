//! Untrusted text (what a plugin says: log lines, error messages, names) made safe to log and
//! to serve: control characters escaped so a plugin cannot start a new log record or move a
//! terminal's cursor, and length capped so a message cannot flood the log.

/// `text` with every control character (newlines, ESC, NUL, DEL, C1) written as an escape
/// (`\n`, `\u{1b}`), cut to at most `max_bytes` of the original plus a marker saying how much
/// was cut.
pub fn escape(text: &str, max_bytes: usize) -> String {
    let mut cut = text.len().min(max_bytes);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let (kept, dropped) = text.split_at(cut);
    let mut out = String::with_capacity(kept.len() + 16);
    for c in kept.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    if !dropped.is_empty() {
        out.push_str(&format!("… ({} more bytes)", dropped.len()));
    }
    out
}

/// Whether `text` holds a control character.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
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
