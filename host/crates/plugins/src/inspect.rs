//! Tells what a component is from its exports alone, before anything is instantiated: which
//! `carbonaut:provider` version it was built for and which provider kinds it implements. This
//! works for components from any language, since the versioned export names carry it.

use wasmtime::Engine;
use wasmtime::component::Component;

use carbonaut_model::ProviderKind;

const PACKAGE: &str = "carbonaut:provider/";

/// A `major.minor.patch` WIT package version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WitVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl WitVersion {
    pub fn parse(s: &str) -> Option<WitVersion> {
        let mut parts = s.split('.').map(|p| p.parse::<u64>().ok());
        let v = WitVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// The series a version belongs to, as the supported range lists it: `0.2`, or `1`.
    pub fn series(&self) -> String {
        if self.major == 0 {
            format!("0.{}", self.minor)
        } else {
            self.major.to_string()
        }
    }

    /// Semver compatibility: same major, and for 0.x the same minor.
    pub fn is_compatible_with(&self, other: &WitVersion) -> bool {
        self.major == other.major && (self.major != 0 || self.minor == other.minor)
    }
}

/// Serialized as `"0.2.0"`.
impl serde::Serialize for WitVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What a component's exports say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentShape {
    pub wit_version: WitVersion,
    pub kinds: Vec<ProviderKind>,
    pub has_metadata: bool,
}

/// Why the exports do not make a plugin; [`super::loader`] adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    NoKnownWorld { exports: Vec<String> },
    Unsupported { found: String },
    Mixed { versions: Vec<String> },
    NoProviderKind { exports: Vec<String> },
    NoMetadata,
}

pub fn inspect_component(
    engine: &Engine,
    component: &Component,
) -> Result<ComponentShape, ShapeError> {
    let names: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    shape_of_exports(&names)
}

/// The pure part of [`inspect_component`], over export names.
fn shape_of_exports(names: &[String]) -> Result<ComponentShape, ShapeError> {
    let ours: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|n| n.strip_prefix(PACKAGE))
        .map(|rest| rest.split_once('@').unwrap_or((rest, "")))
        .collect();
    if ours.is_empty() {
        return Err(ShapeError::NoKnownWorld {
            exports: names.to_vec(),
        });
    }
    let mut versions: Vec<&str> = ours.iter().map(|(_, v)| *v).collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.len() > 1 {
        return Err(ShapeError::Mixed {
            versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        });
    }
    let found = versions[0];
    let wit_version = WitVersion::parse(found)
        .filter(|v| super::contract::supported(*v).is_some())
        .ok_or_else(|| ShapeError::Unsupported {
            found: if found.is_empty() {
                "(unversioned)".into()
            } else {
                found.to_owned()
            },
        })?;
    let mut kinds: Vec<ProviderKind> = ours
        .iter()
        .filter_map(|(iface, _)| ProviderKind::from_interface(iface))
        .collect();
    kinds.sort_by_key(|k| k.as_str());
    let has_metadata = ours.iter().any(|(iface, _)| *iface == "metadata");
    if kinds.is_empty() {
        return Err(ShapeError::NoProviderKind {
            exports: names.to_vec(),
        });
    }
    if !has_metadata {
        return Err(ShapeError::NoMetadata);
    }
    Ok(ComponentShape {
        wit_version,
        kinds,
        has_metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_version_and_kinds_from_export_names() {
        let shape = shape_of_exports(&names(&[
            "carbonaut:provider/metadata@0.3.0",
            "carbonaut:provider/resource-metrics@0.3.0",
            "carbonaut:provider/estimation@0.3.0",
            "carbonaut:provider/discovery@0.3.0",
        ]))
        .expect("a valid plugin");
        assert_eq!(shape.wit_version, super::super::contract::LATEST);
        assert_eq!(
            shape.kinds,
            vec![
                ProviderKind::Discovery,
                ProviderKind::Estimation,
                ProviderKind::ResourceMetrics,
            ]
        );
    }

    #[test]
    fn refuses_future_and_unversioned_contracts() {
        for (version, shown) in [
            ("0.0.1", "0.0.1"),
            ("0.1.1", "0.1.1"),
            ("0.4.0", "0.4.0"),
            ("1.0.0", "1.0.0"),
            ("0.2.7", "0.2.7"),
        ] {
            let err = shape_of_exports(&names(&[
                &format!("carbonaut:provider/metadata@{version}"),
                &format!("carbonaut:provider/environment@{version}"),
            ]))
            .expect_err("an unsupported version");
            assert_eq!(
                err,
                ShapeError::Unsupported {
                    found: shown.into()
                }
            );
        }
        let err =
            shape_of_exports(&names(&["carbonaut:provider/metadata"])).expect_err("unversioned");
        assert_eq!(
            err,
            ShapeError::Unsupported {
                found: "(unversioned)".into()
            }
        );
    }

    #[test]
    fn every_supported_version_is_accepted() {
        for version in super::super::contract::SUPPORTED {
            let shape = shape_of_exports(&names(&[
                &format!("carbonaut:provider/metadata@{version}"),
                &format!("carbonaut:provider/environment@{version}"),
            ]))
            .expect("a supported version");
            assert_eq!(shape.wit_version, version);
        }
    }

    #[test]
    fn refuses_other_worlds_and_incomplete_plugins() {
        assert!(matches!(
            shape_of_exports(&names(&["wasi:cli/run@0.2.0"])),
            Err(ShapeError::NoKnownWorld { .. })
        ));
        assert_eq!(
            shape_of_exports(&names(&["carbonaut:provider/discovery@0.2.0"])),
            Err(ShapeError::NoMetadata)
        );
        assert!(matches!(
            shape_of_exports(&names(&["carbonaut:provider/metadata@0.2.0"])),
            Err(ShapeError::NoProviderKind { .. })
        ));
        assert!(matches!(
            shape_of_exports(&names(&[
                "carbonaut:provider/metadata@0.2.0",
                "carbonaut:provider/discovery@0.2.1"
            ])),
            Err(ShapeError::Mixed { .. })
        ));
    }
}
