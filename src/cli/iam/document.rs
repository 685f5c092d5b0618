//! The configuration file as a format-preserving TOML document
//! (`toml_edit`): find an account, its users and groups, and the lists of a
//! user (`access_keys`, `ssh_keys`, `git_credentials`) whether they are
//! written as `[[...]]` tables or inline arrays; then save: the new text
//! must pass the server's own loader, and replaces the file atomically
//! with its mode, owner and group kept.
//!
//! The whole read-modify-write holds an exclusive lock on `<config>.lock`,
//! so two `gitiam iam` runs at once cannot lose an edit. The loader runs in
//! its checking mode ([`crate::shared::config::check_str`]): secrets the
//! server takes from its environment need not be in the administrator's.

use std::fs::File;
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::output::{CliError, IamError};
use crate::shared::config::{self, ConfigError};

/// What a command does with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads it (`list-*`): the lock is shared, and skipped when the
    /// lock file cannot be made (a read-only folder).
    Read,
    /// Changes it: the lock is exclusive and required.
    Write,
}

/// The open configuration file.
pub struct ConfigDocument {
    /// The file (symlinks resolved: the target is what gets replaced).
    path: PathBuf,
    /// The folder its relative paths are resolved from (as the server does).
    base: PathBuf,
    /// Its text when opened.
    original: String,
    /// The editable document.
    pub doc: DocumentMut,
    /// The account the command works on.
    pub account: String,
    /// `<path>.lock`, locked until the document is dropped (the end of the
    /// command); `None` only for reading when it could not be made.
    _lock: Option<File>,
}

impl ConfigDocument {
    /// Locks and reads `path` (which must pass the configuration loader)
    /// and picks the account: `account_id`, or the only one.
    pub fn open(path: &Path, account_id: Option<&str>, access: Access) -> Result<Self, CliError> {
        let base = config::base_dir(path);
        let resolved = std::fs::canonicalize(path).map_err(|source| {
            CliError::Invalid(ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        })?;
        let lock = lock(&resolved, access)?;
        let original = std::fs::read_to_string(&resolved).map_err(|source| {
            CliError::Invalid(ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        })?;
        config::check_str(path, &base, &original).map_err(CliError::Invalid)?;
        let path = resolved;
        let doc: DocumentMut = original
            .parse()
            .map_err(|e: toml_edit::TomlError| CliError::Parse(path.clone(), e.to_string()))?;
        let ids: Vec<String> = entries(doc.as_table(), "accounts")
            .iter()
            .filter_map(|a| str_of(*a, "id").map(str::to_string))
            .collect();
        let account = match account_id {
            Some(id) if ids.iter().any(|i| i == id) => id.to_string(),
            Some(id) => {
                return Err(CliError::Account(format!(
                    "account {id} is not in {}",
                    path.display()
                )));
            }
            None => match ids.as_slice() {
                [only] => only.clone(),
                [] => {
                    return Err(CliError::Account(format!(
                        "{} has no [[accounts]]",
                        path.display()
                    )));
                }
                _ => {
                    return Err(CliError::Account(format!(
                        "{} has several accounts ({}): choose one with --account-id",
                        path.display(),
                        ids.join(", ")
                    )));
                }
            },
        };
        Ok(Self {
            path,
            base,
            original,
            doc,
            account,
            _lock: lock,
        })
    }

    /// The chosen account's table.
    pub fn account(&self) -> Option<&dyn TableLike> {
        entries(self.doc.as_table(), "accounts")
            .into_iter()
            .find(|a| str_of(*a, "id") == Some(self.account.as_str()))
    }

    /// The chosen account's table, to edit.
    pub fn account_mut(&mut self) -> Option<&mut dyn TableLike> {
        let account = self.account.clone();
        let item = self.doc.as_table_mut().get_mut("accounts")?;
        let mut list = List::of(item)?;
        let i = list.position(|t| str_of(t, "id") == Some(account.as_str()))?;
        list.into_entry(i)
    }

    /// The users of the account, in file order.
    pub fn users(&self) -> Vec<&dyn TableLike> {
        self.account()
            .map(|a| entries(a, "users"))
            .unwrap_or_default()
    }

    /// The user `name` (IAM names are case-insensitive), or `NoSuchEntity`.
    pub fn user(&self, name: &str, operation: &'static str) -> Result<&dyn TableLike, IamError> {
        self.users()
            .into_iter()
            .find(|u| str_of(*u, "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .ok_or_else(|| IamError::no_such_user(name, operation))
    }

    /// The user `name`, to edit.
    pub fn user_mut(
        &mut self,
        name: &str,
        operation: &'static str,
    ) -> Result<&mut dyn TableLike, IamError> {
        let found = self
            .account_mut()
            .and_then(|a| a.get_mut("users"))
            .and_then(List::of)
            .and_then(|mut list| {
                let i = list.position(|u| {
                    str_of(u, "name").is_some_and(|n| n.eq_ignore_ascii_case(name))
                })?;
                list.into_entry(i)
            });
        found.ok_or_else(|| IamError::no_such_user(name, operation))
    }

    /// Checks the edited document with the configuration loader and, when
    /// it passes, replaces the file with it (atomically, mode and owner
    /// kept).
    pub fn save(&self) -> Result<(), CliError> {
        let text = self.doc.to_string();
        if text == self.original {
            return Ok(());
        }
        config::check_str(&self.path, &self.base, &text).map_err(CliError::Refused)?;
        replace_keeping_mode(&self.path, text.as_bytes())
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens (creating it if missing) and locks `<path>.lock`, a file of its
/// own: `path` itself is replaced by rename, so a lock on it would be on
/// the old inode. Waits for another `gitiam iam` holding it. The lock file
/// is empty; it is made readable by whoever may read the configuration
/// (its mode's read bits, its group), because opening it read-only is
/// enough to lock it: administrators who share the file through a group
/// then share the lock too.
fn lock(path: &Path, access: Access) -> Result<Option<File>, CliError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    let config_meta = std::fs::metadata(path).ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let readable = config_meta
            .as_ref()
            .map_or(0, |m| m.permissions().mode() & 0o044);
        options.mode(0o600 | readable);
    }
    // A lock file someone else made may be readable only: that is enough
    // to lock it.
    let opened = options
        .open(&lock_path)
        .or_else(|e| File::open(&lock_path).map_err(|_| e));
    #[cfg(unix)]
    if let (Ok(file), Some(meta)) = (&opened, &config_meta) {
        use std::os::unix::fs::MetadataExt;
        // Best effort: the creator's group otherwise; not a reason to fail.
        if file.metadata().is_ok_and(|m| m.gid() != meta.gid()) {
            let _ = std::os::unix::fs::fchown(file, None, Some(meta.gid()));
        }
    }
    let file = match (opened, access) {
        (Ok(file), _) => file,
        // Reading without the lock is safe: the file is only ever replaced
        // whole, by rename.
        (Err(_), Access::Read) => return Ok(None),
        (Err(e), Access::Write) => return Err(CliError::Lock(lock_path, e)),
    };
    let attempt = match access {
        Access::Read => file.try_lock_shared(),
        Access::Write => file.try_lock(),
    };
    let locked = match attempt {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "gitiam iam: waiting for another gitiam iam editing {} (lock {})",
                path.display(),
                lock_path.display()
            );
            match access {
                Access::Read => file.lock_shared(),
                Access::Write => file.lock(),
            }
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    };
    match (locked, access) {
        (Ok(()), _) => Ok(Some(file)),
        (Err(_), Access::Read) => Ok(None),
        (Err(e), Access::Write) => Err(CliError::Lock(lock_path, e)),
    }
}

/// Writes a sibling (owner-only from its first byte), gives it the owner,
/// group and mode of `path`, and renames it over `path`. A sibling that
/// cannot be given the owner (only root can give a file away) is removed
/// and the change refused: the file is left as it was.
fn replace_keeping_mode(path: &Path, data: &[u8]) -> Result<(), CliError> {
    let io = |e| CliError::Io(path.to_path_buf(), e);
    let metadata = std::fs::metadata(path).map_err(io)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let result =
        crate::shared::secret_file::write(&tmp, data, crate::shared::secret_file::Create::New)
            .map_err(io)
            .and_then(|()| keep_owner(path, &tmp, &metadata))
            // After the owner: changing it clears set-id bits.
            .and_then(|()| std::fs::set_permissions(&tmp, metadata.permissions()).map_err(io))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(io));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Gives `tmp` the owner and group of `path` (described by `original`)
/// where they differ.
#[cfg(unix)]
fn keep_owner(path: &Path, tmp: &Path, original: &std::fs::Metadata) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    let (uid, gid) = (original.uid(), original.gid());
    let new = std::fs::metadata(tmp).map_err(|e| CliError::Io(tmp.to_path_buf(), e))?;
    let differs = |want: u32, have: u32| (want != have).then_some(want);
    let (set_uid, set_gid) = (differs(uid, new.uid()), differs(gid, new.gid()));
    if set_uid.is_none() && set_gid.is_none() {
        return Ok(());
    }
    std::os::unix::fs::chown(tmp, set_uid, set_gid).map_err(|source| CliError::Owner {
        path: path.to_path_buf(),
        uid,
        gid,
        source,
    })
}

#[cfg(not(unix))]
fn keep_owner(_: &Path, _: &Path, _: &std::fs::Metadata) -> Result<(), CliError> {
    Ok(())
}

/// A string field of a table.
pub fn str_of<'a>(t: &'a dyn TableLike, key: &str) -> Option<&'a str> {
    t.get(key)?.as_str()
}

/// The tables of list `key` of `parent`, `[[key]]` or `key = [{...}]`.
pub fn entries<'a>(parent: &'a dyn TableLike, key: &str) -> Vec<&'a dyn TableLike> {
    match parent.get(key) {
        Some(Item::ArrayOfTables(aot)) => aot.iter().map(|t| t as &dyn TableLike).collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .filter_map(|v| v.as_inline_table().map(|t| t as &dyn TableLike))
            .collect(),
        _ => Vec::new(),
    }
}

/// A list of tables in either spelling, to edit.
pub enum List<'a> {
    /// `[[key]]` tables.
    Tables(&'a mut ArrayOfTables),
    /// `key = [{...}, ...]`.
    Inline(&'a mut Array),
}

impl<'a> List<'a> {
    /// The list `item` is, if it is one.
    pub fn of(item: &'a mut Item) -> Option<Self> {
        match item {
            Item::ArrayOfTables(aot) => Some(List::Tables(aot)),
            Item::Value(Value::Array(a)) => Some(List::Inline(a)),
            _ => None,
        }
    }

    /// Index of the first entry for which `pred` holds.
    pub fn position(&mut self, pred: impl Fn(&dyn TableLike) -> bool) -> Option<usize> {
        match self {
            List::Tables(aot) => aot.iter().position(|t| pred(t)),
            List::Inline(a) => a
                .iter()
                .position(|v| v.as_inline_table().is_some_and(|t| pred(t))),
        }
    }

    /// Entry `i`, consuming the borrow.
    pub fn into_entry(self, i: usize) -> Option<&'a mut dyn TableLike> {
        match self {
            List::Tables(aot) => aot.get_mut(i).map(|t| t as &mut dyn TableLike),
            List::Inline(a) => a
                .get_mut(i)?
                .as_inline_table_mut()
                .map(|t| t as &mut dyn TableLike),
        }
    }

    /// Removes entry `i`.
    pub fn remove(&mut self, i: usize) {
        match self {
            List::Tables(aot) => {
                aot.remove(i);
            }
            List::Inline(a) => {
                a.remove(i);
            }
        }
    }
}

/// Appends `entry` to list `key` of `parent`, in the list's spelling (a new
/// list is an inline array, or `[[...]]` tables for users and groups).
pub fn push(parent: &mut dyn TableLike, key: &str, entry: InlineTable, as_tables: bool) {
    match parent.get_mut(key) {
        Some(Item::ArrayOfTables(aot)) => aot.push(table_of(entry)),
        Some(Item::Value(Value::Array(a))) => push_inline(a, entry),
        _ => {
            let item = if as_tables {
                let mut aot = ArrayOfTables::new();
                aot.push(table_of(entry));
                Item::ArrayOfTables(aot)
            } else {
                let mut a = Array::new();
                a.push(entry);
                Item::Value(Value::Array(a))
            };
            parent.insert(key, item);
        }
    }
}

/// Appends to an inline array, laid out like its last element (one per
/// line in a multi-line array).
fn push_inline(a: &mut Array, entry: InlineTable) {
    let prefix = a
        .iter()
        .last()
        .and_then(|v| v.decor().prefix())
        .and_then(|p| p.as_str())
        // The indentation only: a comment above the last element stays its own.
        .map(|p| match p.rsplit_once('\n') {
            Some((_, indent)) => format!("\n{indent}"),
            None => p.to_string(),
        });
    let mut value = Value::InlineTable(entry);
    if let Some(prefix) = prefix {
        value.decor_mut().set_prefix(prefix);
        value.decor_mut().set_suffix("");
        a.push_formatted(value);
    } else {
        a.push(value);
    }
}

/// A `[[...]]` table with the fields of `entry`, after a blank line.
fn table_of(entry: InlineTable) -> Table {
    let mut table = Table::new();
    for (k, v) in entry.iter() {
        table.insert(k, Item::Value(v.clone()));
    }
    table.fmt();
    table.decor_mut().set_prefix("\n");
    table
}

/// Sets `key = value` in an entry, replacing the value but keeping its
/// surrounding spaces and comment.
pub fn set_str(t: &mut dyn TableLike, key: &str, value: &str) {
    match t.get_mut(key) {
        Some(Item::Value(v)) => {
            let decor = v.decor().clone();
            *v = Value::from(value);
            *v.decor_mut() = decor;
        }
        _ => {
            t.insert(key, toml_edit::value(value));
        }
    }
}

/// An inline table of string fields, in order.
pub fn inline(fields: &[(&str, &str)]) -> InlineTable {
    let mut t = InlineTable::new();
    for (k, v) in fields {
        t.insert(*k, Value::from(*v));
    }
    t.fmt();
    t
}
