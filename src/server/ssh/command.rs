//! The one kind of exec request the SSH door runs: a Git service on a
//! repository path, as git sends it (`git-upload-pack '/v1/repos/NAME'`,
//! also without the leading slash), and the one environment variable it
//! accepts (`GIT_PROTOCOL`, for protocol v2).

use crate::shared::git::{GitService, RepoName};

/// Longest exec command read (git's is well under 200 bytes).
pub const MAX_COMMAND_BYTES: usize = 1024;
/// Longest `GIT_PROTOCOL` value accepted (the same bound as over HTTPS).
pub const MAX_GIT_PROTOCOL_BYTES: usize = 1024;
/// The repository path prefix, as in CodeCommit's SSH URLs.
pub const REPOS_PREFIX: &str = "v1/repos/";

/// A parsed exec request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCommand {
    /// upload-pack or receive-pack.
    pub service: GitService,
    /// The repository.
    pub repo: RepoName,
    /// The path as the client wrote it (for the audit line).
    pub path: String,
}

/// Why an exec request is not a Git command gitiam runs. The text goes to
/// the client's stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Longer than [`MAX_COMMAND_BYTES`] or not UTF-8.
    #[error("the command is not a Git command gitiam serves")]
    Malformed,
    /// A program other than git-upload-pack / git-receive-pack.
    #[error("only git-upload-pack and git-receive-pack can be run here")]
    Program,
    /// The path is not `/v1/repos/NAME`.
    #[error("the repository path must be /v1/repos/NAME")]
    Path,
    /// NAME is not a valid repository name.
    #[error("invalid repository name: {0}")]
    Repo(String),
}

/// Parses `git-upload-pack '/v1/repos/NAME'` (or `git-receive-pack`, the
/// path single-quoted as git quotes it, or bare).
pub fn parse(command: &[u8]) -> Result<GitCommand, CommandError> {
    if command.len() > MAX_COMMAND_BYTES {
        return Err(CommandError::Malformed);
    }
    let command = std::str::from_utf8(command).map_err(|_| CommandError::Malformed)?;
    let (program, arg) = command.split_once(' ').ok_or(CommandError::Program)?;
    let service = match program {
        "git-upload-pack" => GitService::UploadPack,
        "git-receive-pack" => GitService::ReceivePack,
        _ => return Err(CommandError::Program),
    };
    let arg = arg.trim_matches(' ');
    let path = match arg.strip_prefix('\'') {
        Some(quoted) => quoted.strip_suffix('\'').ok_or(CommandError::Path)?,
        None => arg,
    };
    // Repository names have no quote, space or backslash: anything like it
    // is another shell word, which is not a Git command.
    if path
        .bytes()
        .any(|b| matches!(b, b'\'' | b'"' | b'\\') || b <= b' ')
    {
        return Err(CommandError::Path);
    }
    let relative = path.strip_prefix('/').unwrap_or(path);
    let name = relative
        .strip_prefix(REPOS_PREFIX)
        .ok_or(CommandError::Path)?;
    let name = name.strip_suffix('/').unwrap_or(name);
    let repo = RepoName::parse(name).map_err(|e| CommandError::Repo(e.to_string()))?;
    Ok(GitCommand {
        service,
        repo,
        path: path.to_owned(),
    })
}

/// True for an accepted `GIT_PROTOCOL` value: printable ASCII, bounded.
pub fn valid_git_protocol(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_GIT_PROTOCOL_BYTES
        && value.iter().all(|b| (0x21..0x7f).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_commands() {
        let c = parse(b"git-upload-pack '/v1/repos/web-app'").unwrap();
        assert_eq!(c.service, GitService::UploadPack);
        assert_eq!(c.repo.as_str(), "web-app");
        let c = parse(b"git-receive-pack 'v1/repos/web-app'").unwrap();
        assert_eq!(c.service, GitService::ReceivePack);
        assert_eq!(c.path, "v1/repos/web-app");
        assert!(parse(b"git-upload-pack /v1/repos/a").is_ok());
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            &b"ls -la"[..],
            b"git-upload-archive '/v1/repos/a'",
            b"git upload-pack '/v1/repos/a'",
            b"git-upload-pack '/v1/repos/a'; rm -rf /",
            b"git-upload-pack '/v1/repos/../etc'",
            b"git-upload-pack '/srv/git/a.git'",
            b"git-upload-pack '/v1/repos/a.git'",
            b"git-upload-pack '/v1/repos/a' '/v1/repos/b'",
            b"git-upload-pack '/v1/repos/a",
            b"git-upload-pack",
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse(&[b'a'; 2000]).is_err());
    }

    #[test]
    fn git_protocol_values() {
        assert!(valid_git_protocol(b"version=2"));
        assert!(!valid_git_protocol(b""));
        assert!(!valid_git_protocol(b"version=2\n"));
        assert!(!valid_git_protocol(&[b'a'; 2000]));
    }
}
