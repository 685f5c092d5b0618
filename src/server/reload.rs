//! Configuration reload: every ~500 ms the modification times, sizes and
//! inodes of the configuration file, every policy file it references, the
//! folders holding them and the STS key file are compared with the last
//! seen ones; a change
//! (or SIGHUP) loads the whole configuration again. Only a configuration
//! that loads completely replaces the directory, in one atomic swap; a
//! broken edit is logged and the last good configuration keeps serving.
//!
//! `[[webhooks]]` are swapped with the directory: events created
//! afterwards go to the new endpoints.
//!
//! `[server]` and `[backend]` settings are read at start only; a change to
//! them is logged as needing a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::Signal;
use tokio::task::JoinHandle;

use crate::server::session::keys::KeySet;
use crate::shared::config;

use super::state::State;

/// How often files are checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What tells a file changed: modification time, size, and the inode
/// (device and number). The inode catches a file replaced by rename, as
/// `gitiam iam` and most editors do, even when the new file has the same
/// size and a modification time the file system cannot tell apart from the
/// old one (coarse timestamps).
type Stamp = Option<(SystemTime, u64, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.dev(), meta.ino()))
}

/// The files and folders to watch for a configuration made of `files`
/// (folders too: a policy file created or renamed into place changes its
/// folder even when the configuration still fails to load).
fn watch_list(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = files.to_vec();
    for f in files {
        if let Some(parent) = f.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            list.push(parent.to_path_buf());
        }
    }
    list.sort();
    list.dedup();
    list
}

fn stamps(list: &[PathBuf]) -> Vec<Stamp> {
    list.iter().map(|p| stamp(p)).collect()
}

/// Starts the reload task.
pub fn spawn(
    state: Arc<State>,
    config_path: PathBuf,
    files: Vec<PathBuf>,
    mut sighup: Signal,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut watched = watch_list(&files);
        let mut seen = stamps(&watched);
        let keys_path = state.sts.signing_keys.clone();
        let mut keys_seen = stamp(&keys_path);
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                _ = tick.tick() => false,
                _ = sighup.recv() => true,
            };
            let now = stamps(&watched);
            if forced || now != seen {
                seen = now;
                // Reading and parsing files is blocking work: keep it off
                // the threads serving requests.
                let path = config_path.clone();
                let loaded = tokio::task::spawn_blocking(move || config::load(&path)).await;
                let applied = match loaded {
                    Ok(result) => apply(&state, result, forced),
                    Err(e) => {
                        tracing::error!(error = %e, "configuration reload task failed");
                        None
                    }
                };
                if let Some(files) = applied {
                    watched = watch_list(&files);
                    seen = stamps(&watched);
                }
            }
            let keys_now = stamp(&keys_path);
            if forced || keys_now != keys_seen {
                keys_seen = keys_now;
                reload_keys(&state, &keys_path);
            }
        }
    })
}

/// Swaps a newly loaded configuration's directory in; returns its list of
/// files on success. A failed load changes nothing.
fn apply(
    state: &State,
    loaded: Result<config::Config, config::ConfigError>,
    forced: bool,
) -> Option<Vec<PathBuf>> {
    match loaded {
        Ok(new) => {
            if new.server.listen != state.server.listen
                || new.server.region != state.server.region
                || new.server.tls != state.server.tls
                || new.server.state_dir != state.server.state_dir
            {
                tracing::warn!("[server] settings changed: they take effect after a restart");
            }
            let users = new.directory.users().count();
            let keys = new.directory.access_key_count();
            state.directory.store(Arc::new(new.directory));
            // Events created from now on go to the new endpoints.
            let webhooks = new.webhooks.len();
            state.events.set_webhooks(new.webhooks);
            state.metrics.reload(true);
            tracing::info!(
                users,
                access_keys = keys,
                webhooks,
                sighup = forced,
                "configuration reloaded"
            );
            Some(new.files)
        }
        Err(e) => {
            state.metrics.reload(false);
            tracing::error!(
                error = %e,
                "configuration reload failed; the last good configuration keeps serving"
            );
            None
        }
    }
}

fn reload_keys(state: &State, path: &Path) {
    match KeySet::load(path) {
        Ok(keys) => {
            state.sts_keys.store(Arc::new(keys));
            tracing::info!(path = %path.display(), "STS signing keys reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "STS key file reload failed; keeping the loaded keys");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stamp;

    /// A Git credential reset keeps the file's size; on a file system with
    /// coarse timestamps the replacement can also keep its modification
    /// time. The rename still shows.
    #[test]
    fn a_same_size_same_time_replacement_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gitiam.toml");
        std::fs::write(&path, "password_hash = \"sha256:aaaa\"\n").unwrap();
        let before = stamp(&path);
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let tmp = dir.path().join("gitiam.toml.tmp");
        std::fs::write(&tmp, "password_hash = \"sha256:bbbb\"\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let after = stamp(&path);
        let (Some(b), Some(a)) = (before, after) else {
            panic!("no stamp")
        };
        assert_eq!((a.0, a.1), (b.0, b.1), "same time and size");
        assert_ne!(before, after, "the rename is seen");
    }
}
