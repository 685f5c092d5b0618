//! Files that hold secrets: TLS private keys, access keys in a demo
//! config, the STS key set, cached temporary credentials. They are created
//! owner-only (0600) from their first byte rather than chmod'ed afterwards,
//! so there is no moment at which another user can open them; and a file
//! that other processes read while it changes is replaced by rename, never
//! rewritten in place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Whether [`open`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Fail if the file exists (nothing is ever truncated by surprise).
    New,
    /// Create or truncate. An existing file keeps its mode: the caller owns
    /// that path already.
    Truncate,
}

/// Opens `path` for writing; a file it creates is readable by its owner only.
pub fn open(path: &Path, create: Create) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    match create {
        Create::New => options.create_new(true),
        Create::Truncate => options.create(true).truncate(true),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `data` to `path` (see [`open`]) and syncs it to disk.
pub fn write(path: &Path, data: &[u8], create: Create) -> io::Result<()> {
    let mut file = open(path, create)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Replaces `path` atomically with `data`: an owner-only sibling is written
/// and synced, then renamed over `path`, so a reader (another replica, a
/// concurrent helper) sees the old file or the new one, never half of one.
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // A sibling left by a crashed process with a reused pid.
    let _ = std::fs::remove_file(&tmp);
    let result = write(&tmp, data, Create::New).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_owner_only_and_new_never_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write(&path, b"one", Create::New).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            write(&path, b"two", Create::New).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write(&path, b"three", Create::Truncate).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
    }

    #[test]
    fn replace_is_a_rename_and_leaves_no_sibling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        replace(&path, b"old").unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // A target that cannot be renamed over (a directory) fails cleanly.
        let blocked = dir.path().join("dir");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(replace(&blocked, b"data").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
