//! Which refs a push really updates: `git receive-pack` follows symbolic
//! refs, so a command naming `refs/heads/alias` (a symref to
//! `refs/heads/main`) moves `refs/heads/main` (issue 13). Authorizing only
//! the name the client sent is not enough; [`RefTargets`] lists, for each
//! name, every ref the update goes through.
//!
//! What Git does (read in `builtin/receive-pack.c` and `refs/files-backend.c`):
//!
//! * `update()` queues both updates and deletes with flags 0, i.e. without
//!   `REF_NO_DEREF`. The files backend then splits an update of a symref
//!   into a reflog-only entry for the symref and a real update of its
//!   referent, recursively (`split_symref_update`). So pushing to an alias
//!   moves the final target, *deleting* an alias deletes the final target
//!   (the symref itself stays, now dangling), and creating a dangling alias
//!   creates the target. Only the final target changes value; the symref
//!   and any intermediate links get reflog entries.
//! * Before that, `check_aliased_update()` resolves every named ref fully
//!   (`refs_resolve_ref_unsafe`, at most [`SYMREF_MAXDEPTH`] reads). A
//!   symref that does not resolve (a loop, a chain too deep, a bad target
//!   name) is refused as "broken symref". If the final target is also named
//!   in the same push, the alias command is skipped when both carry the
//!   same old and new ids and both are refused ("inconsistent aliased
//!   update") otherwise; intermediate links are not compared.
//!
//! Two sources answer the question, each in a file of its own:
//!
//! * `loose.rs`: the embedded backend reads the bare repository's loose
//!   ref files as the files backend does, after checking that the
//!   repository stores its refs as files;
//! * `ls_refs.rs`: the upstream backend asks over Git protocol v2
//!   `ls-refs` with `symrefs`, whose `symref-target` is the *final* target.
//!
//! On a case-insensitive filesystem a name also reaches the refs whose
//! names differ from it only in case; `case.rs` finds them for the
//! embedded backend.
//!
//! This file holds what both share: [`RefTargets`], the answer, and the
//! check that every name asked about is a ref name.

mod case;
mod loose;
mod ls_refs;

use super::BackendError;
use crate::shared::git::receive_pack::is_valid_ref_name;

pub(crate) use loose::{locate_repository, read_config, resolve_all_loose};
pub use ls_refs::MAX_LS_REFS_BYTES;
pub(crate) use ls_refs::{ls_refs_request, parse_ls_refs, parse_v2_advertisement};

/// `parse_ls_refs` for the fuzz targets (`fuzz/`), outside the crate.
#[doc(hidden)]
pub fn fuzz_parse_ls_refs(body: &[u8], names: &[&str]) -> Result<Vec<RefTargets>, BackendError> {
    parse_ls_refs(body, names)
}

/// `parse_v2_advertisement` for the fuzz targets: the `object-format`.
#[doc(hidden)]
pub fn fuzz_parse_v2_advertisement(body: &[u8]) -> Result<Option<String>, BackendError> {
    parse_v2_advertisement(body).map(|a| a.object_format)
}

/// How many refs `refs_resolve_ref_unsafe` reads before giving up (Git's
/// `SYMREF_MAXDEPTH` in `refs.c`). A chain therefore has at most
/// `SYMREF_MAXDEPTH` refs: the name and four links.
pub const SYMREF_MAXDEPTH: usize = 5;

/// Every ref a push command naming [`name`](Self::name) updates.
///
/// [`targets`](Self::targets) is empty for a plain ref (or one that does not
/// exist). For a symbolic ref it lists the refs Git goes through, in order;
/// the last one is the final target, the only ref whose value changes, and
/// it may not exist yet (the push then creates it).
///
/// [`relatives`](Self::relatives) is empty unless the repository lives on a
/// case-insensitive filesystem (`core.ignorecase`, embedded backend only):
/// there `refs/heads/MAIN` opens the file of `refs/heads/main`, so a push
/// of one may move the other. It then lists every existing ref whose name
/// equals the name or a ref already listed, ignoring ASCII case, but
/// differs from it, each followed by the refs of its own symbolic-ref
/// chain; see `case.rs` for how they are found.
///
/// The order of [`refs`](Self::refs) and [`into_refs`](Self::into_refs),
/// every ref to authorize, each once:
///
/// 1. the name;
/// 2. its chain, [`targets`](Self::targets), ending with the final target;
/// 3. the case relatives, [`relatives`](Self::relatives), found breadth
///    first: the refs listed so far are taken in order (the name, its
///    targets, then the relatives themselves as they are added); for each,
///    its case-variants in byte order, each variant followed by the refs of
///    its chain not listed yet.
///
/// Over an upstream, Git's `ls-refs` tells only the final target, so
/// `targets` is then `[final]` even for a chain of several links, and
/// `relatives` stays empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTargets {
    /// The ref name the push command carries.
    pub name: String,
    /// The refs the update is passed on to, ending with the final target.
    pub targets: Vec<String>,
    /// Refs that a case-insensitive filesystem makes the same file as the
    /// name or one of the refs listed before them, and their chains.
    pub relatives: Vec<String>,
}

impl RefTargets {
    /// A name that is not a symbolic ref.
    pub fn plain(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            targets: Vec::new(),
            relatives: Vec::new(),
        }
    }

    /// True when the name is a symbolic ref.
    pub fn is_symbolic(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The ref Git resolves the name to: the final target of a symref, or
    /// the name itself. On a case-insensitive filesystem the file it names
    /// may also be that of a [relative](Self::relatives).
    pub fn final_ref(&self) -> &str {
        self.targets
            .last()
            .map_or(self.name.as_str(), String::as_str)
    }

    /// The name, the targets, then the relatives: every ref to authorize.
    pub fn refs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str())
            .chain(self.targets.iter().map(String::as_str))
            .chain(self.relatives.iter().map(String::as_str))
    }

    /// `[name, target1, ..., final, relative1, ...]`.
    pub fn into_refs(self) -> Vec<String> {
        let mut out = Vec::with_capacity(1 + self.targets.len() + self.relatives.len());
        out.push(self.name);
        out.extend(self.targets);
        out.extend(self.relatives);
        out
    }
}

fn refusal(msg: impl Into<String>) -> BackendError {
    BackendError::RefResolution(msg.into())
}

/// A path that does not exist: `ENOENT`, or `ENOTDIR` (a file where a
/// directory of the path should be), both a missing ref to Git.
fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Names asked about must be ref names receive-pack accepts (the push
/// parser already refuses others); they also become paths below the
/// repository, which this keeps safe.
pub(crate) fn check_names(names: &[&str]) -> Result<(), BackendError> {
    match names.iter().find(|n| !is_valid_ref_name(n)) {
        Some(bad) => Err(refusal(format!("{bad:?} is not a valid ref name"))),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod testing {
    //! Repositories made by `git` for the tests of every source.

    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    /// `git` with no user or system config and a fixed identity.
    pub(super) fn git(dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env_remove("GIT_DIR")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub(super) fn git_ok(dir: &Path, args: &[&str]) -> String {
        let out = git(dir, args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A bare repository `ROOT/111122223333/r.git` with a commit on main.
    pub(super) fn repo(init_args: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("111122223333").join("r.git");
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec!["init", "-q", "--bare", "-b", "main"];
        args.extend_from_slice(init_args);
        args.push(".");
        git_ok(&dir, &args);
        let tree = git_ok(&dir, &["mktree"]);
        let commit = git_ok(&dir, &["commit-tree", &tree, "-m", "first"]);
        git_ok(&dir, &["update-ref", "refs/heads/main", &commit]);
        (tmp, dir)
    }

    pub(super) fn symref(dir: &Path, name: &str, target: &str) {
        git_ok(dir, &["symbolic-ref", name, target]);
    }

    /// What `git symbolic-ref NAME` (full resolution, Git's depth limit)
    /// says is the final target; None when Git cannot resolve it.
    pub(super) fn git_final(dir: &Path, name: &str) -> Option<String> {
        let out = git(dir, &["symbolic-ref", "-q", name]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_ref_names() {
        assert!(check_names(&["refs/heads/main", "refs/tags/v1"]).is_ok());
        for bad in [
            "HEAD",
            "refs/heads/../../config",
            "refs/x",
            "/etc/passwd",
            "refs/heads/a..b",
        ] {
            assert!(check_names(&[bad]).is_err(), "{bad}");
        }
    }
}
