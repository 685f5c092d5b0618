//! The embedded backend: one `git http-backend` CGI process per request,
//! serving `REPOS/ACCOUNT_ID/NAME.git`.
//!
//! The request body is streamed into the child's stdin and its stdout is
//! streamed back after the CGI header block, so memory stays flat whatever
//! the pack size. The child gets a clean environment (only the CGI
//! variables and `PATH`): nothing of the proxy's environment, which may hold
//! secrets, leaks into Git or its hooks. `REMOTE_USER` is the principal's
//! ARN, which is also what makes `http-backend` enable receive-pack.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::process::{Child, ChildStdout, Command};

use super::symrefs::{self, RefTargets};
use super::{BackendBody, BackendError, BackendRequest, RequestBody};
use crate::server::body::{Activity, TrackedBody};
use crate::shared::BoxError;
use crate::shared::git::RepoName;

/// Settings of the embedded backend.
#[derive(Debug, Clone)]
pub struct CgiConfig {
    /// Root holding `ACCOUNT_ID/NAME.git` bare repositories.
    pub repos_root: PathBuf,
    /// The `git` program used to locate `git-http-backend`.
    pub git: PathBuf,
    /// Longest wait for the CGI header block while the request body is idle.
    pub response_timeout: Duration,
    /// Longest silence from the CGI program once its answer has started.
    pub response_idle_timeout: Duration,
    /// Largest CGI header block accepted.
    pub max_header_bytes: usize,
    /// How much of the child's stderr is kept for the log.
    pub max_stderr_bytes: usize,
}

impl CgiConfig {
    /// Defaults for `repos_root`: `git` from `PATH`, 60 s to the first
    /// byte, 300 s of silence mid-answer, 64 KiB of headers, 8 KiB of stderr.
    pub fn new(repos_root: impl Into<PathBuf>) -> Self {
        Self {
            repos_root: repos_root.into(),
            git: PathBuf::from("git"),
            response_timeout: Duration::from_secs(60),
            response_idle_timeout: Duration::from_secs(300),
            max_header_bytes: 64 * 1024,
            max_stderr_bytes: 8 * 1024,
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: CgiConfig,
    http_backend: PathBuf,
    path_env: Option<std::ffi::OsString>,
}

/// Runs `git http-backend` per request.
#[derive(Debug, Clone)]
pub struct CgiBackend {
    inner: Arc<Inner>,
}

impl CgiBackend {
    /// Locates `git-http-backend` (`git --exec-path`), once.
    pub fn new(config: CgiConfig) -> Result<Self, BackendError> {
        let out = std::process::Command::new(&config.git)
            .arg("--exec-path")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(BackendError::Start)?;
        if !out.status.success() {
            return Err(BackendError::Start(std::io::Error::other(format!(
                "`{} --exec-path` failed",
                config.git.display()
            ))));
        }
        let exec_path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let http_backend = Path::new(&exec_path).join("git-http-backend");
        if !http_backend.is_file() {
            return Err(BackendError::Start(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} not found", http_backend.display()),
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http_backend,
                path_env: std::env::var_os("PATH"),
            }),
        })
    }

    /// Path of the `git-http-backend` program in use.
    pub fn http_backend_path(&self) -> &Path {
        &self.inner.http_backend
    }

    /// The settings.
    pub fn config(&self) -> &CgiConfig {
        &self.inner.config
    }

    /// The one mapping from account and repository to the disk:
    /// `GIT_PROJECT_ROOT` (`REPOS/ACCOUNT`) and the repository's directory
    /// name below it (`NAME.git`, the start of `PATH_INFO`).
    fn repository_location(
        &self,
        account: &str,
        repo: &RepoName,
    ) -> Result<(PathBuf, String), BackendError> {
        super::check_account(account)?;
        Ok((
            self.inner.config.repos_root.join(account),
            format!("{repo}.git"),
        ))
    }

    /// The directory `git http-backend` is pointed at for `repo` of
    /// `account` (`REPOS/ACCOUNT/NAME.git`).
    pub fn repository_path(&self, account: &str, repo: &RepoName) -> Result<PathBuf, BackendError> {
        let (root, dir) = self.repository_location(account, repo)?;
        Ok(root.join(dir))
    }

    /// See [`Backend::push_targets`](super::Backend::push_targets): reads
    /// the bare repository's loose refs ([`symrefs`]), and with
    /// `core.ignorecase` also the refs whose names differ only in case.
    ///
    /// `GIT_NAMESPACE` is not set for `git http-backend` ([`forward`]
    /// clears the environment), so refs are read at the repository's top,
    /// as receive-pack updates them. A repository that does not exist
    /// yields every name as plain: http-backend answers 404 and updates
    /// nothing.
    ///
    /// [`forward`]: Self::forward
    pub async fn push_targets(
        &self,
        account: &str,
        repo: &RepoName,
        names: &[&str],
    ) -> Result<Vec<RefTargets>, BackendError> {
        symrefs::check_names(names)?;
        let base = self.repository_path(account, repo)?;
        let config = &self.inner.config;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let timeout = config.response_timeout;
        let locate = tokio::task::spawn_blocking(move || symrefs::locate_repository(&base));
        let located = tokio::time::timeout(timeout, locate)
            .await
            .map_err(|_| BackendError::Timeout(timeout))?
            .map_err(|e| BackendError::RefResolution(format!("resolver task failed: {e}")))??;
        let Some(gitdir) = located else {
            return Ok(names.iter().map(|n| RefTargets::plain(n)).collect());
        };
        let repo_config = symrefs::read_config(
            &config.git,
            self.inner.path_env.as_deref(),
            &gitdir,
            timeout,
        )
        .await?;
        let resolve = tokio::task::spawn_blocking(move || {
            symrefs::resolve_all_loose(&gitdir, &names, repo_config)
        });
        tokio::time::timeout(timeout, resolve)
            .await
            .map_err(|_| BackendError::Timeout(timeout))?
            .map_err(|e| BackendError::RefResolution(format!("resolver task failed: {e}")))?
    }

    /// Runs the request through `git http-backend`.
    pub async fn forward(
        &self,
        request: BackendRequest,
    ) -> Result<http::Response<BackendBody>, BackendError> {
        let config = &self.inner.config;
        let (project_root, repo_dir) = self.repository_location(&request.account, &request.repo)?;
        let mut cmd = Command::new(&self.inner.http_backend);
        cmd.env_clear()
            .env("GIT_PROJECT_ROOT", project_root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .env("REQUEST_METHOD", request.method.as_str())
            .env(
                "PATH_INFO",
                format!("/{repo_dir}{}", request.endpoint.subpath()),
            )
            .env("QUERY_STRING", request.endpoint.query().unwrap_or_default())
            .env("REMOTE_USER", &request.principal_arn)
            .env("REMOTE_ADDR", request.client_ip.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = &self.inner.path_env {
            cmd.env("PATH", path);
        }
        let header = |name: http::HeaderName| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(v) = header(http::header::CONTENT_TYPE) {
            cmd.env("CONTENT_TYPE", v);
        }
        if let Some(v) = header(http::header::CONTENT_LENGTH)
            && !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
        {
            cmd.env("CONTENT_LENGTH", v);
        }
        if let Some(v) = header(http::header::CONTENT_ENCODING) {
            cmd.env("HTTP_CONTENT_ENCODING", v);
        }
        if let Some(v) = header(http::HeaderName::from_static("git-protocol"))
            && v.len() <= 1024
        {
            // http-backend turns HTTP_GIT_PROTOCOL into GIT_PROTOCOL itself.
            cmd.env("HTTP_GIT_PROTOCOL", v);
        }

        let mut child = cmd.spawn().map_err(BackendError::Start)?;
        let (Some(stdin), Some(mut stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(BackendError::Start(std::io::Error::other(
                "child pipes missing",
            )));
        };

        let activity = Activity::new();
        let body = activity.track(request.body);
        let (request_failed, request_failure) = tokio::sync::oneshot::channel();
        tokio::spawn(feed_stdin(body, stdin, request_failed));
        tokio::spawn(log_stderr(
            stderr,
            config.max_stderr_bytes,
            request.repo.to_string(),
        ));

        let head = super::wait_active(
            &activity,
            config.response_timeout,
            read_header_block(&mut stdout, config.max_header_bytes),
        )
        .await?;
        // On error `child` is dropped here, which kills it.
        let (response, rest) = head?;
        let body = CgiBody {
            pending: (!rest.is_empty()).then_some(rest),
            stdout,
            child: Some(child),
            buf: vec![0; 64 * 1024],
            request_failure: Some(request_failure),
        };
        let timeout = config.response_idle_timeout;
        Ok(response.map(|()| super::idle_response(body, timeout, activity)))
    }
}

/// Copies the request body into the child's stdin; closing stdin at the end
/// is what tells http-backend the request is complete.
///
/// A request body that fails (client gone, idle timeout) is reported through
/// `failed` rather than by closing stdin: to http-backend a closed stdin is
/// a complete request, and it would answer a truncated push with a normal
/// report under HTTP 200.
async fn feed_stdin(
    mut body: TrackedBody<RequestBody>,
    mut stdin: tokio::process::ChildStdin,
    failed: tokio::sync::oneshot::Sender<BoxError>,
) {
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && stdin.write_all(&data).await.is_err()
                {
                    // The child stopped reading (it answered early or died).
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "request body failed; stopping the backend");
                // The response body kills the child when it sees this.
                let _ = failed.send(e);
                return;
            }
        }
    }
    let _ = stdin.shutdown().await;
}

/// Keeps the first `max` bytes of stderr for the log and discards the rest,
/// so a chatty child never blocks on a full pipe.
async fn log_stderr(mut stderr: tokio::process::ChildStderr, max: usize, repo: String) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    let mut dropped = 0usize;
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                let room = max.saturating_sub(kept.len());
                let take = room.min(n);
                kept.extend_from_slice(chunk.get(..take).unwrap_or_default());
                dropped += n - take;
            }
        }
    }
    if !kept.is_empty() {
        tracing::warn!(
            repo = %repo,
            stderr = %String::from_utf8_lossy(&kept).trim_end(),
            truncated_bytes = dropped,
            "git http-backend stderr"
        );
    }
}

/// Reads the CGI header block (up to the blank line) and returns the
/// response head plus whatever body bytes came with it.
async fn read_header_block(
    stdout: &mut ChildStdout,
    max: usize,
) -> Result<(http::Response<()>, Bytes), BackendError> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some((end, body_start)) = find_header_end(&buf) {
            let head = parse_cgi_headers(buf.get(..end).unwrap_or_default())?;
            let rest = buf.split_off(body_start).freeze();
            return Ok((head, rest));
        }
        if buf.len() > max {
            return Err(BackendError::InvalidResponse(format!(
                "CGI header block exceeds {max} bytes"
            )));
        }
        let n = stdout.read_buf(&mut buf).await.map_err(|e| {
            BackendError::InvalidResponse(format!("reading CGI output failed: {e}"))
        })?;
        if n == 0 {
            return Err(BackendError::InvalidResponse(
                "git http-backend exited without a response".to_owned(),
            ));
        }
    }
}

/// Position of the blank line ending the header block (`\r\n\r\n` or `\n\n`).
fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, b) in buf.iter().enumerate() {
        if *b == b'\n' {
            let line = buf.get(line_start..i).unwrap_or_default();
            if line.is_empty() || line == b"\r" {
                return Some((line_start, i + 1));
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parses CGI response headers: `Status: CODE REASON` sets the status (200
/// without it); every other line is an HTTP header.
fn parse_cgi_headers(block: &[u8]) -> Result<http::Response<()>, BackendError> {
    let bad = |what: &str| BackendError::InvalidResponse(format!("bad CGI header: {what}"));
    let mut response = http::Response::new(());
    for line in block.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(|| bad("missing ':'"))?;
        let name = line.get(..colon).unwrap_or_default();
        let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
        if name.eq_ignore_ascii_case(b"status") {
            let code = value.get(..3).ok_or_else(|| bad("status"))?;
            *response.status_mut() =
                http::StatusCode::from_bytes(code).map_err(|_| bad("status"))?;
            continue;
        }
        let name = http::HeaderName::from_bytes(name).map_err(|_| bad("name"))?;
        let value = http::HeaderValue::from_bytes(value).map_err(|_| bad("value"))?;
        response.headers_mut().append(name, value);
    }
    super::strip_hop_by_hop(response.headers_mut());
    Ok(response)
}

/// The response body: the child's stdout after the header block. Dropping
/// it before the end (client gone) kills the child.
struct CgiBody {
    pending: Option<Bytes>,
    stdout: ChildStdout,
    child: Option<Child>,
    buf: Vec<u8>,
    /// Yields the request body's error if it failed before its end.
    request_failure: Option<tokio::sync::oneshot::Receiver<BoxError>>,
}

impl CgiBody {
    /// Lets the child finish (hooks may still run after stdout closes) and
    /// reaps it; a child that hangs is killed after a grace period.
    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
                    Ok(Ok(status)) if !status.success() => {
                        tracing::debug!(%status, "git http-backend exited unsuccessfully");
                    }
                    _ => {}
                }
            });
        }
    }
}

impl Body for CgiBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(failure) = self.request_failure.as_mut() {
            match Pin::new(failure).poll(cx) {
                Poll::Ready(Ok(error)) => {
                    self.request_failure = None;
                    self.pending = None;
                    // Whatever the backend would still say answers a
                    // request it never fully received.
                    if let Some(child) = self.child.as_mut() {
                        let _ = child.start_kill();
                    }
                    self.reap();
                    return Poll::Ready(Some(Err(error)));
                }
                // The body ended normally (or the child stopped reading).
                Poll::Ready(Err(_closed)) => self.request_failure = None,
                Poll::Pending => {}
            }
        }
        if let Some(data) = self.pending.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.child.is_none() {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.stdout).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                this.reap();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Ok(())) => {
                if read.filled().is_empty() {
                    this.reap();
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(read.filled())))))
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.child.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block() {
        let raw = b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: x\r\n\r\nbody";
        let (end, start) = find_header_end(raw).unwrap();
        assert_eq!(&raw[start..], b"body");
        let r = parse_cgi_headers(&raw[..end]).unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "text/plain");
        let raw = b"Content-Type: a/b\n\nxyz";
        let (end, start) = find_header_end(raw).unwrap();
        assert_eq!(&raw[start..], b"xyz");
        assert_eq!(parse_cgi_headers(&raw[..end]).unwrap().status(), 200);
        assert!(find_header_end(b"Content-Type: a/b\r\n").is_none());
        assert!(parse_cgi_headers(b"no colon").is_err());
        assert!(parse_cgi_headers(b"Status: abc").is_err());
        assert!(parse_cgi_headers(b"Bad Name: x").is_err());
    }
}
