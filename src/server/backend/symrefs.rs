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
//! Two sources answer the question:
//!
//! * the embedded backend reads the bare repository's loose ref files as
//!   the files backend does (`resolve_loose`);
//! * the upstream backend asks over Git protocol v2 `ls-refs` with
//!   `symrefs`, whose `symref-target` is the *final* target
//!   (`parse_ls_refs`).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::BackendError;
use crate::shared::git::pktline::{self, Packet, PktReader};
use crate::shared::git::receive_pack::is_valid_ref_name;

/// How many refs `refs_resolve_ref_unsafe` reads before giving up (Git's
/// `SYMREF_MAXDEPTH` in `refs.c`). A chain therefore has at most
/// `SYMREF_MAXDEPTH` refs: the name and four links.
pub const SYMREF_MAXDEPTH: usize = 5;

/// Largest loose ref file read. Git's own files are a 40/64-digit id or
/// `ref: ` and a ref name plus a newline.
const MAX_LOOSE_REF_BYTES: u64 = 4096;

/// Largest protocol v2 capability advertisement or `ls-refs` answer read
/// from an upstream.
pub const MAX_LS_REFS_BYTES: usize = 8 * 1024 * 1024;

/// Every ref a push command naming [`name`](Self::name) updates.
///
/// [`targets`](Self::targets) is empty for a plain ref (or one that does not
/// exist). For a symbolic ref it lists the refs Git goes through, in order;
/// the last one is the final target, the only ref whose value changes, and
/// it may not exist yet (the push then creates it).
///
/// Over an upstream, Git's `ls-refs` tells only the final target, so
/// `targets` is then `[final]` even for a chain of several links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTargets {
    /// The ref name the push command carries.
    pub name: String,
    /// The refs the update is passed on to, ending with the final target.
    pub targets: Vec<String>,
}

impl RefTargets {
    /// A name that is not a symbolic ref.
    pub fn plain(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            targets: Vec::new(),
        }
    }

    /// True when the name is a symbolic ref.
    pub fn is_symbolic(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The ref whose value the command changes: the final target of a
    /// symref, or the name itself.
    pub fn final_ref(&self) -> &str {
        self.targets
            .last()
            .map_or(self.name.as_str(), String::as_str)
    }

    /// The name followed by the targets: every ref to authorize.
    pub fn refs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.targets.iter().map(String::as_str))
    }

    /// `[name, target1, ..., final]`.
    pub fn into_refs(self) -> Vec<String> {
        let mut out = Vec::with_capacity(1 + self.targets.len());
        out.push(self.name);
        out.extend(self.targets);
        out
    }
}

fn refusal(msg: impl Into<String>) -> BackendError {
    BackendError::RefResolution(msg.into())
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

fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
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

/// Refuses repositories whose refs are not stored as files: their loose
/// files (reftable repositories keep a stub `refs/heads` and a `HEAD`
/// pointing at `refs/heads/.invalid`) say nothing about the real refs.
/// Asks `git config --file GITDIR/config` so the file is parsed as Git
/// parses it; Git reads the repository format without includes, as this
/// does. Any `extensions.refStorage` value other than `files` is refused,
/// even in a version-0 repository (stricter than Git).
pub(crate) async fn check_ref_storage(
    git: &Path,
    path_env: Option<&std::ffi::OsStr>,
    gitdir: &Path,
    timeout: std::time::Duration,
) -> Result<(), BackendError> {
    let mut cmd = tokio::process::Command::new(git);
    cmd.env_clear()
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .arg("config")
        .arg("--file")
        .arg(gitdir.join("config"))
        .arg("--get-all")
        .arg("extensions.refstorage")
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
        // Not set: the files backend.
        Some(1) => Ok(()),
        Some(0) => {
            let values = String::from_utf8_lossy(&out.stdout);
            match values.lines().find(|v| *v != "files") {
                None => Ok(()),
                Some(other) => Err(refusal(format!(
                    "the repository stores its refs as {other:?}; only the files \
                     backend can be checked for symbolic refs"
                ))),
            }
        }
        _ => Err(refusal(format!(
            "reading the repository's config failed ({})",
            out.status
        ))),
    }
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
pub(crate) fn resolve_loose(gitdir: &Path, name: &str) -> Result<RefTargets, BackendError> {
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

/// [`resolve_loose`] for each name.
pub(crate) fn resolve_all_loose(
    gitdir: &Path,
    names: &[String],
) -> Result<Vec<RefTargets>, BackendError> {
    names.iter().map(|n| resolve_loose(gitdir, n)).collect()
}

/// What a protocol v2 capability advertisement offers that `ls-refs`
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Advertisement {
    /// `object-format=...`, echoed in the command request.
    pub object_format: Option<String>,
}

fn not_v2(msg: impl Into<String>) -> BackendError {
    BackendError::UpstreamNotV2(msg.into())
}

fn invalid(msg: impl Into<String>) -> BackendError {
    BackendError::InvalidResponse(msg.into())
}

/// Decodes a whole response body into packets; trailing bytes that do not
/// form a complete packet are an error.
fn packets(body: &[u8]) -> Result<Vec<Packet>, BackendError> {
    let mut reader = PktReader::new(body.len());
    reader
        .feed(body)
        .map_err(|e| invalid(format!("upstream answer: {e}")))?;
    let mut out = Vec::new();
    while let Some(p) = reader
        .next_packet()
        .map_err(|e| invalid(format!("upstream answer: {e}")))?
    {
        out.push(p);
    }
    if !reader.pending().is_empty() {
        return Err(invalid("upstream answer ends in an incomplete pkt-line"));
    }
    Ok(out)
}

fn line_text(data: &Bytes) -> Result<&str, BackendError> {
    let text = std::str::from_utf8(data).map_err(|_| invalid("upstream sent a non-UTF-8 line"))?;
    Ok(text.strip_suffix('\n').unwrap_or(text))
}

/// Parses the answer to `GET info/refs?service=git-upload-pack` sent with
/// `Git-Protocol: version=2`: an optional `# service=git-upload-pack` line
/// and flush (some servers send it in v2 too), then `version 2`, the
/// capabilities and a flush, and nothing after. Anything else (a v0
/// advertisement above all) is [`BackendError::UpstreamNotV2`].
pub(crate) fn parse_v2_advertisement(body: &[u8]) -> Result<V2Advertisement, BackendError> {
    let packets = packets(body).map_err(|e| not_v2(e.to_string()))?;
    let mut it = packets.iter().peekable();
    if let Some(Packet::Data(first)) = it.peek()
        && first.starts_with(b"# service=")
    {
        it.next();
        if it.next() != Some(&Packet::Flush) {
            return Err(not_v2("no flush after the service line"));
        }
    }
    match it.next() {
        Some(Packet::Data(d)) if line_text(d).ok() == Some("version 2") => {}
        _ => return Err(not_v2("the advertisement is not version 2")),
    }
    let mut ls_refs = false;
    let mut object_format = None;
    loop {
        match it.next() {
            Some(Packet::Data(d)) => {
                let cap = line_text(d).map_err(|e| not_v2(e.to_string()))?;
                let (key, value) = match cap.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (cap, None),
                };
                match key {
                    "ls-refs" => ls_refs = true,
                    "object-format" => object_format = value.map(str::to_owned),
                    _ => {}
                }
            }
            Some(Packet::Flush) => break,
            _ => {
                return Err(not_v2(
                    "the capability advertisement does not end in a flush",
                ));
            }
        }
    }
    if it.next().is_some() {
        return Err(not_v2("data after the capability advertisement"));
    }
    if !ls_refs {
        return Err(not_v2("the upstream does not offer ls-refs"));
    }
    if let Some(f) = &object_format
        && !matches!(f.as_str(), "sha1" | "sha256")
    {
        return Err(not_v2(format!("unknown object format {f:?}")));
    }
    Ok(V2Advertisement { object_format })
}

/// The `command=ls-refs` request body: `symrefs` and one `ref-prefix` per
/// name (Git's `ls-refs` treats more than 65535 prefixes as none, which
/// only makes the answer longer).
pub(crate) fn ls_refs_request(
    advert: &V2Advertisement,
    names: &[&str],
) -> Result<Bytes, BackendError> {
    let mut out = BytesMut::new();
    let write = |out: &mut BytesMut, line: &str| {
        pktline::write_data(out, line.as_bytes())
            .map_err(|e| BackendError::BadRequest(format!("ls-refs request: {e}")))
    };
    write(&mut out, "command=ls-refs\n")?;
    if let Some(format) = &advert.object_format {
        write(&mut out, &format!("object-format={format}\n"))?;
    }
    pktline::write_delim(&mut out);
    write(&mut out, "symrefs\n")?;
    for name in names {
        write(&mut out, &format!("ref-prefix {name}\n"))?;
    }
    pktline::write_flush(&mut out);
    Ok(out.freeze())
}

/// Parses an `ls-refs` answer (`OID NAME[ symref-target:T][ peeled:OID]`
/// lines, a flush, and nothing else but an optional response-end packet)
/// and returns the targets of each of `names`.
///
/// `symref-target` is the final target (Git resolves it fully). A name not
/// listed is returned as plain. Git's ref iteration leaves out symrefs that
/// do not resolve to an object, so this cannot see a *dangling* symref
/// (whose push would create its target), nor a loop or a too-deep chain
/// (which receive-pack refuses anyway), nor refs hidden from upload-pack.
pub(crate) fn parse_ls_refs(body: &[u8], names: &[&str]) -> Result<Vec<RefTargets>, BackendError> {
    let packets = packets(body)?;
    let mut it = packets.into_iter();
    let mut listed: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    loop {
        let line = match it.next() {
            Some(Packet::Data(d)) => d,
            Some(Packet::Flush) => break,
            _ => return Err(invalid("ls-refs answer does not end in a flush")),
        };
        let text = line_text(&line)?;
        if let Some(msg) = text.strip_prefix("ERR ") {
            // The upstream's own words stay out of the public message.
            return Err(invalid(format!("upstream ls-refs error: {msg}")));
        }
        let mut fields = text.split(' ');
        let oid = fields.next().unwrap_or_default();
        if !((oid.len() == 40 || oid.len() == 64) && oid.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(invalid("ls-refs line without an object id"));
        }
        let Some(name) = fields.next() else {
            return Err(invalid("ls-refs line without a ref name"));
        };
        let mut target = None;
        for attr in fields {
            if let Some(t) = attr.strip_prefix("symref-target:") {
                if target.is_some() || !is_valid_ref_name(t) {
                    return Err(invalid("ls-refs line with a bad symref-target"));
                }
                target = Some(t.to_owned());
            } else if !attr.starts_with("peeled:") {
                return Err(invalid("ls-refs line with an unknown attribute"));
            }
        }
        if listed.insert(name.to_owned(), target).is_some() {
            return Err(invalid("ls-refs lists a ref twice"));
        }
    }
    match it.next() {
        None => {}
        Some(Packet::ResponseEnd) if it.next().is_none() => {}
        Some(_) => return Err(invalid("data after the ls-refs answer")),
    }
    Ok(names
        .iter()
        .map(|name| match listed.get(*name) {
            Some(Some(target)) if target != name => RefTargets {
                name: (*name).to_owned(),
                targets: vec![target.clone()],
            },
            _ => RefTargets::plain(name),
        })
        .collect())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// `git` with no user or system config and a fixed identity.
    fn git(dir: &Path, args: &[&str]) -> std::process::Output {
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

    fn git_ok(dir: &Path, args: &[&str]) -> String {
        let out = git(dir, args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A bare repository `ROOT/111122223333/r.git` with a commit on main.
    fn repo(init_args: &[&str]) -> (tempfile::TempDir, PathBuf) {
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

    fn symref(dir: &Path, name: &str, target: &str) {
        git_ok(dir, &["symbolic-ref", name, target]);
    }

    /// What `git symbolic-ref NAME` (full resolution, Git's depth limit)
    /// says is the final target; None when Git cannot resolve it.
    fn git_final(dir: &Path, name: &str) -> Option<String> {
        let out = git(dir, &["symbolic-ref", "-q", name]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

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

    fn cgi(root: &Path) -> super::super::CgiBackend {
        super::super::CgiBackend::new(super::super::CgiConfig::new(root)).unwrap()
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
        assert_eq!(err.status(), http::StatusCode::BAD_GATEWAY);
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

    /// `git upload-pack --stateless-rpc` in protocol v2, as http-backend
    /// runs it: the advertisement, or the answer to `request`.
    fn upload_pack(dir: &Path, request: Option<&[u8]>) -> Vec<u8> {
        use std::io::Write as _;
        let mut cmd = Command::new("git");
        cmd.env("GIT_PROTOCOL", "version=2")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("upload-pack")
            .arg("--stateless-rpc");
        if request.is_none() {
            cmd.arg("--advertise-refs");
        }
        let mut child = cmd
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(request.unwrap_or_default()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn ls_refs_against_real_upload_pack() {
        let (_tmp, dir) = repo(&[]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        symref(&dir, "refs/heads/outer", "refs/heads/alias");
        symref(&dir, "refs/heads/dangling", "refs/heads/none");
        let advert = parse_v2_advertisement(&upload_pack(&dir, None)).unwrap();
        assert_eq!(advert.object_format.as_deref(), Some("sha1"));
        let names = [
            "refs/heads/alias",
            "refs/heads/outer",
            "refs/heads/main",
            "refs/heads/dangling",
            "refs/heads/none",
        ];
        let request = ls_refs_request(&advert, &names).unwrap();
        let answer = upload_pack(&dir, Some(&request));
        let got: Vec<Vec<String>> = parse_ls_refs(&answer, &names)
            .unwrap()
            .into_iter()
            .map(RefTargets::into_refs)
            .collect();
        assert_eq!(
            got,
            [
                vec!["refs/heads/alias", "refs/heads/main"],
                // ls-refs names the final target only.
                vec!["refs/heads/outer", "refs/heads/main"],
                vec!["refs/heads/main"],
                // Invisible over the wire: Git leaves dangling symrefs out.
                vec!["refs/heads/dangling"],
                vec!["refs/heads/none"],
            ]
        );
        // Trailing garbage after the flush, or a truncated answer.
        let mut bad = answer.clone();
        bad.extend_from_slice(b"0009junk\n");
        assert!(parse_ls_refs(&bad, &names).is_err());
        bad.truncate(answer.len() - 2);
        assert!(parse_ls_refs(&bad, &names).is_err());
        assert!(parse_ls_refs(&answer[..answer.len() - 4], &names).is_err());
        // An optional response-end is fine.
        let mut ok = answer.clone();
        ok.extend_from_slice(b"0002");
        assert!(parse_ls_refs(&ok, &names).is_ok());
    }

    #[test]
    fn sha256_repositories() {
        let (_tmp, dir) = repo(&["--object-format=sha256"]);
        symref(&dir, "refs/heads/alias", "refs/heads/main");
        assert_eq!(
            chain(&dir, "refs/heads/alias"),
            ["refs/heads/alias", "refs/heads/main"]
        );
        let advert = parse_v2_advertisement(&upload_pack(&dir, None)).unwrap();
        assert_eq!(advert.object_format.as_deref(), Some("sha256"));
        let request = ls_refs_request(&advert, &["refs/heads/alias"]).unwrap();
        let got = parse_ls_refs(&upload_pack(&dir, Some(&request)), &["refs/heads/alias"]).unwrap();
        assert_eq!(got[0].final_ref(), "refs/heads/main");
    }

    #[test]
    fn v0_advertisements_are_not_v2() {
        let (_tmp, dir) = repo(&[]);
        // What http-backend sends without Git-Protocol: the service line,
        // a flush, then the v0 ref advertisement.
        let out = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["upload-pack", "--stateless-rpc", "--advertise-refs"])
            .arg(&dir)
            .output()
            .unwrap();
        let mut v0 = b"001e# service=git-upload-pack\n0000".to_vec();
        v0.extend_from_slice(&out.stdout);
        let err = parse_v2_advertisement(&v0).unwrap_err();
        assert!(matches!(err, BackendError::UpstreamNotV2(_)), "{err:?}");
        assert!(err.public_message().contains("version 2"));
        // The service line before a v2 advertisement is accepted.
        let mut v2 = b"001e# service=git-upload-pack\n0000".to_vec();
        v2.extend_from_slice(&upload_pack(&dir, None));
        assert!(parse_v2_advertisement(&v2).is_ok());
        for bad in [
            &b""[..],
            b"000eversion 2\n",
            b"000eversion 2\n0000garbage",
            b"000eversion 2\n0000",
            b"000eversion 1\n000cls-refs\n0000",
        ] {
            assert!(
                matches!(
                    parse_v2_advertisement(bad),
                    Err(BackendError::UpstreamNotV2(_))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_v2_advertisement(b"000eversion 2\n000cls-refs\n0000").is_ok());
    }

    #[test]
    fn ls_refs_lines_are_checked() {
        let names = ["refs/heads/a"];
        let body = |lines: &[&str]| {
            let mut out = BytesMut::new();
            for l in lines {
                pktline::write_data(&mut out, l.as_bytes()).unwrap();
            }
            pktline::write_flush(&mut out);
            out.to_vec()
        };
        let oid = "a".repeat(40);
        let ok = body(&[&format!(
            "{oid} refs/heads/a symref-target:refs/heads/b peeled:{oid}\n"
        )]);
        assert_eq!(
            parse_ls_refs(&ok, &names).unwrap()[0].final_ref(),
            "refs/heads/b"
        );
        for bad in [
            vec!["ERR upstream says no\n".to_owned()],
            vec!["unborn refs/heads/a\n".to_owned()],
            vec![format!("{oid}\n")],
            vec![format!("{oid} refs/heads/a symref-target:HEAD\n")],
            vec![format!(
                "{oid} refs/heads/a symref-target:refs/heads/../x\n"
            )],
            vec![format!("{oid} refs/heads/a other:x\n")],
            vec![
                format!("{oid} refs/heads/a\n"),
                format!("{oid} refs/heads/a\n"),
            ],
        ] {
            let refs: Vec<&str> = bad.iter().map(String::as_str).collect();
            assert!(parse_ls_refs(&body(&refs), &names).is_err(), "{bad:?}");
        }
        // Refs not asked about are ignored.
        let other = body(&[&format!("{oid} refs/heads/ab symref-target:refs/heads/b\n")]);
        assert_eq!(
            parse_ls_refs(&other, &names).unwrap(),
            [RefTargets::plain("refs/heads/a")]
        );
    }
}
