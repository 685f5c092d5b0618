//! Temporary credentials from STS cached on disk, so that every git
//! operation does not call STS: one JSON file per profile and role under
//! the user's cache directory (`$XDG_CACHE_HOME/gitiam` or
//! `~/.cache/gitiam` on Linux), created with mode 0600 in a 0700 directory,
//! reused until five minutes before the credentials expire.

use super::Credentials;
use crate::shared::secret_file;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Cached credentials are not used within this margin of their expiry.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The on-disk cache.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// Unix seconds.
    expiration: u64,
}

impl DiskCache {
    /// The cache under the platform's user cache directory, if there is one.
    pub fn default_location() -> Option<Self> {
        dirs::cache_dir().map(|d| Self::at(d.join("gitiam")))
    }

    /// A cache in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for `profile` and the request identified by `key` (role,
    /// endpoint, ...). The file name starts with a digest of the profile so
    /// that `erase` can find every entry of a profile.
    fn path(&self, profile: &str, key: &str) -> PathBuf {
        let p = crate::shared::sigv4::sha256_hex(profile.as_bytes());
        let k = crate::shared::sigv4::sha256_hex(format!("{profile}\n{key}").as_bytes());
        self.dir.join(format!(
            "sts-{}-{}.json",
            p.get(..16).unwrap_or(&p),
            k.get(..32).unwrap_or(&k)
        ))
    }

    /// Cached credentials still valid for at least [`REFRESH_MARGIN`] after
    /// `now`. Unreadable or stale entries are ignored.
    pub fn load(&self, profile: &str, key: &str, now: SystemTime) -> Option<Credentials> {
        let bytes = std::fs::read(self.path(profile, key)).ok()?;
        let e: Entry = serde_json::from_slice(&bytes).ok()?;
        let expiration = UNIX_EPOCH + Duration::from_secs(e.expiration);
        if expiration < now + REFRESH_MARGIN {
            return None;
        }
        Some(Credentials::new(
            e.access_key_id,
            e.secret_access_key,
            e.session_token,
            Some(expiration),
        ))
    }

    /// Stores `creds` (which must have an expiration) atomically with mode
    /// 0600.
    pub fn store(&self, profile: &str, key: &str, creds: &Credentials) -> std::io::Result<()> {
        let Some(expiration) = creds.expiration else {
            return Ok(());
        };
        let entry = Entry {
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key().to_owned(),
            session_token: creds.session_token.clone(),
            expiration: expiration
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let json = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        create_private_dir(&self.dir)?;
        let path = self.path(profile, key);
        secret_file::replace(&path, &json)
    }

    /// Removes every cached entry of `profile`; returns how many.
    pub fn erase_profile(&self, profile: &str) -> std::io::Result<usize> {
        let p = crate::shared::sigv4::sha256_hex(profile.as_bytes());
        let prefix = format!("sts-{}-", p.get(..16).unwrap_or(&p));
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
            {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_load_expire_erase() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(dir.path().join("gitiam"));
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let creds = Credentials::new(
            "ASIA1",
            "s",
            Some("t".into()),
            Some(now + Duration::from_secs(3600)),
        );
        cache.store("dev", "role-a", &creds).unwrap();
        cache.store("dev", "role-b", &creds).unwrap();
        cache.store("prod", "role-a", &creds).unwrap();
        assert_eq!(cache.load("dev", "role-a", now), Some(creds.clone()));
        assert_eq!(cache.load("dev", "role-c", now), None);
        // Within five minutes of expiry: not reused.
        assert_eq!(
            cache.load("dev", "role-a", now + Duration::from_secs(3600 - 299)),
            None
        );
        assert!(
            cache
                .load("dev", "role-a", now + Duration::from_secs(3600 - 301))
                .is_some()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for e in std::fs::read_dir(cache.dir()).unwrap() {
                let mode = e.unwrap().metadata().unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }
            let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert_eq!(cache.erase_profile("dev").unwrap(), 2);
        assert_eq!(cache.load("dev", "role-a", now), None);
        assert!(cache.load("prod", "role-a", now).is_some());
        assert_eq!(
            DiskCache::at(dir.path().join("none"))
                .erase_profile("dev")
                .unwrap(),
            0
        );
    }
}
