//! The configuration file as a format-preserving TOML document
//! (`toml_edit`): find an account, its users and groups, and the lists of a
//! user (`access_keys`, `ssh_keys`, `git_credentials`) whether they are
//! written as `[[...]]` tables or inline arrays; then save: the new text
//! must load with the server's own loader, and replaces the file atomically
//! with its mode kept.

use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::output::{CliError, IamError};

/// The open configuration file.
pub struct ConfigDocument {
    /// The file (symlinks resolved: the target is what gets replaced).
    path: PathBuf,
    /// Its text when opened.
    original: String,
    /// The editable document.
    pub doc: DocumentMut,
    /// The account the command works on.
    pub account: String,
}

impl ConfigDocument {
    /// Reads `path` (which must load as a configuration) and picks the
    /// account: `account_id`, or the only one.
    pub fn open(path: &Path, account_id: Option<&str>) -> Result<Self, CliError> {
        crate::shared::config::load(path).map_err(CliError::Invalid)?;
        let path = std::fs::canonicalize(path).map_err(|e| CliError::Io(path.to_path_buf(), e))?;
        let original = std::fs::read_to_string(&path).map_err(|e| CliError::Io(path.clone(), e))?;
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
            original,
            doc,
            account,
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
    /// it loads, replaces the file with it (atomically, mode kept).
    pub fn save(&self) -> Result<(), CliError> {
        let text = self.doc.to_string();
        if text == self.original {
            return Ok(());
        }
        let parent = self.path.parent().unwrap_or(Path::new("."));
        crate::shared::config::load_str(&self.path, parent, &text).map_err(CliError::Refused)?;
        replace_keeping_mode(&self.path, text.as_bytes())
            .map_err(|e| CliError::Io(self.path.clone(), e))
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes a sibling (owner-only from its first byte), gives it the mode of
/// `path`, and renames it over `path`.
fn replace_keeping_mode(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let result =
        crate::shared::secret_file::write(&tmp, data, crate::shared::secret_file::Create::New)
            .and_then(|()| std::fs::set_permissions(&tmp, permissions))
            .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
