//! Migrations of older state directories, run once by `StateStore::open`, each in a single
//! transaction so a crash halfway leaves the old version intact.
//!
//! Version 1 joined key parts with NUL and hashed resource ids the same way, so a NUL inside an
//! id was ambiguous. Account names come from the config and cannot hold one, so an account
//! prefix is found by the stored account names; the resource id is in the record itself; the
//! project id is what lies between. A record that still does not fit is quarantined.
//!
//! Version 2 stored one counters value per resource; version 3 packs them per account.

use std::path::Path;

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::counters::Counters;
use super::keys;
use super::store::{StateError, decode};
use super::topology::{ProjectNode, ResourceId, ResourceRecord};

pub(super) fn from_v1(db: &sled::Db, dir: &Path) -> Result<(), StateError> {
    let accounts = db.open_tree("accounts")?;
    let projects = db.open_tree("projects")?;
    let resources = db.open_tree("resources")?;
    let counters = db.open_tree("counters")?;
    let quarantine = db.open_tree("quarantine")?;

    let names: Vec<String> = accounts
        .iter()
        .keys()
        .filter_map(Result::ok)
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    // The longest name first, so `a` never claims a key of account `a\0b`... which the config
    // forbids anyway; cheap to be exact.
    let mut by_length = names.clone();
    by_length.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let split_account = |key: &[u8]| -> Option<(String, Vec<u8>)> {
        by_length.iter().find_map(|name| {
            let rest = key.strip_prefix(name.as_bytes())?.strip_prefix(b"\0")?;
            Some((name.clone(), rest.to_vec()))
        })
    };

    // (tree index: accounts, projects, resources, counters; key; new value or removal)
    const A: usize = 0;
    const P: usize = 1;
    const R: usize = 2;
    const C: usize = 3;
    let mut writes: Vec<(usize, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut set_aside = Vec::new();
    for name in &names {
        writes.push((A, name.as_bytes().to_vec(), None));
        let value = accounts.get(name.as_bytes())?.map(|v| v.to_vec());
        writes.push((A, keys::encode(&[name]), value));
    }
    for item in projects.iter() {
        let (key, value) = item?;
        writes.push((P, key.to_vec(), None));
        let fits = split_account(&key).and_then(|(account, rest)| {
            let node: ProjectNode = decode(&key, &value).ok()?;
            (rest == node.project.id.as_bytes())
                .then(|| keys::encode(&[&account, &node.project.id]))
        });
        match fits {
            Some(new_key) => writes.push((P, new_key, Some(value.to_vec()))),
            None => set_aside.push(("projects", key.to_vec(), value.to_vec())),
        }
    }
    for item in resources.iter() {
        let (key, value) = item?;
        writes.push((R, key.to_vec(), None));
        let fits = split_account(&key).and_then(|(account, rest)| {
            let mut record: ResourceRecord = decode(&key, &value).ok()?;
            let project = rest
                .strip_suffix(record.info.id.as_bytes())?
                .strip_suffix(b"\0")?;
            let project = String::from_utf8(project.to_vec()).ok()?;
            let old = ResourceId::v1(&account, &project, &record.info.id);
            (old == record.id).then_some(())?;
            record.id = ResourceId::new(&account, &project, &record.info.id);
            let counted = counters.get(old.0.as_bytes()).ok().flatten();
            Some((
                keys::encode(&[&account, &project, &record.info.id]),
                record,
                old,
                counted,
            ))
        });
        match fits {
            Some((new_key, record, old, counted)) => {
                if let Some(c) = counted {
                    writes.push((C, old.0.as_bytes().to_vec(), None));
                    if decode::<Counters>(old.0.as_bytes(), &c).is_ok() {
                        writes.push((C, record.id.0.as_bytes().to_vec(), Some(c.to_vec())));
                    } else {
                        set_aside.push(("counters", old.0.as_bytes().to_vec(), c.to_vec()));
                    }
                }
                let value = serde_json::to_vec(&record)?;
                writes.push((R, new_key, Some(value)));
            }
            None => set_aside.push(("resources", key.to_vec(), value.to_vec())),
        }
    }

    let result = (
        &accounts,
        &projects,
        &resources,
        &counters,
        &quarantine,
        &**db,
    )
        .transaction(|(a, p, r, c, q, root)| {
            let trees = [a, p, r, c];
            for (tree, key, value) in &writes {
                let t = trees[*tree];
                match value {
                    Some(v) => t.insert(key.as_slice(), v.as_slice())?,
                    None => t.remove(key.as_slice())?,
                };
            }
            for (tree, key, value) in &set_aside {
                let record = serde_json::json!({
                    "tree": tree,
                    "key": hex::encode(key),
                    "reason": "could not be placed while migrating from schema version 1",
                    "value": String::from_utf8_lossy(value),
                });
                let bytes = serde_json::to_vec(&record).unwrap_or_default();
                q.insert(keys::encode(&[tree, &hex::encode(key)]), bytes)?;
            }
            root.insert(super::store::SCHEMA_KEY, b"2".as_slice())?;
            Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
        });
    super::store::committed(result)?;
    db.flush()?;
    tracing::info!(
        dir = %dir.display(),
        set_aside = set_aside.len(),
        "state migrated from schema version 1 to 2"
    );
    Ok(())
}

/// Version 2 kept one JSON value per resource in the `counters` tree; version 3 packs them in
/// chunks per account (`chunks`). The account of a counter is found through the resource
/// records; counters of no stored resource are dropped (a start would drop them anyway), and
/// values that do not decode are quarantined.
pub(super) fn from_v2(db: &sled::Db, dir: &Path) -> Result<(), StateError> {
    let resources = db.open_tree("resources")?;
    let old = db.open_tree("counters")?;
    let new = db.open_tree(super::store::COUNTER_TREE)?;
    let quarantine = db.open_tree("quarantine")?;

    let mut account_of = std::collections::HashMap::new();
    for item in resources.iter() {
        let (key, value) = item?;
        if let (Some(parts), Ok(record)) =
            (keys::decode(&key), decode::<ResourceRecord>(&key, &value))
            && let Some(account) = parts.first()
        {
            account_of.insert(record.id, account.clone());
        }
    }
    let mut per_account: std::collections::BTreeMap<String, Vec<(ResourceId, Counters)>> =
        Default::default();
    let mut set_aside = Vec::new();
    let mut orphans = 0usize;
    for item in old.iter() {
        let (key, value) = item?;
        let id = ResourceId(String::from_utf8_lossy(&key).into());
        match decode::<Counters>(&key, &value) {
            Ok(c) if super::store::sound_counters(&c) => match account_of.get(&id) {
                Some(account) => per_account
                    .entry(account.clone())
                    .or_default()
                    .push((id, c)),
                None => orphans += 1,
            },
            _ => set_aside.push((key.to_vec(), value.to_vec())),
        }
    }
    let mut writes = Vec::new();
    for (account, entries) in &per_account {
        writes.extend(super::chunks::account_writes(
            account,
            entries.iter().map(|(id, c)| (id, c)),
        ));
    }
    let old_keys: Vec<sled::IVec> = old.iter().keys().collect::<Result<_, _>>()?;
    let result = (&old, &new, &quarantine, &**db).transaction(|(old, new, q, root)| {
        for key in &old_keys {
            old.remove(key)?;
        }
        for (key, value) in &writes {
            if let Some(v) = value {
                new.insert(key.as_slice(), v.as_slice())?;
            }
        }
        for (key, value) in &set_aside {
            let record = serde_json::json!({
                "tree": "counters",
                "key": hex::encode(key),
                "reason": "could not be read while migrating from schema version 2",
                "value": String::from_utf8_lossy(value),
            });
            let bytes = serde_json::to_vec(&record).unwrap_or_default();
            q.insert(keys::encode(&["counters", &hex::encode(key)]), bytes)?;
        }
        root.insert(super::store::SCHEMA_KEY, b"3".as_slice())?;
        Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
    });
    super::store::committed(result)?;
    db.flush()?;
    drop(old);
    db.drop_tree("counters")?;
    tracing::info!(
        dir = %dir.display(),
        accounts = per_account.len(),
        set_aside = set_aside.len(),
        dropped_without_resource = orphans,
        "state migrated from schema version 2 to 3 (counters in chunks per account)"
    );
    Ok(())
}
