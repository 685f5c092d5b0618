//! Routing: CodeCommit's Git URLs, the STS endpoint and the operational
//! endpoints. Anything else is 404; under `/v1/repos/` only the smart-HTTP
//! endpoints exist (no dumb HTTP, no WebDAV).

use http::Method;

use crate::shared::git::{self, GitEndpoint, RepoName, RouteError};

/// Prefix of Git URLs, as on CodeCommit.
pub const REPOS_PREFIX: &str = "/v1/repos/";

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`.
    Healthz,
    /// `GET /metrics`.
    Metrics,
    /// `POST /`: the STS Query API.
    Sts,
    /// A smart-HTTP endpoint of a repository.
    Git {
        /// The repository.
        repo: RepoName,
        /// Which endpoint.
        endpoint: GitEndpoint,
    },
    /// Known path, wrong method.
    MethodNotAllowed(Method),
    /// Nothing here.
    NotFound,
}

/// Routes `method` and `uri`.
pub fn route(method: &Method, uri: &http::Uri) -> Route {
    let path = uri.path();
    let get = *method == Method::GET || *method == Method::HEAD;
    match path {
        "/healthz" if get => Route::Healthz,
        "/metrics" if get => Route::Metrics,
        "/healthz" | "/metrics" => Route::MethodNotAllowed(Method::GET),
        "/" if *method == Method::POST => Route::Sts,
        "/" => Route::MethodNotAllowed(Method::POST),
        _ => match path.strip_prefix(REPOS_PREFIX) {
            None => Route::NotFound,
            Some(rest) => match git::route(method, rest, uri.query()) {
                Ok((repo, endpoint)) => Route::Git { repo, endpoint },
                Err(RouteError::NotFound) => Route::NotFound,
                Err(RouteError::MethodNotAllowed { allow }) => Route::MethodNotAllowed(allow),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::git::GitService;

    fn r(method: Method, uri: &str) -> Route {
        route(&method, &uri.parse().unwrap())
    }

    #[test]
    fn routes() {
        assert_eq!(r(Method::GET, "/healthz"), Route::Healthz);
        assert_eq!(r(Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(r(Method::POST, "/"), Route::Sts);
        assert_eq!(r(Method::GET, "/"), Route::MethodNotAllowed(Method::POST));
        assert_eq!(
            r(
                Method::GET,
                "/v1/repos/demo/info/refs?service=git-upload-pack"
            ),
            Route::Git {
                repo: RepoName::parse("demo").unwrap(),
                endpoint: GitEndpoint::InfoRefs(GitService::UploadPack)
            }
        );
        assert_eq!(
            r(Method::POST, "/v1/repos/demo/git-receive-pack"),
            Route::Git {
                repo: RepoName::parse("demo").unwrap(),
                endpoint: GitEndpoint::Rpc(GitService::ReceivePack)
            }
        );
        for path in [
            "/v1/repos/demo/info/refs",
            "/v1/repos/demo/HEAD",
            "/v1/repos/demo/objects/info/packs",
            "/v1/repos/demo.git/info/refs?service=git-upload-pack",
            "/v1/repos/../info/refs?service=git-upload-pack",
            "/v1/repos/",
            "/v2/repos/demo/info/refs?service=git-upload-pack",
            "/anything",
        ] {
            assert_eq!(r(Method::GET, path), Route::NotFound, "{path}");
        }
        assert_eq!(
            r(Method::GET, "/v1/repos/demo/git-upload-pack"),
            Route::MethodNotAllowed(Method::POST)
        );
    }
}
