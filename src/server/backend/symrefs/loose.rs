//! The embedded backend's answer: where `git http-backend` finds the
//! repository, whether its refs are files, and the chain of loose ref
//! files a name leads through, read as Git's files backend reads them.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::{RefTargets, SYMREF_MAXDEPTH, case, is_missing, refusal};
use crate::server::backend::BackendError;
use crate::shared::git::receive_pack::is_valid_ref_name;

/// Largest loose ref file read. Git's own files are a 40/64-digit id or
/// `ref: ` and a ref name plus a newline.
const MAX_LOOSE_REF_BYTES: u64 = 4096;

/// Where `git http-backend` finds the repository for directory `base`
/// (`GIT_PROJECT_ROOT/ACCOUNT/NAME.git`): `enter_repo()` (setup.c, not
/// strict) tries `base/.git`, `base`, `base.git/.git` and `base.git`, and
/// takes the first that is a regular file (a gitfile) or a Git directory.
///
/// Only `base` itself, a bare repository, is supported: any other match is
/// refused rather than resolved in the wrong place. `Ok(None)` when nothing
/// matches: http-backend answers 404 and no ref can be updated.
pub(crate) fn locate_repository(base: &Path) -> Result<Option<PathBuf>, BackendError> {
    let mut with_git = base.as_os_str().to_owned();
    with_git.push(".git");
    let with_git = PathBuf::from(with_git);
    let candidates = [
        base.join(".git"),
        base.to_path_buf(),
        with_git.join(".git"),
        with_git,
    ];
    for (i, candidate) in candidates.into_iter().enumerate() {
        let meta = match std::fs::metadata(&candidate) {
            Ok(m) => m,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(refusal(format!("inspecting the repository: {e}"))),
        };
        let is_repo = meta.is_file() || (meta.is_dir() && is_git_directory(&candidate)?);
        if !is_repo {
            continue;
        }
        if i != 1 || !meta.is_dir() {
            return Err(refusal(
                "git would serve this repository from another path than NAME.git \
                 (a .git entry, a gitfile or a NAME.git.git directory); refused",
            ));
        }
        // A linked worktree's git dir keeps shared refs elsewhere.
        if candidate.join("commondir").exists() {
            return Err(refusal(
                "repositories with a commondir file are not supported",
            ));
        }
        return Ok(Some(candidate));
    }
    Ok(None)
}

/// Git's `is_git_directory()`, approximately: `objects/` and `refs/`
/// directories and a `HEAD`.
fn is_git_directory(dir: &Path) -> Result<bool, BackendError> {
    let exists = |p: PathBuf, want_dir: bool| match std::fs::metadata(&p) {
        Ok(m) => Ok(if want_dir { m.is_dir() } else { true }),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(refusal(format!("inspecting the repository: {e}"))),
    };
    Ok(exists(dir.join("objects"), true)?
        && exists(dir.join("refs"), true)?
        && exists(dir.join("HEAD"), false)?)
}

/// What the embedded backend needs from the repository's config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RepoConfig {
    /// `core.ignorecase`: the repository lives on a case-insensitive
    /// filesystem (Git probes and records it at `git init`), where names
    /// differing only in case are one loose file.
    pub ignore_case: bool,
}

/// Reads the repository's config with one `git config --file
/// GITDIR/config --get-regexp` over `extensions.refStorage` and
/// `core.ignorecase`, so the file is parsed as Git parses it.
///
/// Refuses repositories whose refs are not stored as files: their loose
/// files (reftable repositories keep a stub `refs/heads` and a `HEAD`
/// pointing at `refs/heads/.invalid`) say nothing about the real refs.
/// Git reads the repository format without includes, as this does. Any
/// `extensions.refStorage` value other than `files` is refused, even in a
/// version-0 repository (stricter than Git).
///
/// `core.ignorecase` is read as Git reads a boolean (see
/// `case::parse_bool`). Where Git keeps the last value, any value that is
/// true counts here (stricter); a value Git cannot read as a boolean is
/// refused (Git would die on it). Includes, system and global config are
/// not read.
pub(crate) async fn read_config(
    git: &Path,
    path_env: Option<&std::ffi::OsStr>,
    gitdir: &Path,
    timeout: std::time::Duration,
) -> Result<RepoConfig, BackendError> {
    let mut cmd = tokio::process::Command::new(git);
    cmd.env_clear()
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .arg("config")
        .arg("--null")
        .arg("--file")
        .arg(gitdir.join("config"))
        .arg("--get-regexp")
        .arg(r"^(extensions\.refstorage|core\.ignorecase)$")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(path) = path_env {
        cmd.env("PATH", path);
    }
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| BackendError::Timeout(timeout))?
        .map_err(BackendError::Start)?;
    match out.status.code() {
        // Neither is set: the files backend, a case-sensitive filesystem.
        Some(1) => Ok(RepoConfig::default()),
        Some(0) => parse_config_entries(&out.stdout),
        _ => Err(refusal(format!(
            "reading the repository's config failed ({})",
            out.status
        ))),
    }
}

/// The output of `git config --null --get-regexp`: entries ending in NUL,
/// each `KEY` (a key without `=`, true to Git) or `KEY\nVALUE`. Keys come
/// lower-cased from Git.
fn parse_config_entries(stdout: &[u8]) -> Result<RepoConfig, BackendError> {
    let text = String::from_utf8_lossy(stdout);
    let mut config = RepoConfig::default();
    for entry in text.split_terminator('\0') {
        let (key, value) = match entry.split_once('\n') {
            Some((k, v)) => (k, Some(v)),
            None => (entry, None),
        };
        match key {
            "extensions.refstorage" if value == Some("files") => {}
            "extensions.refstorage" => {
                return Err(refusal(format!(
                    "the repository stores its refs as {:?}; only the files \
                     backend can be checked for symbolic refs",
                    value.unwrap_or_default()
                )));
            }
            "core.ignorecase" => match case::parse_bool(value) {
                Some(true) => config.ignore_case = true,
                Some(false) => {}
                None => {
                    return Err(refusal(format!(
                        "core.ignorecase = {:?} is not a boolean to Git",
                        value.unwrap_or_default()
                    )));
                }
            },
            _ => {}
        }
    }
    Ok(config)
}

/// What a loose ref file says.
#[derive(Debug, PartialEq, Eq)]
enum Loose {
    /// `ref: TARGET` (or a symlink to `refs/...`).
    Symbolic(String),
    /// An object id, or no loose file. Either way not a symref: a
    /// `packed-refs` entry is never symbolic, so whatever packed-refs holds
    /// for this name cannot continue the chain.
    NotSymbolic,
}

/// Reads loose ref `name` of `gitdir` as `read_ref_internal()` in
/// `refs/files-backend.c` does, as far as symbolic-ness goes.
fn read_loose(gitdir: &Path, name: &str) -> Result<Loose, BackendError> {
    let path = gitdir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        // ENOENT: Git looks in packed-refs, which holds no symrefs.
        // ENOTDIR (a file where a directory of the path should be): a
        // missing ref to Git.
        Err(e) if is_missing(&e) => return Ok(Loose::NotSymbolic),
        Err(e) => return Err(refusal(format!("reading ref {name}: {e}"))),
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        // Git's old symlink symrefs: a link whose text is a ref name.
        let link =
            std::fs::read_link(&path).map_err(|e| refusal(format!("reading ref {name}: {e}")))?;
        return match link.to_str() {
            Some(target) if is_valid_ref_name(target) => Ok(Loose::Symbolic(target.to_owned())),
            // Git would follow a link to anywhere and read that file.
            _ => Err(refusal(format!(
                "ref {name} is a symbolic link that is not a ref name"
            ))),
        };
    }
    if file_type.is_dir() {
        // EISDIR: a packed entry or nothing; not a symref either way.
        return Ok(Loose::NotSymbolic);
    }
    if !file_type.is_file() {
        return Err(refusal(format!("ref {name} is not a regular file")));
    }
    let mut contents = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_LOOSE_REF_BYTES + 1).read_to_end(&mut contents))
        .map_err(|e| refusal(format!("reading ref {name}: {e}")))?;
    if contents.len() as u64 > MAX_LOOSE_REF_BYTES {
        return Err(refusal(format!("ref {name} is too large")));
    }
    parse_loose(&contents).ok_or_else(|| refusal(format!("ref {name} is not a valid loose ref")))
}

/// Git's `isspace` (space, tab, newline, carriage return).
fn git_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `parse_loose_ref_contents()` after `strbuf_rtrim`: `ref:` then optional
/// spaces then the target, or an object id followed by nothing or a space.
/// A target that is not a valid ref name is refused (`None`): Git would
/// fail to resolve it too, except for one-level names such as `HEAD`, which
/// this refuses as well.
fn parse_loose(contents: &[u8]) -> Option<Loose> {
    let text = std::str::from_utf8(contents)
        .ok()?
        .trim_end_matches(git_space);
    if let Some(rest) = text.strip_prefix("ref:") {
        let target = rest.trim_start_matches(git_space);
        return is_valid_ref_name(target).then(|| Loose::Symbolic(target.to_owned()));
    }
    let hex_len = text.find(git_space).unwrap_or(text.len());
    let hex = text.get(..hex_len)?;
    ((hex.len() == 40 || hex.len() == 64) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(Loose::NotSymbolic)
}

/// Follows `name` through the loose refs of the bare repository `gitdir`
/// as `refs_resolve_ref_unsafe()` does: at most [`SYMREF_MAXDEPTH`] reads,
/// stopping at the first ref that is not symbolic (whether it exists or
/// not). A loop or a longer chain is an error (receive-pack refuses such a
/// push as "broken symref").
///
/// `packed-refs` is not read: it cannot hold a symref, and a loose file
/// shadows any packed entry of the same name, so it never changes where a
/// chain goes or ends.
pub(super) fn resolve_loose(gitdir: &Path, name: &str) -> Result<RefTargets, BackendError> {
    let mut result = RefTargets::plain(name);
    let mut current = name.to_owned();
    for _ in 0..SYMREF_MAXDEPTH {
        match read_loose(gitdir, &current)? {
            Loose::NotSymbolic => return Ok(result),
            Loose::Symbolic(target) => {
                if result.refs().any(|r| r == target) {
                    return Err(refusal(format!(
                        "symbolic ref {name} loops through {target}"
                    )));
                }
                result.targets.push(target.clone());
                current = target;
            }
        }
    }
    Err(refusal(format!(
        "symbolic ref {name} goes through more refs than Git follows ({SYMREF_MAXDEPTH})"
    )))
}

/// [`resolve_loose`] for each name; with `config.ignore_case`, each
/// answer also gets its case relatives (`case::Relatives`).
pub(crate) fn resolve_all_loose(
    gitdir: &Path,
    names: &[String],
    config: RepoConfig,
) -> Result<Vec<RefTargets>, BackendError> {
    let mut relatives = config.ignore_case.then(|| case::Relatives::new(gitdir));
    names
        .iter()
        .map(|n| {
            let mut targets = resolve_loose(gitdir, n)?;
            if let Some(relatives) = &mut relatives {
                relatives.add_to(&mut targets, |variant| resolve_loose(gitdir, variant))?;
            }
            Ok(targets)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::backend::symrefs::testing::{git, git_final, git_ok, repo, symref};
    use crate::server::backend::{CgiBackend, CgiConfig};

    fn chain(dir: &Path, name: &str) -> Vec<String> {
        resolve_loose(dir, name).unwrap().into_refs()
    }

    fn refused(dir: &Path, name: &str) -> String {
        match resolve_loose(dir, name) {
            Err(BackendError::RefResolution(msg)) => msg,
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn plain_and_absent_refs() {
        let (_tmp, dir) = repo(&[]);
        assert_eq!(chain(&dir, "refs/heads/main"), ["refs/heads/main"]);
        assert_eq!(chain(&dir, "refs/heads/nope"), ["refs/heads/nope"]);
        // A file where a directory of the path would be (ENOTDIR).
        assert_eq!(chain(&dir, "refs/heads/main/x"), ["refs/heads/main/x"]);
        // A directory (EISDIR): refs/heads/dir/x exists.
        git_ok(&dir, &["update-ref", "refs/heads/dir/x", "refs/heads/main"]);
        assert_eq!(chain(&dir, "refs/heads/dir"), ["refs/heads/dir"]);
    }

    #[test]
    fn symref_and_chain_of_two() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        let r = resolve_loose(&dir, "refs/heads/alias").unwrap();
        assert!(r.is_symbolic());
        assert_eq!(r.final_ref(), "refs/heads/main");
        assert_eq!(r.into_refs(), ["refs/heads/alias", "refs/heads/main"]);

        symref(&dir, "refs/tags/outer", "refs/heads/alias");
        assert_eq!(
            chain(&dir, "refs/tags/outer"),
            ["refs/tags/outer", "refs/heads/alias", "refs/heads/main"]
        );
        assert_eq!(
            git_final(&dir, "refs/tags/outer").unwrap(),
            "refs/heads/main"
        );
    }

    #[test]
    fn depth_limit_matches_git() {
        let (_tmp, dir) = repo(&[]);
        // c1 -> c2 -> c3 -> c4 -> main: five refs, Git resolves it.
        for i in 1..=4 {
            let target = if i == 4 {
                "refs/heads/main".to_owned()
            } else {
                format!("refs/heads/c{}", i + 1)
            };
            symref(&dir, &format!("refs/heads/c{i}"), &target);
        }
        let got = chain(&dir, "refs/heads/c1");
        assert_eq!(got.len(), SYMREF_MAXDEPTH);
        assert_eq!(got.last().unwrap(), "refs/heads/main");
        assert_eq!(git_final(&dir, "refs/heads/c1").unwrap(), "refs/heads/main");
        // c0 -> c1 -> ... -> main: one more, Git gives up and so do we.
        symref(&dir, "refs/heads/c0", "refs/heads/c1");
        assert_eq!(git_final(&dir, "refs/heads/c0"), None);
        assert!(refused(&dir, "refs/heads/c0").contains("more refs"));
    }

    #[test]
    fn loops_are_refused() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/l1", "refs/heads/l2");
        symref(&dir, "refs/heads/l2", "refs/heads/l1");
        assert_eq!(git_final(&dir, "refs/heads/l1"), None);
        assert!(refused(&dir, "refs/heads/l1").contains("loops"));
        symref(&dir, "refs/heads/self", "refs/heads/self");
        assert!(refused(&dir, "refs/heads/self").contains("loops"));
    }

    #[test]
    fn packed_refs() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        // A plain ref that a symref will later shadow.
        git_ok(
            &dir,
            &["update-ref", "refs/heads/shadow", "refs/heads/main"],
        );
        git_ok(&dir, &["pack-refs", "--all"]);
        let packed = std::fs::read_to_string(dir.join("packed-refs")).unwrap();
        assert!(packed.contains(" refs/heads/main\n") && packed.contains(" refs/heads/shadow\n"));
        assert!(!dir.join("refs/heads/main").exists());
        // The target lives only in packed-refs; symrefs are never packed.
        assert!(dir.join("refs/heads/alias").exists());
        assert_eq!(
            chain(&dir, "refs/heads/alias"),
            ["refs/heads/alias", "refs/heads/main"]
        );
        assert_eq!(chain(&dir, "refs/heads/main"), ["refs/heads/main"]);
        assert_eq!(chain(&dir, "refs/heads/shadow"), ["refs/heads/shadow"]);

        // A loose symref shadows the packed plain entry of the same name.
        symref(&dir, "refs/heads/shadow", "refs/heads/main");
        assert!(
            std::fs::read_to_string(dir.join("packed-refs"))
                .unwrap()
                .contains(" refs/heads/shadow\n")
        );
        assert_eq!(
            git_final(&dir, "refs/heads/shadow").unwrap(),
            "refs/heads/main"
        );
        assert_eq!(
            chain(&dir, "refs/heads/shadow"),
            ["refs/heads/shadow", "refs/heads/main"]
        );
        // And a loose plain ref shadows a packed one: still plain.
        git_ok(
            &dir,
            &[
                "update-ref",
                "--no-deref",
                "refs/heads/shadow",
                "refs/heads/main",
            ],
        );
        assert_eq!(chain(&dir, "refs/heads/shadow"), ["refs/heads/shadow"]);
    }

    #[test]
    fn dangling_target_is_followed() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/not-yet");
        assert_eq!(
            chain(&dir, "refs/heads/alias"),
            ["refs/heads/alias", "refs/heads/not-yet"]
        );
        assert_eq!(
            git_final(&dir, "refs/heads/alias").unwrap(),
            "refs/heads/not-yet"
        );
    }

    #[test]
    fn odd_loose_files_are_refused() {
        let (_tmp, dir) = repo(&[]);
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        for (name, text) in [
            ("refs/heads/to-head", "ref: HEAD\n"),
            ("refs/heads/dotdot", "ref: refs/heads/../config\n"),
            ("refs/heads/onelevel", "ref: refs/x\n"),
            ("refs/heads/garbage", "hello\n"),
            ("refs/heads/short", "1234\n"),
            ("refs/heads/empty", ""),
        ] {
            write(name, text);
            refused(&dir, name);
        }
        write("refs/heads/big", &"0".repeat(5000));
        assert!(refused(&dir, "refs/heads/big").contains("too large"));
        // Git's spacing: `ref:` without a space, trailing whitespace.
        write("refs/heads/tight", "ref:refs/heads/main \r\n");
        assert_eq!(
            chain(&dir, "refs/heads/tight"),
            ["refs/heads/tight", "refs/heads/main"]
        );
        assert_eq!(
            git_final(&dir, "refs/heads/tight").unwrap(),
            "refs/heads/main"
        );
        // A sha256-length id is an id.
        write("refs/heads/long", &format!("{}\n", "a".repeat(64)));
        assert_eq!(chain(&dir, "refs/heads/long"), ["refs/heads/long"]);
    }

    #[test]
    fn symlink_symrefs() {
        let (_tmp, dir) = repo(&[]);
        std::os::unix::fs::symlink("refs/heads/main", dir.join("refs/heads/link")).unwrap();
        assert_eq!(
            git_final(&dir, "refs/heads/link").unwrap(),
            "refs/heads/main"
        );
        assert_eq!(
            chain(&dir, "refs/heads/link"),
            ["refs/heads/link", "refs/heads/main"]
        );
        // A link to a file that is not named as a ref: Git would read it;
        // refused here.
        std::os::unix::fs::symlink("main", dir.join("refs/heads/rel")).unwrap();
        refused(&dir, "refs/heads/rel");
    }

    #[test]
    fn repository_location_as_http_backend_sees_it() {
        let (tmp, dir) = repo(&[]);
        assert_eq!(locate_repository(&dir).unwrap().unwrap(), dir);
        let missing = tmp.path().join("111122223333").join("none.git");
        assert_eq!(locate_repository(&missing).unwrap(), None);
        // http-backend would take NAME.git.git when NAME.git is missing.
        git_ok(
            tmp.path(),
            &["init", "-q", "--bare", "111122223333/none.git.git"],
        );
        assert!(locate_repository(&missing).is_err());
        // ... and NAME.git/.git before NAME.git.
        git_ok(&dir, &["init", "-q", "--bare", ".git"]);
        assert!(locate_repository(&dir).is_err());
    }

    fn cgi(root: &Path) -> CgiBackend {
        CgiBackend::new(CgiConfig::new(root)).unwrap()
    }

    fn name(n: &str) -> crate::shared::git::RepoName {
        crate::shared::git::RepoName::parse(n).unwrap()
    }

    #[tokio::test]
    async fn cgi_backend_push_targets() {
        let (tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        let backend = cgi(tmp.path());
        assert_eq!(
            backend.repository_path("111122223333", &name("r")).unwrap(),
            dir
        );
        let got = backend
            .push_targets(
                "111122223333",
                &name("r"),
                &["refs/heads/alias", "refs/heads/main", "refs/heads/new"],
            )
            .await
            .unwrap();
        let got: Vec<Vec<String>> = got.into_iter().map(RefTargets::into_refs).collect();
        assert_eq!(
            got,
            [
                vec!["refs/heads/alias", "refs/heads/main"],
                vec!["refs/heads/main"],
                vec!["refs/heads/new"],
            ]
        );
        // A repository that does not exist: nothing to follow.
        let got = backend
            .push_targets("111122223333", &name("absent"), &["refs/heads/x"])
            .await
            .unwrap();
        assert_eq!(got, [RefTargets::plain("refs/heads/x")]);
        // Bad input.
        assert!(backend.push_targets("../x", &name("r"), &[]).await.is_err());
        assert!(
            backend
                .push_targets("111122223333", &name("r"), &["HEAD"])
                .await
                .is_err()
        );
        // refStorage=files spelled out is fine.
        git_ok(&dir, &["config", "core.repositoryFormatVersion", "1"]);
        git_ok(&dir, &["config", "extensions.refStorage", "files"]);
        assert!(
            backend
                .push_targets("111122223333", &name("r"), &["refs/heads/alias"])
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn reftable_repositories_are_refused() {
        let probe = tempfile::tempdir().unwrap();
        if !git(
            probe.path(),
            &["init", "-q", "--bare", "--ref-format=reftable", "p.git"],
        )
        .status
        .success()
        {
            eprintln!("SKIPPED: this git has no reftable support");
            return;
        }
        let (tmp, dir) = repo(&["--ref-format=reftable"]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        let err = cgi(tmp.path())
            .push_targets("111122223333", &name("r"), &["refs/heads/alias"])
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::RefResolution(_)), "{err:?}");
        assert!(err.to_string().contains("reftable"), "{err}");
        // An unknown storage is refused the same way (git itself would
        // refuse to open the repository).
        let (tmp, dir) = repo(&[]);
        std::fs::write(
            dir.join("config"),
            "[core]\n\trepositoryformatversion = 1\n\tbare = true\n[extensions]\n\tREFSTORAGE = other\n",
        )
        .unwrap();
        assert!(
            cgi(tmp.path())
                .push_targets("111122223333", &name("r"), &["refs/heads/main"])
                .await
                .is_err()
        );
    }

    #[test]
    fn sha256_repositories() {
        let (_tmp, dir) = repo(&["--object-format=sha256"]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        assert_eq!(
            chain(&dir, "refs/heads/alias"),
            ["refs/heads/alias", "refs/heads/main"]
        );
    }
}
