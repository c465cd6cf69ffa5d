//! The secrets a provider's plugin is given (values resolved from `${ENV}` references), and
//! the forms a plugin could echo them in: as given, URL-encoded (`%XX`, either case, and `+`
//! for a space) and base64 (standard and URL-safe, whole or inside a longer encoding). What a
//! plugin says (its errors, its log lines) is scrubbed of all of them before the host stores,
//! serves or logs it: a plugin that writes "got `…`, expected a number" must not publish a
//! token.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// What a scrubbed secret is replaced with (as `Settings`' `Debug` writes a secret).
pub const REDACTED: &str = "***";

/// Base64 forms shorter than this are not scrubbed: a two-byte secret's inner base64 is a
/// couple of characters that would match everywhere.
const MIN_ENCODED_CHARS: usize = 6;

/// Patterns to scrub, longest first. Cheap to clone (shared); `Debug` names no value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Option<Arc<[String]>>);

impl Secrets {
    /// No secrets: scrubbing returns the text unchanged.
    pub const NONE: Secrets = Secrets(None);

    /// The patterns for `values` (empty values are skipped).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Secrets {
        let mut patterns: Vec<String> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .flat_map(forms)
            .collect();
        if patterns.is_empty() {
            return Secrets::NONE;
        }
        // Longest first, so a whole encoding goes before the shorter forms inside it.
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Secrets(Some(patterns.into()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(patterns) = &self.0 else {
            return Cow::Borrowed(text);
        };
        let mut out = Cow::Borrowed(text);
        for pattern in patterns.iter() {
            if out.contains(pattern.as_str()) {
                out = Cow::Owned(out.replace(pattern.as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Secrets::scrub`] of an owned string, allocating only when something is replaced.
    pub fn scrub_owned(&self, text: String) -> String {
        match self.scrub(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(scrubbed) => scrubbed,
        }
    }

    /// `text` scrubbed and cut to at most `max_bytes`, with ` … (cut from N bytes)` when
    /// it was cut. Scrubbed before the cut, which could otherwise leave half a secret; only
    /// as much is scrubbed as can be kept (`max_bytes` plus the longest pattern, so a secret
    /// starting within is whole), so a huge text costs no more than a short one.
    pub fn scrub_within(&self, text: &str, max_bytes: usize) -> String {
        let bound = super::cut(text, max_bytes.saturating_add(self.longest()));
        let scrubbed = self.scrub(bound);
        let kept = super::cut(&scrubbed, max_bytes);
        if kept.len() < scrubbed.len() || bound.len() < text.len() {
            format!("{kept}… (cut from {} bytes)", text.len())
        } else {
            kept.to_owned()
        }
    }

    fn longest(&self) -> usize {
        self.0
            .as_ref()
            .and_then(|p| p.first())
            .map_or(0, String::len)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.as_ref().map_or(0, |p| p.len());
        write!(f, "Secrets({count} patterns)")
    }
}

/// The forms of one secret a plugin's text could carry.
fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_owned(),
        percent_encoded(secret, false, true),
        percent_encoded(secret, false, false),
        percent_encoded(secret, true, true),
    ];
    for engine in [&STANDARD, &URL_SAFE] {
        out.push(engine.encode(secret));
        // Inside a longer encoding (`user:secret` in a Basic header) the secret starts at
        // any byte offset modulo 3; each offset gives the secret's own characters, without
        // those it shares with the bytes around it.
        for offset in 0..3usize {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let first = [0, 2, 3][offset];
            let last = (bytes.len() * 8) / 6;
            if let Some(inner) = encoded.get(first..last) {
                out.push(inner.to_owned());
            }
        }
    }
    out.retain(|form| form == secret || form.len() >= MIN_ENCODED_CHARS);
    out
}

/// `secret` percent-encoded: every byte but the unreserved ones (RFC 3986) as `%XX`, in
/// upper or lower case hex, a space as `+` when `plus` (form encoding).
fn percent_encoded(secret: &str, plus: bool, upper: bool) -> String {
    let mut out = String::with_capacity(secret.len() * 3);
    for &b in secret.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' if plus => out.push('+'),
            b if upper => out.push_str(&format!("%{b:02X}")),
            b => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t/tok+en=?";

    #[test]
    fn the_secret_and_its_encodings_are_scrubbed() {
        let secrets = Secrets::new(["", SECRET]);
        let url = "s3cr3t%2Ftok%2Ben%3D%3F";
        let basic = STANDARD.encode(format!("user:{SECRET}"));
        let said = format!(
            "got `{SECRET}`; url {url} lower {} b64 {} urlsafe {} basic {basic} nopad {}",
            url.to_lowercase(),
            STANDARD.encode(SECRET),
            URL_SAFE.encode(SECRET),
            STANDARD.encode(SECRET).trim_end_matches('=')
        );
        let clean = secrets.scrub(&said);
        assert!(!clean.contains(SECRET), "{clean}");
        assert!(
            !clean.to_lowercase().contains(&url.to_lowercase()),
            "{clean}"
        );
        assert!(!clean.contains(&STANDARD.encode(SECRET)[..16]), "{clean}");
        assert!(!clean.contains(&URL_SAFE.encode(SECRET)[..16]), "{clean}");
        // The Basic header keeps `user:`'s own characters at most.
        assert!(!clean.contains(&basic[8..20]), "{clean}");
        assert!(
            clean.starts_with("got `***`; url *** lower *** b64 *** urlsafe"),
            "{clean}"
        );
    }

    #[test]
    fn an_embedded_secret_is_found_at_every_byte_offset() {
        let secrets = Secrets::new(["hunter2hunter2"]);
        for prefix in ["", "a", "ab", "abc"] {
            for suffix in ["", "z", "yz"] {
                let encoded = STANDARD.encode(format!("{prefix}hunter2hunter2{suffix}"));
                let clean = secrets.scrub(&encoded);
                assert!(clean.contains(REDACTED), "{prefix:?} {suffix:?}: {clean}");
                // What is left cannot decode to the secret.
                assert!(clean.len() < encoded.len() - 10, "{clean}");
            }
        }
    }

    #[test]
    fn text_without_secrets_is_borrowed_and_debug_names_no_value() {
        let secrets = Secrets::new(["hunter2"]);
        assert!(matches!(secrets.scrub("all fine"), Cow::Borrowed(_)));
        assert!(matches!(Secrets::NONE.scrub("hunter2"), Cow::Borrowed(_)));
        assert!(!format!("{secrets:?}").contains("hunter2"));
        assert!(Secrets::new([""]).is_empty());
        assert_eq!(secrets.longest(), STANDARD.encode("hunter2").len());
    }

    #[test]
    fn a_cut_never_leaves_part_of_a_secret() {
        let secrets = Secrets::new(["hunter2"]);
        let text = format!("{}hunter2 and more", "x".repeat(97));
        assert_eq!(
            secrets.scrub_within(&text, 100),
            format!("{}***… (cut from 113 bytes)", "x".repeat(97))
        );
        assert_eq!(secrets.scrub_within("short hunter2", 100), "short ***");
        let long = "é".repeat(3000);
        assert!(
            Secrets::NONE
                .scrub_within(&long, 101)
                .ends_with("é… (cut from 6000 bytes)")
        );
    }
}
