//! Case relatives, for the embedded backend on a case-insensitive
//! filesystem (the repository's config says `core.ignorecase = true`, as
//! `git init` records after probing the filesystem).
//!
//! There `refs/heads/MAIN` and `refs/heads/main` are one loose file: a push
//! naming `refs/heads/MAIN` with main's id as old value (say
//! `--force-with-lease=refs/heads/MAIN:<oid>`) overwrites main, and a push
//! creating `refs/heads/MAIN` while main is only packed writes the loose
//! file that main's name then opens. So every existing ref whose name
//! equals a listed one ignoring ASCII case is authorized too
//! ([`Relatives`]), with its own symbolic-ref chain.
//!
//! "Existing" means a loose entry below `refs/` (file, directory or
//! symlink; found by listing each directory of the path and comparing
//! names case-insensitively, since opening the path would succeed for any
//! casing there) or an entry of `packed-refs`. A directory that cannot be
//! listed, or a `packed-refs` line that cannot be read, refuses the push.
//!
//! Only ASCII case is folded: the Unicode case folding and normalization
//! of some filesystems (APFS, NTFS) are not modelled.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::Path;

use super::{RefTargets, is_missing, refusal};
use crate::server::backend::BackendError;

/// A boolean config value as Git reads it (`git_parse_maybe_bool()` in
/// `parse.c`): a key without `=` is true, an empty value false,
/// `true`/`yes`/`on` and `false`/`no`/`off` in any case, or an integer
/// (`git_parse_int()`: C's base-0 `strtoimax`, an optional `k`/`m`/`g`
/// unit, within an `int`) that is true when not zero. `None` for anything
/// else, on which Git dies ("bad boolean config value").
pub(super) fn parse_bool(value: Option<&str>) -> Option<bool> {
    let Some(value) = value else {
        return Some(true);
    };
    if value.is_empty() {
        return Some(false);
    }
    let is = |words: [&str; 3]| words.iter().any(|w| value.eq_ignore_ascii_case(w));
    if is(["true", "yes", "on"]) {
        return Some(true);
    }
    if is(["false", "no", "off"]) {
        return Some(false);
    }
    parse_int(value).map(|v| v != 0)
}

/// `git_parse_signed(value, ..., INT_MAX)`.
fn parse_int(value: &str) -> Option<i64> {
    // strtoimax: leading C whitespace, a sign, then digits in base 16
    // (`0x` and a hex digit), 8 (a leading `0`) or 10; it stops at the
    // first byte that is not a digit of the base.
    let s = value.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_hexdigit()));
    let (radix, digits) = match hex {
        Some(rest) => (16, rest),
        None if s.starts_with('0') => (8, s),
        None => (10, s),
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let (number, unit) = digits.split_at_checked(end)?;
    if number.is_empty() {
        return None;
    }
    // Anything beyond an i64 is ERANGE to strtoimax; beyond an int, to Git.
    let magnitude = i64::from_str_radix(number, radix).ok()?;
    let factor: i64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return None,
    };
    let max = i64::from(i32::MAX);
    if magnitude > max / factor {
        return None;
    }
    let v = magnitude * factor;
    Some(if negative { -v } else { v })
}

/// Finds case relatives (see the module docs) in one repository, keeping
/// the directory listings and `packed-refs` it reads for the names that
/// follow.
pub(super) struct Relatives<'a> {
    gitdir: &'a Path,
    /// Entry names of directories below the git dir, by relative path.
    dirs: HashMap<String, Vec<String>>,
    /// `packed-refs` names by their lower-cased form, once read.
    packed: Option<HashMap<String, Vec<String>>>,
}

impl<'a> Relatives<'a> {
    pub(super) fn new(gitdir: &'a Path) -> Self {
        Self {
            gitdir,
            dirs: HashMap::new(),
            packed: None,
        }
    }

    /// Appends to `targets.relatives` (in the order [`RefTargets`]
    /// documents) the case-variants of the name, of its targets and of the
    /// relatives themselves, each variant followed by its chain as
    /// `resolve` (the loose-ref reader) gives it.
    pub(super) fn add_to(
        &mut self,
        targets: &mut RefTargets,
        resolve: impl Fn(&str) -> Result<RefTargets, BackendError>,
    ) -> Result<(), BackendError> {
        let mut next = 0;
        loop {
            let Some(current) = targets.refs().nth(next).map(str::to_owned) else {
                return Ok(());
            };
            next += 1;
            for variant in self.variants(&current)? {
                if targets.refs().any(|r| r == variant) {
                    continue;
                }
                for r in resolve(&variant)?.into_refs() {
                    if !targets.refs().any(|known| known == r) {
                        targets.relatives.push(r);
                    }
                }
            }
        }
    }

    /// The existing refs whose names equal `name` ignoring ASCII case but
    /// differ from it, in byte order.
    fn variants(&mut self, name: &str) -> Result<Vec<String>, BackendError> {
        let mut found = self.loose_variants(name)?;
        if let Some(packed) = self.packed()?.get(&name.to_ascii_lowercase()) {
            found.extend(packed.iter().cloned());
        }
        found.retain(|n| n != name);
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Walks the directories of `name` below `refs/` (a valid ref name
    /// starts with `refs/`), keeping at each level every entry whose name
    /// matches the component ignoring case; directories only, but at the
    /// last level.
    fn loose_variants(&mut self, name: &str) -> Result<Vec<String>, BackendError> {
        let mut components = name.split('/');
        let Some(first) = components.next() else {
            return Ok(Vec::new());
        };
        let components: Vec<&str> = components.collect();
        let mut level = vec![first.to_owned()];
        for (i, component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            let mut below = Vec::new();
            for dir in &level {
                let matching: Vec<String> = self
                    .list(dir, name)?
                    .iter()
                    .filter(|entry| entry.eq_ignore_ascii_case(component))
                    .cloned()
                    .collect();
                for entry in matching {
                    let path = format!("{dir}/{entry}");
                    if last || self.is_dir(&path, name)? {
                        below.push(path);
                    }
                }
            }
            level = below;
        }
        Ok(level)
    }

    /// The entry names of directory `dir` (relative to the git dir); none
    /// when it is missing or not a directory.
    fn list(&mut self, dir: &str, name: &str) -> Result<&[String], BackendError> {
        if !self.dirs.contains_key(dir) {
            let entries = read_dir_names(&self.gitdir.join(dir))
                .map_err(|e| refusal(format!("checking {name} for case-variants: {e}")))?;
            self.dirs.insert(dir.to_owned(), entries);
        }
        Ok(self.dirs.get(dir).map_or(&[], Vec::as_slice))
    }

    /// Whether `path` is a directory (following symlinks, as opening a
    /// path below it would).
    fn is_dir(&self, path: &str, name: &str) -> Result<bool, BackendError> {
        match std::fs::metadata(self.gitdir.join(path)) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(refusal(format!(
                "checking {name} for case-variants: {path}: {e}"
            ))),
        }
    }

    fn packed(&mut self) -> Result<&HashMap<String, Vec<String>>, BackendError> {
        if self.packed.is_none() {
            self.packed = Some(read_packed_names(&self.gitdir.join("packed-refs"))?);
        }
        Ok(self.packed.get_or_insert_default())
    }
}

/// Entry names (UTF-8 only: no other can match a ref name ignoring ASCII
/// case) of a directory; empty when it does not exist.
fn read_dir_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// The ref names of `packed-refs` (`# pack-refs with: ...` header, `OID
/// NAME` lines, `^OID` peeled lines), by lower-cased name; empty when
/// there is no such file. A line of another shape is refused: Git would
/// refuse the file too.
fn read_packed_names(path: &Path) -> Result<HashMap<String, Vec<String>>, BackendError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if is_missing(&e) => return Ok(HashMap::new()),
        Err(e) => return Err(refusal(format!("reading packed-refs: {e}"))),
    };
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| refusal(format!("reading packed-refs: {e}")))?;
        if line.is_empty() || line.starts_with(b"#") || line.starts_with(b"^") {
            continue;
        }
        let name = line
            .iter()
            .position(|b| *b == b' ')
            .and_then(|space| line.get(space + 1..))
            .filter(|name| !name.is_empty())
            .ok_or_else(|| refusal("packed-refs has a line that is not OID NAME"))?;
        if let Ok(name) = std::str::from_utf8(name) {
            names
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(name.to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::backend::symrefs::loose::RepoConfig;
    use crate::server::backend::symrefs::testing::{git, git_ok, repo, symref};
    use crate::server::backend::symrefs::{read_config, resolve_all_loose};
    use crate::server::backend::{CgiBackend, CgiConfig};
    use crate::shared::git::RepoName;

    const IGNORE_CASE: RepoConfig = RepoConfig { ignore_case: true };

    /// Every ref to authorize for each name, as the embedded backend
    /// resolves them with `config`.
    fn chains(dir: &Path, names: &[&str], config: RepoConfig) -> Vec<Vec<String>> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        resolve_all_loose(dir, &names, config)
            .unwrap()
            .into_iter()
            .map(RefTargets::into_refs)
            .collect()
    }

    fn chain(dir: &Path, name: &str) -> Vec<String> {
        chains(dir, &[name], IGNORE_CASE).remove(0)
    }

    async fn config_of(dir: &Path) -> Result<RepoConfig, BackendError> {
        let path = std::env::var_os("PATH");
        read_config(
            Path::new("git"),
            path.as_deref(),
            dir,
            std::time::Duration::from_secs(20),
        )
        .await
    }

    /// What `git config --type=bool --get core.ignorecase` says of
    /// `config`: `Some(bool)`, or `None` when Git refuses the value.
    fn git_bool(dir: &Path) -> Option<bool> {
        let out = git(
            dir,
            &[
                "config",
                "--file",
                "config",
                "--type=bool",
                "--get",
                "core.ignorecase",
            ],
        );
        match String::from_utf8_lossy(&out.stdout).trim() {
            "true" if out.status.success() => Some(true),
            "false" if out.status.success() => Some(false),
            _ => None,
        }
    }

    #[tokio::test]
    async fn ignorecase_spellings_as_git_reads_them() {
        let (_tmp, dir) = repo(&[]);
        // None: a key without `=`.
        let mut spellings: Vec<Option<&str>> = vec![None];
        spellings.extend(
            [
                "",
                "true",
                "TRUE",
                "Yes",
                "on",
                "1",
                "0",
                "2",
                "-1",
                "+1",
                "-0",
                "0x10",
                "0X1f",
                "010",
                "08",
                "1k",
                "1M",
                "0g",
                " 1",
                "false",
                "Off",
                "no",
                "NO",
                "maybe",
                "0x",
                "1kb",
                "1 k",
                "2147483647",
                "2147483648",
                "-2147483647",
                "99999999999",
                "2097151k",
                "2097152k",
                "1.0",
                "yes please",
            ]
            .map(Some),
        );
        for spelling in spellings {
            let line = match spelling {
                None => "\tignorecase\n".to_owned(),
                Some(v) => format!("\tignorecase = \"{v}\"\n"),
            };
            std::fs::write(
                dir.join("config"),
                format!("[core]\n\trepositoryformatversion = 0\n\tbare = true\n{line}"),
            )
            .unwrap();
            let by_git = git_bool(&dir);
            assert_eq!(parse_bool(spelling), by_git, "{spelling:?}");
            // The same through the one `git config --get-regexp` a push
            // runs; a value Git refuses refuses the push.
            match config_of(&dir).await {
                Ok(config) => assert_eq!(Some(config.ignore_case), by_git, "{spelling:?}"),
                Err(e) => {
                    assert_eq!(by_git, None, "{spelling:?}: {e}");
                    assert!(e.to_string().contains("not a boolean"), "{e}");
                }
            }
        }
        // Absent; set as git init does on such a filesystem; with
        // refStorage next to it.
        git_ok(&dir, &["config", "--unset", "core.ignorecase"]);
        assert_eq!(config_of(&dir).await.unwrap(), RepoConfig::default());
        git_ok(&dir, &["config", "core.ignorecase", "true"]);
        git_ok(&dir, &["config", "core.repositoryFormatVersion", "1"]);
        git_ok(&dir, &["config", "extensions.refStorage", "files"]);
        assert_eq!(config_of(&dir).await.unwrap(), IGNORE_CASE);
        // Any true value counts, though Git keeps the last one.
        git_ok(&dir, &["config", "--add", "core.ignorecase", "false"]);
        assert_eq!(config_of(&dir).await.unwrap(), IGNORE_CASE);
        // A subsection is another key.
        std::fs::write(
            dir.join("config"),
            "[core]\n\tbare = true\n[core \"x\"]\n\tignorecase = true\n",
        )
        .unwrap();
        assert_eq!(config_of(&dir).await.unwrap(), RepoConfig::default());
    }

    #[test]
    fn loose_case_variants() {
        let (_tmp, dir) = repo(&[]);
        for name in ["refs/heads/MAIN", "refs/heads/Main", "refs/HEADS/main"] {
            assert_eq!(chain(&dir, name), [name, "refs/heads/main"]);
        }
        assert_eq!(chain(&dir, "refs/heads/main"), ["refs/heads/main"]);
        assert_eq!(chain(&dir, "refs/heads/other"), ["refs/heads/other"]);
        // Not a case-variant: a longer or shorter name.
        assert_eq!(chain(&dir, "refs/heads/MAINS"), ["refs/heads/MAINS"]);
        assert_eq!(chain(&dir, "refs/heads/MAI"), ["refs/heads/MAI"]);
        // A directory entry counts as well (refs/heads/dir/x exists).
        git_ok(&dir, &["update-ref", "refs/heads/dir/x", "refs/heads/main"]);
        assert_eq!(
            chain(&dir, "refs/heads/DIR"),
            ["refs/heads/DIR", "refs/heads/dir"]
        );
        assert_eq!(
            chain(&dir, "refs/heads/DIR/X"),
            ["refs/heads/DIR/X", "refs/heads/dir/x"]
        );
        // Several variants (only Linux can hold them side by side): in
        // byte order.
        git_ok(&dir, &["update-ref", "refs/heads/mAin", "refs/heads/main"]);
        assert_eq!(
            chain(&dir, "refs/heads/MAIN"),
            ["refs/heads/MAIN", "refs/heads/mAin", "refs/heads/main"]
        );
        assert_eq!(
            chain(&dir, "refs/heads/main"),
            ["refs/heads/main", "refs/heads/mAin"]
        );
    }

    #[test]
    fn packed_case_variants() {
        let (_tmp, dir) = repo(&[]);
        git_ok(&dir, &["update-ref", "refs/tags/v1", "refs/heads/main"]);
        git_ok(&dir, &["pack-refs", "--all"]);
        assert!(!dir.join("refs/heads/main").exists());
        assert!(
            std::fs::read_to_string(dir.join("packed-refs"))
                .unwrap()
                .contains(" refs/heads/main\n")
        );
        for name in ["refs/heads/MAIN", "refs/heads/Main"] {
            assert_eq!(chain(&dir, name), [name, "refs/heads/main"]);
        }
        assert_eq!(
            chain(&dir, "refs/TAGS/V1"),
            ["refs/TAGS/V1", "refs/tags/v1"]
        );
        // Loose and packed at once: listed once.
        let tree = git_ok(&dir, &["mktree"]);
        let second = git_ok(&dir, &["commit-tree", &tree, "-p", "main", "-m", "second"]);
        git_ok(&dir, &["update-ref", "refs/heads/main", &second]);
        assert!(dir.join("refs/heads/main").exists());
        assert_eq!(
            chain(&dir, "refs/heads/MAIN"),
            ["refs/heads/MAIN", "refs/heads/main"]
        );
        // A line Git would not read either.
        let mut packed = std::fs::read_to_string(dir.join("packed-refs")).unwrap();
        packed.push_str("garbage\n");
        std::fs::write(dir.join("packed-refs"), packed).unwrap();
        let names = ["refs/heads/MAIN".to_owned()];
        assert!(resolve_all_loose(&dir, &names, IGNORE_CASE).is_err());
        // Not read at all without core.ignorecase.
        assert!(resolve_all_loose(&dir, &names, RepoConfig::default()).is_ok());
    }

    #[test]
    fn variants_are_followed_through_symrefs() {
        let (_tmp, dir) = repo(&[]);
        git_ok(&dir, &["update-ref", "refs/heads/dev", "refs/heads/main"]);
        // A case-variant that is itself a symref: its chain follows it.
        symref(&dir, "refs/heads/alias", "refs/heads/dev");
        assert_eq!(
            chain(&dir, "refs/heads/ALIAS"),
            ["refs/heads/ALIAS", "refs/heads/alias", "refs/heads/dev"]
        );
        // A symref whose target differs in case from an existing ref.
        symref(&dir, "refs/heads/up", "refs/heads/MAIN");
        assert_eq!(
            chain(&dir, "refs/heads/up"),
            ["refs/heads/up", "refs/heads/MAIN", "refs/heads/main"]
        );
        // Both: a variant of the name whose target has a variant; the
        // name's chain first, then the relatives breadth first.
        symref(&dir, "refs/heads/Up", "refs/heads/Dev");
        assert_eq!(
            chain(&dir, "refs/heads/UP"),
            [
                "refs/heads/UP",
                "refs/heads/Up",
                "refs/heads/Dev",
                "refs/heads/up",
                "refs/heads/MAIN",
                "refs/heads/dev",
                "refs/heads/main",
            ]
        );
        assert_eq!(
            chain(&dir, "refs/heads/up"),
            [
                "refs/heads/up",
                "refs/heads/MAIN",
                "refs/heads/Up",
                "refs/heads/Dev",
                "refs/heads/main",
                "refs/heads/dev",
            ]
        );
        // A variant whose chain Git cannot resolve refuses the push.
        symref(&dir, "refs/heads/l1", "refs/heads/L1");
        symref(&dir, "refs/heads/L1", "refs/heads/l1");
        let names = ["refs/heads/l1".to_owned()];
        assert!(resolve_all_loose(&dir, &names, IGNORE_CASE).is_err());
    }

    #[test]
    fn without_ignorecase_nothing_is_added() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        let names = ["refs/heads/MAIN", "refs/heads/Main", "refs/heads/ALIAS"];
        let expected: Vec<Vec<String>> = names.iter().map(|n| vec![(*n).to_owned()]).collect();
        assert_eq!(chains(&dir, &names, RepoConfig::default()), expected);
        git_ok(&dir, &["pack-refs", "--all"]);
        assert_eq!(chains(&dir, &names, RepoConfig::default()), expected);
    }

    #[test]
    fn unreadable_directories_fail_closed() {
        let (_tmp, dir) = repo(&[]);
        // A directory entry that cannot be followed (ELOOP).
        std::os::unix::fs::symlink("Tags", dir.join("refs/Tags")).unwrap();
        let names = ["refs/tags/v1".to_owned()];
        let err = resolve_all_loose(&dir, &names, IGNORE_CASE).unwrap_err();
        assert!(matches!(err, BackendError::RefResolution(_)), "{err:?}");
        // As the last component it is an existing entry, whose chain
        // cannot be read (a link that is not a ref name): refused too.
        let names = ["refs/TAGS/x".to_owned(), "refs/TAGS".to_owned()];
        for name in names {
            assert!(resolve_all_loose(&dir, &[name], IGNORE_CASE).is_err());
        }
        // A directory that cannot be listed (root reads anything).
        use std::os::unix::fs::PermissionsExt as _;
        let heads = dir.join("refs/heads");
        std::fs::set_permissions(&heads, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read_dir(&heads).is_err() {
            let names = ["refs/heads/MAIN".to_owned()];
            assert!(resolve_all_loose(&dir, &names, IGNORE_CASE).is_err());
        } else {
            eprintln!("SKIPPED: running as root, mode 000 does not stop read_dir");
        }
        std::fs::set_permissions(&heads, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[tokio::test]
    async fn cgi_backend_push_targets_with_ignorecase() {
        let (tmp, dir) = repo(&[]);
        let backend = CgiBackend::new(CgiConfig::new(tmp.path())).unwrap();
        let repo = RepoName::parse("r").unwrap();
        let names = ["refs/heads/MAIN", "refs/heads/Main", "refs/heads/main"];
        let push = || async {
            backend
                .push_targets("111122223333", &repo, &names)
                .await
                .unwrap()
                .into_iter()
                .map(RefTargets::into_refs)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            push().await,
            [
                vec!["refs/heads/MAIN"],
                vec!["refs/heads/Main"],
                vec!["refs/heads/main"]
            ]
        );
        git_ok(&dir, &["config", "core.ignorecase", "false"]);
        assert_eq!(push().await[0], ["refs/heads/MAIN"]);
        git_ok(&dir, &["config", "core.ignorecase", "true"]);
        let got = push().await;
        assert_eq!(
            got,
            [
                vec!["refs/heads/MAIN", "refs/heads/main"],
                vec!["refs/heads/Main", "refs/heads/main"],
                vec!["refs/heads/main"]
            ]
        );
        git_ok(&dir, &["pack-refs", "--all"]);
        assert_eq!(push().await, got);
        // A value Git cannot read refuses the push.
        git_ok(&dir, &["config", "core.ignorecase", "maybe"]);
        let err = backend
            .push_targets("111122223333", &repo, &names)
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::RefResolution(_)), "{err:?}");
    }
}
