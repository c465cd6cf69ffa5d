//! What a plugin asks for (its metadata's `needs`), checked at load time, and what it gets:
//! the intersection of that with what the operator configured for a provider instance.

use std::path::{Path, PathBuf};

use crate::model::CapabilityNeeds;
use crate::runtime::Grants;
use crate::runtime::http::{HttpNeed, HttpOrigin, OriginError, grant_http};

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

impl Needs {
    /// Parses the metadata's needs; an origin or path that makes no sense is the author's bug.
    pub fn parse(raw: &CapabilityNeeds) -> Result<Needs, String> {
        let http = raw
            .http
            .iter()
            .map(|h| h.parse::<HttpNeed>())
            .collect::<Result<Vec<_>, OriginError>>()
            .map_err(|e| format!("its metadata's needs.http: {e}"))?;
        let mut read_only_dirs = Vec::new();
        for dir in &raw.read_only_dirs {
            let clean = dir.trim_end_matches('/');
            if !dir.starts_with('/') || clean.split('/').any(|part| part == "..") {
                return Err(format!(
                    "its metadata's needs.read-only-dirs has `{dir}`: write an absolute guest path \
                     without `..`, like `/sys/class/powercap`"
                ));
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
            tls_roots: None,
            key_value: key_value.then(|| provider.to_owned()),
            limits: None,
            secrets: crate::text::Secrets::NONE,
        };
        (grants, unused)
    }
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
    fn bad_needs_are_refused_with_the_field() {
        let bad = CapabilityNeeds {
            http: vec!["api.example.com".into()],
            read_only_dirs: vec![],
            key_value: false,
        };
        assert!(
            Needs::parse(&bad)
                .expect_err("no scheme")
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
        assert_eq!(grants, Grants::NONE);
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
