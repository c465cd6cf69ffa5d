//! What a plugin asks for (its metadata's `needs`), checked at load time, and what it gets:
//! the intersection of that with what the operator configured for a provider instance.

use std::path::{Path, PathBuf};

use carbonaut_model::CapabilityNeeds;
use carbonaut_runtime::Grants;
use carbonaut_runtime::http::{HttpNeed, HttpOrigin, OriginError, grant_http};

/// A plugin's declared needs, parsed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Needs {
    /// Origins (`https://api.example.com`), or `*` for whatever the operator allows.
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "serialize_http")]
    pub http: Vec<HttpNeed>,
    /// Guest paths the plugin reads.
    pub read_only_dirs: Vec<String>,
    pub key_value: bool,
}

/// What the operator configured for one provider instance, before intersecting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    pub read_only_dirs: Vec<(PathBuf, String)>,
    pub http: Vec<HttpOrigin>,
    pub key_value: bool,
}

/// Needs a plugin's metadata declares that make no sense: the author's bug.
#[derive(Debug, thiserror::Error)]
pub enum NeedsError {
    #[error("its metadata's needs.http: {0}")]
    Http(#[from] OriginError),
    #[error(
        "its metadata's needs.read-only-dirs has `{0}`: write an absolute guest path without \
         `..`, like `/sys/class/powercap`"
    )]
    Dir(String),
}

impl Needs {
    /// Parses the metadata's needs.
    pub fn parse(raw: &CapabilityNeeds) -> Result<Needs, NeedsError> {
        let http = raw
            .http
            .iter()
            .map(|h| h.parse::<HttpNeed>())
            .collect::<Result<Vec<_>, OriginError>>()?;
        let mut read_only_dirs = Vec::new();
        for dir in &raw.read_only_dirs {
            let clean = dir.trim_end_matches('/');
            if !dir.starts_with('/') || clean.split('/').any(|part| part == "..") {
                return Err(NeedsError::Dir(dir.clone()));
            }
            read_only_dirs.push(if clean.is_empty() {
                "/".to_owned()
            } else {
                clean.to_owned()
            });
        }
        Ok(Needs {
            http,
            read_only_dirs,
            key_value: raw.key_value,
        })
    }

    /// The HTTP needs as written: origins, or `*`.
    pub fn http_origins(&self) -> Vec<String> {
        self.http.iter().map(ToString::to_string).collect()
    }

    /// The grants of a provider instance: what was offered and asked for. The second value
    /// lists what was offered but not asked for, so the operator can be told it is unused.
    pub fn grant(&self, offered: &Offered, provider: &str) -> (Grants, Vec<String>) {
        let mut unused = Vec::new();
        let http = grant_http(&offered.http, &self.http);
        for origin in &offered.http {
            if !http.contains(origin) {
                unused.push(format!("allow_http `{origin}`"));
            }
        }
        let mut read_only_dirs = Vec::new();
        for (host, guest) in &offered.read_only_dirs {
            let before = read_only_dirs.len();
            for need in &self.read_only_dirs {
                grant_dir(host, guest, need, &mut read_only_dirs);
            }
            if read_only_dirs.len() == before {
                unused.push(format!("read_only_dirs `{guest}`"));
            }
        }
        read_only_dirs.dedup();
        let key_value = offered.key_value && self.key_value;
        if offered.key_value && !self.key_value {
            unused.push("key_value".to_owned());
        }
        let grants = Grants {
            read_only_dirs,
            http,
            http_offered: offered.http.clone(),
            tls_roots: None,
            key_value: key_value.then(|| provider.to_owned()),
            limits: None,
            secrets: carbonaut_model::text::Secrets::NONE,
        };
        (grants, unused)
    }

    /// What the plugin asks for that `offered` does not give, one sentence each, so the
    /// operator hears of it before a call is refused.
    pub fn not_granted(&self, offered: &Offered, provider: &str) -> Vec<String> {
        let (grants, _) = self.grant(offered, provider);
        let mut missing = Vec::new();
        for need in &self.http {
            if grant_http(&offered.http, std::slice::from_ref(need)).is_empty() {
                missing.push(match need {
                    HttpNeed::Any => "the plugin asks for HTTP to origins the operator chooses \
                                      (needs.http `*`), but allow_http is empty"
                        .to_owned(),
                    HttpNeed::Origin(origin) => format!(
                        "the plugin asks for HTTP to `{origin}` (needs.http), but allow_http \
                         does not allow it"
                    ),
                });
            }
        }
        for dir in &self.read_only_dirs {
            if !grants
                .read_only_dirs
                .iter()
                .any(|(_, guest)| is_within(dir, guest) || is_within(guest, dir))
            {
                missing.push(format!(
                    "the plugin asks to read `{dir}` (needs.read-only-dirs), but read_only_dirs \
                     does not grant it"
                ));
            }
        }
        if self.key_value && !offered.key_value {
            missing.push(
                "the plugin asks for the key-value store (needs.key-value), but key_value is not \
                 true"
                    .to_owned(),
            );
        }
        missing
    }
}

/// Why requests to `refused` (origins as `scheme://host:port`) were refused, naming the side
/// that lacks each: the plugin's `needs.http` (its author adds it), the operator's
/// `allow_http` in `offered` (the operator adds it), or both.
pub fn refused_http(refused: &[String], offered: &[HttpOrigin], needs: &Needs) -> String {
    let sides: Vec<String> = refused
        .iter()
        .map(|text| {
            let Ok(origin) = text.parse::<HttpOrigin>() else {
                return text.clone();
            };
            let allowed = offered.iter().any(|o| o.covers(&origin));
            let asked = needs.http.iter().any(|need| match need {
                HttpNeed::Any => true,
                HttpNeed::Origin(asked) => asked.covers(&origin),
            });
            let why = match (asked, allowed) {
                (false, true) => {
                    "in the provider's allow_http, but not in the plugin's needs.http: the \
                     plugin's author declares it (an operator cannot grant more than a plugin \
                     asks for)"
                }
                (true, false) => {
                    "in the plugin's needs.http, but not in the provider's allow_http: the \
                     operator adds it there"
                }
                (false, false) => {
                    "neither in the plugin's needs.http nor in the provider's allow_http: both \
                     must list it"
                }
                (true, true) => "asked for and allowed, but not in the same form",
            };
            format!("{text} ({why})")
        })
        .collect();
    format!("HTTP to {}", sides.join("; "))
}

/// Grants the part of `host` (seen at `guest`) that `need` covers, if any: all of it when the
/// need is the directory or one of its parents, the sub-directory when the need is under it.
fn grant_dir(host: &Path, guest: &str, need: &str, out: &mut Vec<(PathBuf, String)>) {
    let guest = guest.trim_end_matches('/');
    if is_within(guest, need) {
        out.push((host.to_owned(), guest.to_owned()));
    } else if is_within(need, guest) {
        let rest = need[guest.len()..].trim_start_matches('/');
        let sub = host.join(rest);
        // A narrower directory that does not exist on this machine (no powercap in a VM) is
        // what the plugin would see anyway: absent, not an error for every call.
        if sub.is_dir() {
            out.push((sub, need.to_owned()));
        }
    }
}

/// Whether `path` is `dir` or below it.
fn is_within(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

fn serialize_http<S: serde::Serializer>(needs: &[HttpNeed], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(needs.iter().map(ToString::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(http: &[&str], dirs: &[&str], key_value: bool) -> Needs {
        Needs::parse(&CapabilityNeeds {
            http: http.iter().map(|s| s.to_string()).collect(),
            read_only_dirs: dirs.iter().map(|s| s.to_string()).collect(),
            key_value,
        })
        .expect("needs")
    }

    #[test]
    fn what_is_asked_and_not_offered_is_listed() {
        let asked = needs(&["https://api.example.com", "*"], &["/proc"], true);
        let offered = Offered::default();
        assert_eq!(
            asked.not_granted(&offered, "p"),
            [
                "the plugin asks for HTTP to `https://api.example.com` (needs.http), but \
                 allow_http does not allow it",
                "the plugin asks for HTTP to origins the operator chooses (needs.http `*`), but \
                 allow_http is empty",
                "the plugin asks to read `/proc` (needs.read-only-dirs), but read_only_dirs does \
                 not grant it",
                "the plugin asks for the key-value store (needs.key-value), but key_value is not \
                 true",
            ]
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let offered = Offered {
            read_only_dirs: vec![(tmp.path().to_owned(), "/proc".into())],
            http: vec!["https://api.example.com".parse().expect("origin")],
            key_value: true,
        };
        assert!(asked.not_granted(&offered, "p").is_empty());
    }

    #[test]
    fn a_refused_origin_names_the_side_that_lacks_it() {
        let offered: Vec<HttpOrigin> = vec![
            "https://operator.example.com".parse().expect("origin"),
            "https://both.example.com".parse().expect("origin"),
        ];
        let plugin = needs(
            &["https://plugin.example.com", "https://both.example.com"],
            &[],
            false,
        );
        let refused = |origin: &str| refused_http(&[origin.to_owned()], &offered, &plugin);
        assert_eq!(
            refused("https://operator.example.com:443"),
            "HTTP to https://operator.example.com:443 (in the provider's allow_http, but not in \
             the plugin's needs.http: the plugin's author declares it (an operator cannot grant \
             more than a plugin asks for))"
        );
        assert_eq!(
            refused("https://plugin.example.com:443"),
            "HTTP to https://plugin.example.com:443 (in the plugin's needs.http, but not in the \
             provider's allow_http: the operator adds it there)"
        );
        assert_eq!(
            refused("http://127.0.0.1:9"),
            "HTTP to http://127.0.0.1:9 (neither in the plugin's needs.http nor in the \
             provider's allow_http: both must list it)"
        );
        // `*` asks for whatever the operator allows: only the operator's side can lack it.
        let any = needs(&["*"], &[], false);
        assert!(
            refused_http(&["http://127.0.0.1:9".into()], &offered, &any)
                .ends_with("the operator adds it there)")
        );
    }

    #[test]
    fn bad_needs_are_refused_with_the_field() {
        let bad = CapabilityNeeds {
            http: vec!["api.example.com".into()],
            read_only_dirs: vec![],
            key_value: false,
        };
        assert!(
            Needs::parse(&bad)
                .expect_err("no scheme")
                .to_string()
                .contains("needs.http")
        );
        let bad = CapabilityNeeds {
            http: vec![],
            read_only_dirs: vec!["/sys/../etc".into()],
            key_value: false,
        };
        assert!(
            Needs::parse(&bad)
                .expect_err("dotdot")
                .to_string()
                .contains("needs.read-only-dirs")
        );
    }

    #[test]
    fn nothing_is_granted_that_was_not_asked_for() {
        let offered = Offered {
            read_only_dirs: vec![(PathBuf::from("/srv/data"), "/data".into())],
            http: vec!["https://api.example.com".parse().expect("origin")],
            key_value: true,
        };
        let (grants, unused) = needs(&[], &[], false).grant(&offered, "p");
        // The offer is kept only to explain a refusal; nothing of it is granted.
        let expected = Grants {
            http_offered: offered.http.clone(),
            ..Grants::NONE
        };
        assert_eq!(grants, expected);
        assert_eq!(unused.len(), 3, "{unused:?}");
    }

    #[test]
    fn everything_asked_and_offered_is_granted() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(tmp.path().join("class/powercap")).expect("mkdir");
        let offered = Offered {
            read_only_dirs: vec![(tmp.path().to_owned(), "/sys".into())],
            http: vec!["https://api.example.com".parse().expect("origin")],
            key_value: true,
        };
        let asked = needs(&["*"], &["/sys/class/powercap", "/sys/missing"], true);
        let (grants, unused) = asked.grant(&offered, "p");
        assert!(unused.is_empty(), "{unused:?}");
        assert_eq!(grants.http, offered.http);
        assert_eq!(grants.key_value.as_deref(), Some("p"));
        // Narrowed to what the plugin asked for; the missing directory is left out.
        assert_eq!(
            grants.read_only_dirs,
            vec![(
                tmp.path().join("class/powercap"),
                "/sys/class/powercap".to_owned()
            )]
        );
        // A need above the offered directory gets the offered directory, no more.
        let (grants, _) = needs(&[], &["/"], false).grant(&offered, "p");
        assert_eq!(
            grants.read_only_dirs,
            vec![(tmp.path().to_owned(), "/sys".to_owned())]
        );
    }
}
