//! Git smart-HTTP URL pieces: which service a request is for, which
//! endpoint (ref advertisement or RPC) it hits, and CodeCommit's rules for
//! repository names. Only the smart-HTTP endpoints exist; dumb-HTTP paths
//! (`objects/...`, `HEAD`) are not routes.

use std::fmt;

/// The two Git services reachable over smart HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GitService {
    /// Fetch and clone (`git-upload-pack`).
    UploadPack,
    /// Push (`git-receive-pack`).
    ReceivePack,
}

impl GitService {
    /// The service name as it appears in URLs and content types.
    pub fn as_str(self) -> &'static str {
        match self {
            GitService::UploadPack => "git-upload-pack",
            GitService::ReceivePack => "git-receive-pack",
        }
    }

    /// Parses `git-upload-pack` / `git-receive-pack`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "git-upload-pack" => Some(GitService::UploadPack),
            "git-receive-pack" => Some(GitService::ReceivePack),
            _ => None,
        }
    }

    /// Content type of a request body to this service's RPC endpoint.
    pub fn request_content_type(self) -> &'static str {
        match self {
            GitService::UploadPack => "application/x-git-upload-pack-request",
            GitService::ReceivePack => "application/x-git-receive-pack-request",
        }
    }

    /// Content type of this service's RPC answer.
    pub fn result_content_type(self) -> &'static str {
        match self {
            GitService::UploadPack => "application/x-git-upload-pack-result",
            GitService::ReceivePack => "application/x-git-receive-pack-result",
        }
    }

    /// Content type of this service's ref advertisement.
    pub fn advertisement_content_type(self) -> &'static str {
        match self {
            GitService::UploadPack => "application/x-git-upload-pack-advertisement",
            GitService::ReceivePack => "application/x-git-receive-pack-advertisement",
        }
    }
}

impl fmt::Display for GitService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which smart-HTTP endpoint of a repository a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GitEndpoint {
    /// `GET .../info/refs?service=SERVICE`
    InfoRefs(GitService),
    /// `POST .../SERVICE`
    Rpc(GitService),
}

impl GitEndpoint {
    /// The service either endpoint belongs to.
    pub fn service(self) -> GitService {
        match self {
            GitEndpoint::InfoRefs(s) | GitEndpoint::Rpc(s) => s,
        }
    }

    /// Path after the repository (`/info/refs`, `/git-upload-pack`, ...).
    pub fn subpath(self) -> &'static str {
        match self {
            GitEndpoint::InfoRefs(_) => "/info/refs",
            GitEndpoint::Rpc(GitService::UploadPack) => "/git-upload-pack",
            GitEndpoint::Rpc(GitService::ReceivePack) => "/git-receive-pack",
        }
    }

    /// The canonical query string sent to a backend (`service=...` for
    /// info/refs, none for RPCs).
    pub fn query(self) -> Option<String> {
        match self {
            GitEndpoint::InfoRefs(s) => Some(format!("service={}", s.as_str())),
            GitEndpoint::Rpc(_) => None,
        }
    }

    /// The HTTP method this endpoint accepts (`HEAD` is also fine for GET).
    pub fn method(self) -> http::Method {
        match self {
            GitEndpoint::InfoRefs(_) => http::Method::GET,
            GitEndpoint::Rpc(_) => http::Method::POST,
        }
    }

    /// Parses the path after the repository name and the query string.
    /// `None` for anything that is not a smart-HTTP endpoint (including a
    /// dumb-HTTP `info/refs` without `service=`).
    pub fn parse(subpath: &str, query: Option<&str>) -> Option<Self> {
        match subpath {
            "/info/refs" => {
                let mut service = None;
                for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
                    if k == "service" {
                        if service.is_some() {
                            return None;
                        }
                        service = Some(GitService::parse(&v)?);
                    }
                }
                service.map(GitEndpoint::InfoRefs)
            }
            "/git-upload-pack" => Some(GitEndpoint::Rpc(GitService::UploadPack)),
            "/git-receive-pack" => Some(GitEndpoint::Rpc(GitService::ReceivePack)),
            _ => None,
        }
    }
}

/// Why a repository name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoNameError {
    /// Empty or longer than 100 characters.
    #[error("repository name must be 1 to 100 characters long")]
    Length,
    /// A character outside letters, digits, `.`, `_`, `-`.
    #[error("repository name may contain only letters, digits, '.', '_' and '-'")]
    Character,
    /// Ends in `.git` (CodeCommit reserves it).
    #[error("repository name must not end in .git")]
    GitSuffix,
    /// `.` or `..`.
    #[error("repository name must not be '.' or '..'")]
    Dots,
}

/// A repository name valid under CodeCommit's rules, so it is also safe as a
/// single path component on disk and in an upstream URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<Self, RepoNameError> {
        if name.is_empty() || name.chars().count() > 100 {
            return Err(RepoNameError::Length);
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(RepoNameError::Character);
        }
        if name == "." || name == ".." {
            return Err(RepoNameError::Dots);
        }
        if name.to_ascii_lowercase().ends_with(".git") {
            return Err(RepoNameError::GitSuffix);
        }
        Ok(RepoName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a `/v1/repos/...` path is not a Git route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Not a smart-HTTP endpoint, or a bad repository name (404).
    #[error("not found")]
    NotFound,
    /// Right endpoint, wrong method (405; `allow` is the right one).
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The method the endpoint accepts.
        allow: http::Method,
    },
}

/// Routes `NAME/info/refs` or `NAME/git-...-pack` (the path after
/// `/v1/repos/`) with its query string and method.
pub fn route(
    method: &http::Method,
    path_after_repos: &str,
    query: Option<&str>,
) -> Result<(RepoName, GitEndpoint), RouteError> {
    let slash = path_after_repos.find('/').ok_or(RouteError::NotFound)?;
    let (name, subpath) = path_after_repos.split_at(slash);
    let name = RepoName::parse(name).map_err(|_| RouteError::NotFound)?;
    let endpoint = GitEndpoint::parse(subpath, query).ok_or(RouteError::NotFound)?;
    let allowed = endpoint.method();
    let ok = *method == allowed || (allowed == http::Method::GET && *method == http::Method::HEAD);
    if !ok {
        return Err(RouteError::MethodNotAllowed { allow: allowed });
    }
    Ok((name, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn repo_names() {
        for ok in ["a", "my-repo", "My_Repo.2", &"x".repeat(100), "a.gi", "git"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(RepoName::parse(""), Err(RepoNameError::Length));
        assert_eq!(
            RepoName::parse(&"x".repeat(101)),
            Err(RepoNameError::Length)
        );
        assert_eq!(RepoName::parse("a/b"), Err(RepoNameError::Character));
        assert_eq!(RepoName::parse("a b"), Err(RepoNameError::Character));
        assert_eq!(RepoName::parse("é"), Err(RepoNameError::Character));
        assert_eq!(RepoName::parse("%2e"), Err(RepoNameError::Character));
        assert_eq!(RepoName::parse("."), Err(RepoNameError::Dots));
        assert_eq!(RepoName::parse(".."), Err(RepoNameError::Dots));
        assert_eq!(RepoName::parse("repo.git"), Err(RepoNameError::GitSuffix));
        assert_eq!(RepoName::parse("repo.GIT"), Err(RepoNameError::GitSuffix));
    }

    #[test]
    fn routes() {
        let (name, ep) = route(
            &Method::GET,
            "r/info/refs",
            Some("service=git-receive-pack"),
        )
        .unwrap();
        assert_eq!(name.as_str(), "r");
        assert_eq!(ep, GitEndpoint::InfoRefs(GitService::ReceivePack));
        assert_eq!(ep.query().as_deref(), Some("service=git-receive-pack"));
        let (_, ep) = route(&Method::POST, "r/git-upload-pack", None).unwrap();
        assert_eq!(ep, GitEndpoint::Rpc(GitService::UploadPack));
        assert_eq!(ep.subpath(), "/git-upload-pack");
        assert!(
            route(
                &Method::HEAD,
                "r/info/refs",
                Some("service=git-upload-pack")
            )
            .is_ok()
        );
        assert_eq!(
            route(&Method::GET, "r/git-receive-pack", None),
            Err(RouteError::MethodNotAllowed {
                allow: Method::POST
            })
        );
        for (path, query) in [
            ("r/info/refs", None),
            ("r/info/refs", Some("service=git-upload-archive")),
            (
                "r/info/refs",
                Some("service=git-upload-pack&service=git-receive-pack"),
            ),
            ("r/HEAD", None),
            ("r/objects/info/packs", None),
            ("r", None),
            ("../x/info/refs", Some("service=git-upload-pack")),
            ("r.git/info/refs", Some("service=git-upload-pack")),
            ("r/info/refs/", Some("service=git-upload-pack")),
        ] {
            assert_eq!(
                route(&Method::GET, path, query),
                Err(RouteError::NotFound),
                "{path}"
            );
        }
    }
}
