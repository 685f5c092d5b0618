//! Forwarding an authorized Git request to where the repositories live:
//! the embedded `git http-backend` ([`cgi`]) or any smart-HTTP server
//! ([`upstream`]). Both stream in both directions and never buffer a pack;
//! both fail with a [`BackendError`] whose [`status`](BackendError::status)
//! (502 or 504) and [`public_message`](BackendError::public_message) are
//! safe to send to the client.

pub mod cgi;
pub mod symrefs;
pub mod upstream;

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::server::body::{Activity, IdleBody};
use crate::shared::BoxError;
use crate::shared::git::{GitEndpoint, RepoName};

pub use cgi::{CgiBackend, CgiConfig};
pub use symrefs::{RefTargets, SYMREF_MAXDEPTH};
pub use upstream::{UpstreamAuth, UpstreamBackend, UpstreamConfig};

/// The body of a request handed to a backend.
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;
/// The body of a backend's response.
pub type BackendBody = UnsyncBoxBody<Bytes, BoxError>;

/// Boxes any byte body (e.g. `hyper::body::Incoming` or a
/// [`ReplayBody`](crate::shared::git::ReplayBody)) as a [`RequestBody`].
pub fn request_body<B>(body: B) -> RequestBody
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// An authorized request, reduced to what a backend needs.
pub struct BackendRequest {
    /// Account id owning the repository (12 digits).
    pub account: String,
    /// Repository name (validated).
    pub repo: RepoName,
    /// Which smart-HTTP endpoint; the backend builds path and query from it.
    pub endpoint: GitEndpoint,
    /// GET/HEAD for info/refs, POST for RPCs.
    pub method: http::Method,
    /// The client's request headers. Backends pick what they forward and
    /// never forward `Authorization`.
    pub headers: http::HeaderMap,
    /// ARN of the authorized principal (CGI `REMOTE_USER`).
    pub principal_arn: String,
    /// Address of the client (CGI `REMOTE_ADDR`, `X-Forwarded-For`).
    pub client_ip: IpAddr,
    /// Scheme the client used (`X-Forwarded-Proto`), normally `https`.
    pub client_scheme: &'static str,
    /// The request body, streamed.
    pub body: RequestBody,
}

impl std::fmt::Debug for BackendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers are left out: they carry the client's credentials.
        f.debug_struct("BackendRequest")
            .field("account", &self.account)
            .field("repo", &self.repo)
            .field("endpoint", &self.endpoint)
            .field("method", &self.method)
            .field("principal_arn", &self.principal_arn)
            .field("client_ip", &self.client_ip)
            .finish_non_exhaustive()
    }
}

/// Why forwarding failed. Messages name the failing step but never a
/// credential, and never the upstream's own error text in
/// [`public_message`](BackendError::public_message).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// `git http-backend` could not be started.
    #[error("starting the Git backend failed: {0}")]
    Start(#[source] std::io::Error),
    /// The upstream could not be reached.
    #[error("connecting to the upstream Git server failed: {0}")]
    Connect(#[source] BoxError),
    /// No response (first byte) in time while the request was idle.
    #[error("the Git backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend answered with something that is not a valid response
    /// (bad CGI header block, broken HTTP).
    #[error("the Git backend sent an invalid response: {0}")]
    InvalidResponse(String),
    /// The upstream refused gitiam's own credential (401/407). Passing that
    /// on would make git ask its user for a password that cannot help.
    #[error("the upstream Git server refused gitiam's credentials (HTTP {0})")]
    UpstreamAuth(u16),
    /// The request cannot be expressed for this backend (bad account id,
    /// URL that does not parse).
    #[error("the request cannot be forwarded: {0}")]
    BadRequest(String),
    /// The refs a push would update cannot be worked out the way
    /// receive-pack works them out (reftable storage, a symbolic-ref loop
    /// or chain longer than Git follows, a target that is not a valid ref
    /// name, an unreadable or odd ref file): the push must not go ahead.
    #[error("resolving the refs a push updates failed: {0}")]
    RefResolution(String),
    /// The upstream does not answer Git protocol version 2 (`ls-refs`),
    /// which is how gitiam learns its symbolic refs; a push cannot be
    /// checked without it.
    #[error("the upstream Git server does not speak Git protocol version 2: {0}")]
    UpstreamNotV2(String),
}

impl BackendError {
    /// A short text for the client, whatever its door (git prints it as
    /// `remote: ...` or in its error), without internal detail. The HTTP
    /// status is chosen in `https::error`.
    pub fn public_message(&self) -> &'static str {
        match self {
            BackendError::Start(_) => "gitiam: the Git backend could not be started",
            BackendError::Connect(_) => "gitiam: the upstream Git server is unreachable",
            BackendError::Timeout(_) => "gitiam: the Git backend did not answer in time",
            BackendError::InvalidResponse(_) => "gitiam: the Git backend sent an invalid response",
            BackendError::UpstreamAuth(_) => {
                "gitiam: the upstream Git server refused gitiam's credentials"
            }
            BackendError::BadRequest(_) => "gitiam: the request cannot be forwarded",
            BackendError::RefResolution(_) => {
                "gitiam: the repository's symbolic refs cannot be checked, so the push is refused"
            }
            BackendError::UpstreamNotV2(_) => {
                "gitiam: the upstream Git server does not support Git protocol version 2, \
                 which gitiam needs to check symbolic refs before a push"
            }
        }
    }
}

/// Where authorized requests go.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `git http-backend` run per request.
    Cgi(CgiBackend),
    /// Another smart-HTTP server.
    Upstream(UpstreamBackend),
}

impl Backend {
    /// Streams `request` to the backend and returns its response, whose body
    /// streams too.
    pub async fn forward(
        &self,
        request: BackendRequest,
    ) -> Result<http::Response<BackendBody>, BackendError> {
        match self {
            Backend::Cgi(b) => b.forward(request).await,
            Backend::Upstream(b) => b.forward(request).await,
        }
    }

    /// For each of `names` (the ref names of a push's commands, valid
    /// `refs/...` names), every ref receive-pack updates when it runs that
    /// command: the name; where the name is a symbolic ref, the refs it
    /// leads to, ending with the final target; and in a repository that
    /// ignores case, the refs stored in the same files (see [`RefTargets`]
    /// and the [`symrefs`] module for what Git does). The i-th entry answers
    /// `names[i]`.
    ///
    /// Fails closed: any doubt (reftable repository, loop, chain deeper
    /// than [`SYMREF_MAXDEPTH`], bad target, an upstream that does not
    /// speak protocol v2) is an error, never a plain answer.
    pub async fn push_targets(
        &self,
        account: &str,
        repo: &RepoName,
        names: &[&str],
    ) -> Result<Vec<RefTargets>, BackendError> {
        match self {
            Backend::Cgi(b) => b.push_targets(account, repo, names).await,
            Backend::Upstream(b) => b.push_targets(account, repo, names).await,
        }
    }
}

impl From<CgiBackend> for Backend {
    fn from(b: CgiBackend) -> Self {
        Backend::Cgi(b)
    }
}

impl From<UpstreamBackend> for Backend {
    fn from(b: UpstreamBackend) -> Self {
        Backend::Upstream(b)
    }
}

/// Shared by both backends: the account id becomes a path segment (CGI
/// project root, upstream URL), so it must be non-empty and made of ASCII
/// letters, digits, `-` and `_` only.
pub(crate) fn check_account(account: &str) -> Result<(), BackendError> {
    if account.is_empty()
        || !account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(BackendError::BadRequest("invalid account id".to_owned()));
    }
    Ok(())
}

/// Shared by both backends: awaits `fut` (the response), but gives up
/// with [`BackendError::Timeout`] once nothing happened on the request body
/// for `timeout` (a large push keeps the request "active" as long as its
/// bytes keep flowing, however long that takes).
async fn wait_active<F, T>(
    activity: &Activity,
    timeout: Duration,
    fut: F,
) -> Result<T, BackendError>
where
    F: std::future::Future<Output = T>,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        let deadline = activity.last() + timeout;
        tokio::select! {
            out = &mut fut => return Ok(out),
            _ = tokio::time::sleep_until(deadline) => {
                if activity.last() + timeout <= tokio::time::Instant::now() {
                    return Err(BackendError::Timeout(timeout));
                }
            }
        }
    }
}

/// The backend stopped sending.
#[derive(Debug, thiserror::Error)]
#[error("the Git backend sent nothing for {0:?}")]
pub(crate) struct IdleTimeout(pub Duration);

/// Shared by both backends: a response body that fails once the backend
/// sends nothing for `timeout`, so a backend that stalls mid-stream cannot
/// hold a client (and a connection slot) forever. Git itself sends
/// keep-alive packets every few seconds while it works, so a healthy stream
/// is never idle for long. The request body's progress (`request`) also
/// counts: a backend reading a large push says nothing (the client asked
/// for `quiet`) until the pack is in.
fn idle_response<B>(body: B, timeout: Duration, request: Activity) -> BackendBody
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    IdleBody::new(body, timeout, |t| Box::new(IdleTimeout(t)))
        .kept_alive_by(request)
        .boxed_unsync()
}

/// Hop-by-hop headers (RFC 9110 section 7.6.1) plus those named in
/// `Connection`; never forwarded in either direction.
pub(crate) fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let named: Vec<http::HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| http::HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}
