//! The sha256 of files the cache has hashed, remembered with each file's identity and change
//! times (device, inode, size, mtime, ctime) in `stamps.json` in the cache directory, so an
//! unchanged file is not read and hashed again on the next start.
//!
//! Why this can be trusted: any write to a file, and any change of its times (`touch -r`
//! included), sets its ctime to the current time, which no unprivileged call can set back.
//! A stamp is only remembered once the file's ctime is [`SETTLED`] in the past when it was
//! hashed: a write in the same tick of a coarse file-system clock would otherwise leave every
//! field equal. A file whose stamp differs in any field is read and hashed in full. What this
//! does not catch is a change that bypasses the file system (a bit flipped on the disk, a
//! write to the raw device): the same as for any other file the host reads.

use carbonaut_model::sync::lock;
use std::collections::BTreeMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// How old a file's ctime must be, when the file is hashed, for its stamp to be remembered.
/// Coarse file-system clocks tick every few milliseconds; FAT's every 2 s.
pub const SETTLED: Duration = Duration::from_secs(2);

const FILE: &str = "stamps.json";

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// `None` where the platform has no inode or ctime: such files are always hashed.
    #[cfg(unix)]
    pub fn of(meta: &Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub fn of(_meta: &Metadata) -> Option<Stamp> {
        None
    }

    fn settled_at(&self, now: SystemTime) -> bool {
        let (secs, nanos) = self.ctime;
        let (Ok(secs), Ok(nanos)) = (u64::try_from(secs), u32::try_from(nanos)) else {
            return false;
        };
        let ctime = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        now.duration_since(ctime).is_ok_and(|age| age >= SETTLED)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Known {
    stamp: Stamp,
    sha256: String,
}

/// The remembered stamps, by path.
pub struct Stamps {
    file: PathBuf,
    known: Mutex<BTreeMap<String, Known>>,
}

/// A file's sha256, and its bytes when they were asked for.
pub struct Hashed {
    pub sha256: String,
    /// The file's size in bytes.
    pub size: u64,
    pub bytes: Option<Vec<u8>>,
    /// The file's stamp before it was checked, to tell later whether it changed since
    /// (while it was read included).
    pub stamp: Option<Stamp>,
    /// Whether the file was read and hashed (rather than known by its stamp).
    pub hashed: bool,
}

impl Stamps {
    /// The stamps remembered in `dir`; none when the file is missing or unreadable (then
    /// every file is hashed once more, and remembered again).
    pub fn open(dir: &Path) -> Stamps {
        let file = dir.join(FILE);
        let known = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Stamps {
            file,
            known: Mutex::new(known),
        }
    }

    /// The name of the index in the cache directory, which pruning must leave alone.
    pub fn file_name() -> &'static str {
        FILE
    }

    /// The sha256 of the file at `path`: remembered when its stamp is unchanged, else read
    /// and hashed (and remembered). With `keep_bytes`, the file is read in any case and its
    /// bytes returned; they are what the returned digest is of (the stamp was the same before
    /// and after reading them, or they were hashed). Without, the bytes are returned only
    /// when they were read.
    pub fn sha256_of(&self, path: &Path, keep_bytes: bool) -> std::io::Result<Hashed> {
        let key = path.to_string_lossy().into_owned();
        let meta = std::fs::metadata(path)?;
        let before = Stamp::of(&meta);
        if !keep_bytes && let Some(sha256) = self.known(&key, before) {
            return Ok(Hashed {
                sha256,
                size: meta.len(),
                bytes: None,
                stamp: before,
                hashed: false,
            });
        }
        let bytes = std::fs::read(path)?;
        let after = Stamp::of(&std::fs::metadata(path)?);
        let unchanged = before.is_some() && before == after;
        if keep_bytes
            && unchanged
            && let Some(sha256) = self.known(&key, before)
        {
            return Ok(Hashed {
                sha256,
                size: bytes.len() as u64,
                bytes: Some(bytes),
                stamp: before,
                hashed: false,
            });
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let (true, Some(stamp)) = (unchanged, before)
            && stamp.settled_at(SystemTime::now())
        {
            self.remember(key, stamp, &sha256);
        }
        Ok(Hashed {
            sha256,
            size: bytes.len() as u64,
            bytes: Some(bytes),
            stamp: before,
            hashed: true,
        })
    }

    /// Whether `path` still has the stamp `stamp` (a file checked by its stamp or its
    /// digest, then used: it did not change in between).
    pub fn unchanged(path: &Path, stamp: Option<Stamp>) -> bool {
        let now = std::fs::metadata(path).ok().and_then(|m| Stamp::of(&m));
        stamp.is_none() || now == stamp
    }

    fn known(&self, key: &str, stamp: Option<Stamp>) -> Option<String> {
        let stamp = stamp?;
        let known = lock(&self.known);
        known
            .get(key)
            .filter(|k| k.stamp == stamp)
            .map(|k| k.sha256.clone())
    }

    fn remember(&self, key: String, stamp: Stamp, sha256: &str) {
        let mut known = lock(&self.known);
        let entry = Known {
            stamp,
            sha256: sha256.to_owned(),
        };
        if known.get(&key) == Some(&entry) {
            return;
        }
        known.insert(key, entry);
        self.save(&known);
    }

    /// Forgets the files that no longer exist.
    pub fn prune(&self) {
        let mut known = lock(&self.known);
        let before = known.len();
        known.retain(|path, _| Path::new(path).exists());
        if known.len() != before {
            self.save(&known);
        }
    }

    /// Written whole to a temporary name, then renamed: a crash leaves the old index or the
    /// new one. A failed write only costs hashing again on the next start.
    fn save(&self, known: &BTreeMap<String, Known>) {
        let result = serde_json::to_vec(known)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                // A name of its own: two runtimes may share a cache directory (tests do).
                static SAVES: AtomicU64 = AtomicU64::new(0);
                let n = SAVES.fetch_add(1, Ordering::Relaxed);
                let tmp = self
                    .file
                    .with_extension(format!("json.{}.{n}.tmp", std::process::id()));
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, &self.file)
            });
        if let Err(error) = result {
            tracing::warn!(file = %self.file.display(), %error, "could not save the file stamps; the next start hashes again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Waits until a file written now counts as settled.
    fn settle() {
        std::thread::sleep(SETTLED + Duration::from_millis(100));
    }

    #[test]
    fn an_unchanged_file_is_not_hashed_again_and_a_changed_one_always_is() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"first content").expect("write");
        let stamps = Stamps::open(dir.path());
        // Too fresh to remember: hashed each time.
        let fresh = stamps.sha256_of(&file, false).expect("hash");
        assert!(fresh.hashed);
        assert_eq!(fresh.sha256, sha(b"first content"));
        assert!(stamps.sha256_of(&file, false).expect("hash").hashed);
        settle();
        assert!(stamps.sha256_of(&file, false).expect("hash").hashed);
        let known = stamps.sha256_of(&file, true).expect("known");
        assert!(
            !known.hashed,
            "a settled, unchanged file is known by its stamp"
        );
        assert_eq!(known.sha256, sha(b"first content"));
        assert_eq!(known.bytes.as_deref(), Some(&b"first content"[..]));
        // Remembered across a restart.
        let reopened = Stamps::open(dir.path());
        assert!(!reopened.sha256_of(&file, false).expect("known").hashed);

        // Changed in place: same inode, same size, mtime put back as `touch -r` would.
        let mtime = std::fs::metadata(&file)
            .expect("stat")
            .modified()
            .expect("mtime");
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .expect("open");
            f.write_all(b"other content").expect("overwrite");
            f.set_modified(mtime).expect("put the mtime back");
        }
        let after = std::fs::metadata(&file).expect("stat");
        assert_eq!(after.modified().expect("mtime"), mtime);
        assert_eq!(after.len(), b"first content".len() as u64);
        for stamps in [&stamps, &reopened] {
            let changed = stamps.sha256_of(&file, false).expect("hash");
            assert!(changed.hashed, "the ctime changed, so the file is hashed");
            assert_eq!(changed.sha256, sha(b"other content"));
        }
    }

    #[test]
    fn a_corrupt_index_means_hashing_again() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"content").expect("write");
        std::fs::write(dir.path().join(FILE), b"{ not json").expect("write");
        let stamps = Stamps::open(dir.path());
        let hashed = stamps.sha256_of(&file, false).expect("hash");
        assert!(hashed.hashed);
        assert_eq!(hashed.sha256, sha(b"content"));
    }

    #[test]
    fn a_stamp_remembered_for_another_file_at_the_same_path_does_not_match() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("plugin.wasm");
        std::fs::write(&file, b"one").expect("write");
        settle();
        let stamps = Stamps::open(dir.path());
        stamps.sha256_of(&file, false).expect("hash");
        assert!(!stamps.sha256_of(&file, false).expect("known").hashed);
        // Replaced by rename (what uploads and editors do): a new inode and ctime.
        let tmp = dir.path().join(".plugin.wasm.tmp");
        std::fs::write(&tmp, b"two").expect("write");
        std::fs::rename(&tmp, &file).expect("rename");
        let replaced = stamps.sha256_of(&file, false).expect("hash");
        assert!(replaced.hashed);
        assert_eq!(replaced.sha256, sha(b"two"));
        stamps.prune();
        std::fs::remove_file(&file).expect("remove");
        stamps.prune();
        assert!(stamps.known.lock().expect("lock").is_empty());
    }
}
