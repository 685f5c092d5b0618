//! The durable outbox: one file per (endpoint, event) under
//! `STATE_DIR/events/ENDPOINT/{pending,delivered,failed}/`.
//!
//! A file is written to a temporary name, fsync'd, renamed into
//! `pending/` and the folder fsync'd, so after a crash an event is either
//! wholly there or not at all, and a push's events are all on disk before
//! its response ends. File names start with a strictly increasing
//! nanosecond stamp, so the names sort in push order and a worker only
//! needs the first few names of a folder (memory stays bounded whatever
//! the backlog). Files are never rewritten: delivery moves them to
//! `delivered/` (kept [`DELIVERED_RETENTION`]), giving up moves them to
//! `failed/`, and `gitiam events redeliver` moves them back to `pending/`.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long delivered events stay for inspection.
pub const DELIVERED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Age after which a temporary file is a crash's leftover.
const STALE_TMP: Duration = Duration::from_secs(3600);
/// How long an event is retried before it is moved to `failed/`.
pub const MAX_PENDING_AGE: Duration = Duration::from_secs(3 * 24 * 3600);

/// The folders of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not yet delivered.
    Pending,
    /// Delivered (2xx).
    Delivered,
    /// Given up after [`MAX_PENDING_AGE`].
    Failed,
}

impl Status {
    /// Folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    /// Parses a folder name.
    pub fn parse(s: &str) -> Option<Self> {
        [Status::Pending, Status::Delivered, Status::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// What one outbox file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Event id (`webhook-id`).
    pub id: String,
    /// Endpoint name.
    pub endpoint: String,
    /// Repository ARN.
    pub repository: String,
    /// Full ref name.
    pub reference: String,
    /// CodeCommit event name.
    pub event: String,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// The body, exactly as it is signed and sent.
    pub body: String,
}

/// One stored file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// File name (sorts in push order).
    pub key: String,
    /// Where it is.
    pub status: Status,
    /// Full path.
    pub path: PathBuf,
}

/// Why the outbox failed.
#[derive(Debug, thiserror::Error)]
#[error("event outbox {path}: {source}")]
pub struct OutboxError {
    /// The file or folder.
    pub path: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError {
        path: path.display().to_string(),
        source,
    }
}

/// The outbox rooted at `STATE_DIR/events`.
#[derive(Debug, Clone)]
pub struct Outbox {
    root: PathBuf,
}

static LAST_STAMP: AtomicU64 = AtomicU64::new(0);

/// A strictly increasing nanosecond stamp (never equal to the last one,
/// even when the clock stands still or steps back within this process).
fn next_stamp() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut last = LAST_STAMP.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST_STAMP.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// The creation stamp (nanoseconds) a key starts with.
pub fn key_stamp(key: &str) -> Option<u64> {
    key.split('-').next()?.parse().ok()
}

fn fsync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl Outbox {
    /// The outbox of `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            root: state_dir.join("events"),
        }
    }

    /// `STATE_DIR/events`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `endpoint`'s events in `status`.
    pub fn dir(&self, endpoint: &str, status: Status) -> PathBuf {
        self.root.join(endpoint).join(status.as_str())
    }

    /// Writes `deliveries` durably (all fsync'd, then renamed into
    /// `pending/`, then the folders fsync'd); returns when they are on
    /// disk. Order of `deliveries` is push order.
    pub fn append(&self, deliveries: &[Delivery]) -> Result<(), OutboxError> {
        let mut dirs = BTreeSet::new();
        let mut staged = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let dir = self.dir(&d.endpoint, Status::Pending);
            if !dirs.contains(&dir) {
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            }
            let key = format!("{:020}-{}.json", next_stamp(), d.id);
            let tmp = dir.join(format!(".tmp-{key}"));
            let data = serde_json::to_vec(d).map_err(|e| OutboxError {
                path: tmp.display().to_string(),
                source: std::io::Error::other(e),
            })?;
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&data).map_err(io_err(&tmp))?;
            staged.push((f, tmp, dir.join(key)));
            dirs.insert(dir);
        }
        // All written first, then all fsync'd: the first fsync commits the
        // file system's journal with every file of the push in it, so the
        // others find little left to do (measured in docs/PERFORMANCE.md).
        for (f, tmp, _) in &staged {
            f.sync_all().map_err(io_err(tmp))?;
        }
        for (_, tmp, path) in &staged {
            fs::rename(tmp, path).map_err(io_err(path))?;
        }
        for dir in &dirs {
            fsync_dir(dir)?;
        }
        Ok(())
    }

    /// The endpoints that have a folder.
    pub fn endpoints(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<String> = rd
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }

    /// The first `limit` keys of `endpoint`'s `status` folder in push
    /// order, and how many files it holds; reads the folder once keeping
    /// only `limit` names.
    pub fn first(&self, endpoint: &str, status: Status, limit: usize) -> (Vec<String>, u64) {
        let dir = self.dir(endpoint, status);
        let Ok(rd) = fs::read_dir(&dir) else {
            return (Vec::new(), 0);
        };
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut count = 0u64;
        for entry in rd.filter_map(Result::ok) {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            count += 1;
            if keep.len() < limit {
                keep.insert(name);
            } else if keep.last().is_some_and(|last| name < *last) {
                keep.pop_last();
                keep.insert(name);
            }
        }
        (keep.into_iter().collect(), count)
    }

    /// Reads one stored delivery.
    pub fn read(&self, endpoint: &str, status: Status, key: &str) -> Result<Delivery, OutboxError> {
        let path = self.dir(endpoint, status).join(key);
        let data = fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&data).map_err(|e| OutboxError {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Moves a file between folders (durably).
    pub fn rename(
        &self,
        endpoint: &str,
        key: &str,
        from: Status,
        to: Status,
    ) -> Result<(), OutboxError> {
        let dir = self.dir(endpoint, to);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let target = dir.join(key);
        fs::rename(self.dir(endpoint, from).join(key), &target).map_err(io_err(&target))?;
        fsync_dir(&dir)?;
        fsync_dir(&self.dir(endpoint, from))
    }

    /// Every stored file of every endpoint with `status` (or all), in push
    /// order within each endpoint (for the operator commands).
    pub fn list(&self, status: Option<Status>) -> Vec<Entry> {
        let mut out = Vec::new();
        for endpoint in self.endpoints() {
            for s in [Status::Pending, Status::Failed, Status::Delivered] {
                if status.is_some_and(|want| want != s) {
                    continue;
                }
                let dir = self.dir(&endpoint, s);
                let Ok(rd) = fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
                    .collect();
                names.sort();
                out.extend(names.into_iter().map(|key| Entry {
                    path: dir.join(&key),
                    key,
                    status: s,
                }));
            }
        }
        out
    }

    /// Removes leftovers of a crash between write and rename, and delivered
    /// events older than [`DELIVERED_RETENTION`].
    pub fn sweep(&self, endpoint: &str, now: SystemTime) {
        let cutoff = now
            .checked_sub(DELIVERED_RETENTION)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(0))
            .unwrap_or(0);
        for status in [Status::Pending, Status::Delivered] {
            let dir = self.dir(endpoint, status);
            let Ok(rd) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in rd.filter_map(Result::ok) {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                // A temporary file is being written by a push right now
                // unless it is old: only those of a crash go.
                let stale_tmp = name.starts_with(".tmp-")
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TMP);
                let expired = status == Status::Delivered
                    && key_stamp(&name).is_some_and(|stamp| stamp < cutoff);
                if stale_tmp || expired {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The wake-up file `gitiam events redeliver` touches: a paused
    /// endpoint probes at once.
    pub fn wake_file(&self, endpoint: &str) -> PathBuf {
        self.root.join(endpoint).join("wake")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(endpoint: &str, id: &str) -> Delivery {
        Delivery {
            id: id.into(),
            endpoint: endpoint.into(),
            repository: "arn:aws:codecommit:us-east-1:111122223333:demo".into(),
            reference: "refs/heads/main".into(),
            event: "referenceUpdated".into(),
            created: 0,
            body: "{}".into(),
        }
    }

    #[test]
    fn append_orders_moves_and_sweeps() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path());
        let batch: Vec<Delivery> = (0..50)
            .map(|i| delivery("ci", &format!("e{i:02}")))
            .collect();
        outbox.append(&batch).unwrap();
        outbox.append(&[delivery("other", "x")]).unwrap();
        let (first, count) = outbox.first("ci", Status::Pending, 3);
        assert_eq!(count, 50);
        let ids: Vec<String> = first
            .iter()
            .map(|k| outbox.read("ci", Status::Pending, k).unwrap().id)
            .collect();
        assert_eq!(ids, ["e00", "e01", "e02"]);
        outbox
            .rename("ci", &first[0], Status::Pending, Status::Delivered)
            .unwrap();
        assert_eq!(outbox.first("ci", Status::Pending, 100).1, 49);
        assert_eq!(outbox.list(Some(Status::Delivered)).len(), 1);
        assert_eq!(outbox.endpoints(), ["ci", "other"]);
        let tmp = outbox.dir("ci", Status::Pending).join(".tmp-x.json");
        std::fs::write(&tmp, b"{").unwrap();
        outbox.sweep("ci", SystemTime::now());
        assert!(tmp.exists(), "a file being written must stay");
        assert_eq!(outbox.list(Some(Status::Delivered)).len(), 1);
        outbox.sweep("ci", SystemTime::now() + DELIVERED_RETENTION * 2);
        assert!(!tmp.exists());
        assert!(outbox.list(Some(Status::Delivered)).is_empty());
        assert_eq!(outbox.first("ci", Status::Pending, 1).1, 49);
    }
}
