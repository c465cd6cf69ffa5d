//! The topology model (accounts → projects → resources) and the diff a sync applies to it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use carbonaut_model::{Project, ResourceInfo};

/// The host's id of a resource: derived from account, project and the provider's resource id,
/// so it is the same across syncs and restarts and safe in a URL. Shared, not copied: the
/// topology, the counters, the samples and the snapshot's maps all key by the same id, and a
/// publish copies those maps (a clone is a reference count, not an allocation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceId(pub std::sync::Arc<str>);

impl ResourceId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash of the three parts, length-prefixed (see `keys`): no content of one part can
    /// make two triples hash alike.
    pub fn new(account: &str, project: &str, resource: &str) -> Self {
        let digest = Sha256::digest(super::keys::encode(&[account, project, resource]));
        ResourceId(hex::encode(&digest[..8]).into())
    }

    /// The id schema version 1 gave the same triple (parts ended by NUL), for the migration.
    pub(super) fn v1(account: &str, project: &str, resource: &str) -> Self {
        let mut hash = Sha256::new();
        for part in [account, project, resource] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        ResourceId(hex::encode(&hash.finalize()[..8]).into())
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub id: ResourceId,
    /// Shared between the topologies of two syncs while it does not change.
    pub info: Arc<ResourceInfo>,
    pub first_seen_ms: u64,
    /// In memory, the last sync that listed it. The store rewrites a record only when it
    /// changed (writing every record at every sync made sled grow without bound), so a record
    /// loaded after a restart takes its project's last sync instead.
    pub last_seen_ms: u64,
    /// The provider instance that discovered it.
    pub provider: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectNode {
    pub project: Project,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub provider: String,
    /// Keyed by the provider's resource id.
    #[serde(skip)]
    pub resources: BTreeMap<String, ResourceRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountNode {
    pub name: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub provider: String,
    #[serde(skip)]
    pub projects: BTreeMap<String, ProjectNode>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    pub accounts: BTreeMap<String, AccountNode>,
}

impl Topology {
    pub fn resources(&self) -> impl Iterator<Item = (&AccountNode, &ProjectNode, &ResourceRecord)> {
        self.accounts.values().flat_map(|a| {
            a.projects
                .values()
                .flat_map(move |p| p.resources.values().map(move |r| (a, p, r)))
        })
    }

    pub fn resource_count(&self) -> usize {
        self.accounts
            .values()
            .flat_map(|a| a.projects.values())
            .map(|p| p.resources.len())
            .sum()
    }
}

/// What a discovery run returned for one account. A project whose resources could not be
/// listed is `None`: its previous resources are kept rather than taken for removed.
pub struct Discovered {
    pub projects: Vec<(Project, Option<Vec<ResourceInfo>>)>,
}

/// Added, removed and kept items of one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LevelCounts {
    pub added: usize,
    pub removed: usize,
    pub kept: usize,
}

/// The outcome of diffing one account: its new node and what changed.
pub struct AccountSync {
    pub node: AccountNode,
    pub projects: LevelCounts,
    pub resources: LevelCounts,
    pub removed_projects: Vec<String>,
    pub removed_resources: Vec<(String, String, ResourceId)>,
    /// (project id, resource id) of the records that are new or changed beyond their
    /// last-seen time: the only ones the store writes.
    pub changed_resources: Vec<(String, String)>,
}

/// Computes the account's new node from what discovery returned, keeping first-seen times of
/// kept items and stamping `now` as their last-seen time.
pub fn diff_account(
    name: &str,
    provider: &str,
    previous: Option<&AccountNode>,
    discovered: Discovered,
    now_ms: u64,
) -> AccountSync {
    let mut diff = AccountDiff::new(name, provider, previous, now_ms);
    for (project, listed) in discovered.projects {
        diff.project(project, listed);
    }
    diff.finish()
}

/// An account's diff built a project at a time, as discovery lists them: each listed
/// resource that did not change is dropped at once and its previous record's info shared
/// (`Arc`), so a sync holds the inventory once plus one project's listing, not twice (a
/// label-heavy account of 50 000 resources held 200 MB of labels twice at every sync).
pub struct AccountDiff<'a> {
    name: String,
    provider: String,
    previous: Option<&'a AccountNode>,
    now_ms: u64,
    node: AccountNode,
    projects: LevelCounts,
    resources: LevelCounts,
    removed_resources: Vec<(String, String, ResourceId)>,
    changed_resources: Vec<(String, String)>,
}

impl<'a> AccountDiff<'a> {
    pub fn new(name: &str, provider: &str, previous: Option<&'a AccountNode>, now_ms: u64) -> Self {
        AccountDiff {
            name: name.to_owned(),
            provider: provider.to_owned(),
            previous,
            now_ms,
            node: AccountNode {
                name: name.to_owned(),
                first_seen_ms: previous.map_or(now_ms, |p| p.first_seen_ms),
                last_seen_ms: now_ms,
                provider: provider.to_owned(),
                projects: BTreeMap::new(),
            },
            projects: LevelCounts::default(),
            resources: LevelCounts::default(),
            removed_resources: Vec::new(),
            changed_resources: Vec::new(),
        }
    }

    /// One listed project: its resources, or `None` when they could not be listed (the
    /// previous ones are kept rather than taken for removed).
    pub fn project(&mut self, project: Project, listed: Option<Vec<ResourceInfo>>) {
        let now_ms = self.now_ms;
        let old = self.previous.and_then(|p| p.projects.get(&project.id));
        match old {
            Some(_) => self.projects.kept += 1,
            None => self.projects.added += 1,
        }
        let mut new_resources = BTreeMap::new();
        match listed {
            Some(list) => {
                for info in list {
                    let kept = old.and_then(|o| o.resources.get(&info.id));
                    match kept {
                        Some(_) => self.resources.kept += 1,
                        None => self.resources.added += 1,
                    }
                    let unchanged = kept
                        .filter(|k| *k.info == info && k.provider == self.provider)
                        .map(|k| k.info.clone());
                    if unchanged.is_none() {
                        self.changed_resources
                            .push((project.id.clone(), info.id.clone()));
                    }
                    let record = ResourceRecord {
                        id: kept.map_or_else(
                            || ResourceId::new(&self.name, &project.id, &info.id),
                            |k| k.id.clone(),
                        ),
                        first_seen_ms: kept.map_or(now_ms, |k| k.first_seen_ms),
                        last_seen_ms: now_ms,
                        provider: self.provider.clone(),
                        info: unchanged.unwrap_or_else(|| Arc::new(info)),
                    };
                    new_resources.insert(record.info.id.clone(), record);
                }
                if let Some(old) = old {
                    for (rid, record) in &old.resources {
                        if !new_resources.contains_key(rid) {
                            self.resources.removed += 1;
                            self.removed_resources.push((
                                project.id.clone(),
                                rid.clone(),
                                record.id.clone(),
                            ));
                        }
                    }
                }
            }
            None => {
                if let Some(old) = old {
                    self.resources.kept += old.resources.len();
                    new_resources = old.resources.clone();
                }
            }
        }
        self.node.projects.insert(
            project.id.clone(),
            ProjectNode {
                first_seen_ms: old.map_or(now_ms, |o| o.first_seen_ms),
                last_seen_ms: now_ms,
                provider: self.provider.clone(),
                project,
                resources: new_resources,
            },
        );
    }

    /// The new node, with the previous projects not listed this time removed.
    pub fn finish(mut self) -> AccountSync {
        let mut removed_projects = Vec::new();
        if let Some(previous) = self.previous {
            for (pid, old) in &previous.projects {
                if !self.node.projects.contains_key(pid) {
                    self.projects.removed += 1;
                    removed_projects.push(pid.clone());
                    for (rid, record) in &old.resources {
                        self.resources.removed += 1;
                        self.removed_resources
                            .push((pid.clone(), rid.clone(), record.id.clone()));
                    }
                }
            }
        }
        AccountSync {
            node: self.node,
            projects: self.projects,
            resources: self.resources,
            removed_projects,
            removed_resources: self.removed_resources,
            changed_resources: self.changed_resources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonaut_model::{Hardware, Location, ResourceKind};

    fn project(id: &str) -> Project {
        Project {
            id: id.into(),
            name: id.into(),
            labels: vec![],
        }
    }

    fn resource(id: &str) -> ResourceInfo {
        ResourceInfo {
            id: id.into(),
            name: id.into(),
            kind: ResourceKind::Vm,
            location: Location {
                cloud: None,
                grid_zone: None,
                country: None,
                region: None,
                zone: None,
                coordinates: None,
            },
            hardware: Hardware {
                instance_type: None,
                gpu_count: None,
                gpu_model: None,
                vcpus: None,
                memory_bytes: None,
                cpu_model: None,
            },
            labels: vec![],
        }
    }

    fn discovered(items: &[(&str, Option<&[&str]>)]) -> Discovered {
        Discovered {
            projects: items
                .iter()
                .map(|(p, rs)| {
                    (
                        project(p),
                        rs.map(|rs| rs.iter().map(|r| resource(r)).collect()),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn an_unchanged_resource_shares_its_previous_record_and_a_changed_one_does_not() {
        let first = diff_account(
            "a",
            "cloud",
            None,
            discovered(&[("p1", Some(&["r1", "r2"]))]),
            10,
        );
        let mut diff = AccountDiff::new("a", "cloud", Some(&first.node), 20);
        let mut changed = resource("r2");
        changed.name = "renamed".into();
        diff.project(project("p1"), Some(vec![resource("r1"), changed]));
        let second = diff.finish();
        let (old, new) = (&first.node.projects["p1"], &second.node.projects["p1"]);
        assert!(Arc::ptr_eq(
            &old.resources["r1"].info,
            &new.resources["r1"].info
        ));
        assert!(!Arc::ptr_eq(
            &old.resources["r2"].info,
            &new.resources["r2"].info
        ));
        assert_eq!(new.resources["r2"].info.name, "renamed");
        assert_eq!(
            second.changed_resources,
            [("p1".to_owned(), "r2".to_owned())]
        );
        assert_eq!(new.resources["r1"].id, old.resources["r1"].id);
        assert_eq!(
            (
                new.resources["r1"].first_seen_ms,
                new.resources["r1"].last_seen_ms
            ),
            (10, 20)
        );
    }

    #[test]
    fn first_sync_adds_everything() {
        let sync = diff_account(
            "a",
            "cloud",
            None,
            discovered(&[("p1", Some(&["r1", "r2"]))]),
            10,
        );
        assert_eq!(
            sync.projects,
            LevelCounts {
                added: 1,
                removed: 0,
                kept: 0
            }
        );
        assert_eq!(
            sync.resources,
            LevelCounts {
                added: 2,
                removed: 0,
                kept: 0
            }
        );
        assert_eq!(sync.node.projects["p1"].resources["r1"].first_seen_ms, 10);
    }

    #[test]
    fn later_sync_keeps_adds_and_removes() {
        let first = diff_account(
            "a",
            "cloud",
            None,
            discovered(&[("p1", Some(&["r1", "r2"])), ("p2", Some(&["x"]))]),
            10,
        );
        let second = diff_account(
            "a",
            "cloud",
            Some(&first.node),
            discovered(&[("p1", Some(&["r2", "r3"]))]),
            20,
        );
        assert_eq!(
            second.projects,
            LevelCounts {
                added: 0,
                removed: 1,
                kept: 1
            }
        );
        assert_eq!(
            second.resources,
            LevelCounts {
                added: 1,
                removed: 2,
                kept: 1
            }
        );
        let r2 = &second.node.projects["p1"].resources["r2"];
        assert_eq!((r2.first_seen_ms, r2.last_seen_ms), (10, 20));
        // Only the new record is written; r2 changed nothing but its last-seen time.
        assert_eq!(second.changed_resources, [("p1".into(), "r3".into())]);
        assert_eq!(first.changed_resources.len(), 3);
        assert_eq!(r2.id, ResourceId::new("a", "p1", "r2"), "ids are stable");
        let mut removed: Vec<&str> = second
            .removed_resources
            .iter()
            .map(|(_, r, _)| r.as_str())
            .collect();
        removed.sort_unstable();
        assert_eq!(removed, vec!["r1", "x"]);
        assert_eq!(second.removed_projects, vec!["p2".to_string()]);
    }

    #[test]
    fn a_project_that_failed_to_list_keeps_its_resources() {
        let first = diff_account("a", "cloud", None, discovered(&[("p1", Some(&["r1"]))]), 10);
        let second = diff_account(
            "a",
            "cloud",
            Some(&first.node),
            discovered(&[("p1", None)]),
            20,
        );
        assert_eq!(
            second.resources,
            LevelCounts {
                added: 0,
                removed: 0,
                kept: 1
            }
        );
        assert!(second.node.projects["p1"].resources.contains_key("r1"));
    }

    #[test]
    fn resource_ids_differ_across_accounts_and_projects() {
        assert_ne!(
            ResourceId::new("a", "p", "r"),
            ResourceId::new("b", "p", "r")
        );
        assert_ne!(
            ResourceId::new("a", "p", "r"),
            ResourceId::new("a", "q", "r")
        );
        assert_ne!(
            ResourceId::new("ab", "", "r"),
            ResourceId::new("a", "b", "r")
        );
        assert_ne!(
            ResourceId::new("N", "x\0y", "z"),
            ResourceId::new("N\0x", "y", "z")
        );
        assert_eq!(ResourceId::new("a", "p", "r").0.len(), 16);
    }
}
