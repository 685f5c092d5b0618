//! A plain-HTTP Git server for tests, built from the library's own pieces:
//! `git::route` for `/v1/repos/NAME/...`, `git::inspect_receive_pack` for
//! pushes (every parsed push is recorded), an optional deny rule answered
//! with `git::refuse_push`, and a `backend::Backend` (CGI or upstream) for
//! the rest. It runs on its own thread and runtime so tests can drive the
//! real `git` synchronously; dropped, it shuts down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gitiam::server::backend::{self, Backend, BackendBody, BackendRequest};
use gitiam::server::https::error::{self, HttpError};
use gitiam::shared::git::{self, GitEndpoint, GitService, PushRequest, RefDenial};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{CommandExt as _, Run};

/// Account id every repository of the test server lives under.
pub const ACCOUNT: &str = "111122223333";
/// Principal the server forwards as (`REMOTE_USER`).
pub const PRINCIPAL: &str = "arn:aws:iam::111122223333:user/alice";

/// Decides which refs of a push are denied (empty: allowed).
pub type DenyRule = Arc<dyn Fn(&PushRequest) -> Vec<RefDenial> + Send + Sync>;

/// The running server.
pub struct GitServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pushes: Arc<Mutex<Vec<PushRequest>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitServer {
    /// Serves `backend`, refusing pushes per `deny`.
    pub fn start(backend: Backend, deny: Option<DenyRule>) -> GitServer {
        Self::start_with(backend, deny, &[])
    }

    /// Like [`start`](Self::start), and removes the capabilities `hide`
    /// from receive-pack's advertisement, to make the real client use
    /// older protocol features (e.g. `report-status` instead of
    /// `report-status-v2`, no `side-band-64k`).
    pub fn start_with(backend: Backend, deny: Option<DenyRule>, hide: &[&str]) -> GitServer {
        let hide: Vec<String> = hide.iter().map(|s| (*s).to_owned()).collect();
        let pushes = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown_tx, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let recorded = pushes.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let state = Arc::new((backend, deny, recorded, hide));
                loop {
                    let (stream, peer) = tokio::select! {
                        r = listener.accept() => r.unwrap(),
                        _ = &mut shutdown_rx => return,
                    };
                    let state = state.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            let state = state.clone();
                            async move {
                                let (backend, deny, recorded, hide) = &*state;
                                let response =
                                    handle(req, peer, backend, deny.as_ref(), recorded).await;
                                Ok::<_, Infallible>(if hide.is_empty() {
                                    response
                                } else {
                                    hide_capabilities(response, hide).await
                                })
                            }
                        });
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        let addr = addr_rx.recv().unwrap();
        GitServer {
            base: format!("http://{addr}"),
            pushes,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// Clone URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/v1/repos/{name}", self.base)
    }

    /// Every receive-pack request parsed so far, in order.
    pub fn pushes(&self) -> Vec<PushRequest> {
        self.pushes.lock().unwrap().clone()
    }

    /// Forgets recorded pushes.
    pub fn clear(&self) {
        self.pushes.lock().unwrap().clear();
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn text(status: http::StatusCode, msg: &str) -> http::Response<BackendBody> {
    let mut r = http::Response::new(
        Full::new(Bytes::from(format!("{msg}\n")))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    r
}

/// Rewrites a receive-pack ref advertisement without the `hide`
/// capabilities (other responses pass unchanged).
async fn hide_capabilities(
    response: http::Response<BackendBody>,
    hide: &[String],
) -> http::Response<BackendBody> {
    let is_advert = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/x-git-receive-pack-advertisement");
    if !is_advert {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let raw = body.collect().await.unwrap().to_bytes();
    let mut reader = git::pktline::PktReader::new(1 << 24);
    reader.feed(&raw).unwrap();
    let mut out = bytes::BytesMut::new();
    while let Some(packet) = reader.next_packet().unwrap() {
        match packet {
            git::pktline::Packet::Data(line) => {
                let mut line = line.to_vec();
                if let Some(nul) = line.iter().position(|b| *b == 0) {
                    let caps = String::from_utf8(line[nul + 1..].to_vec()).unwrap();
                    let kept: Vec<&str> = caps
                        .trim_end_matches('\n')
                        .split(' ')
                        .filter(|c| !hide.iter().any(|h| h == c))
                        .collect();
                    line.truncate(nul + 1);
                    line.extend_from_slice(kept.join(" ").as_bytes());
                    line.push(b'\n');
                }
                git::pktline::write_data(&mut out, &line).unwrap();
            }
            git::pktline::Packet::Flush => git::pktline::write_flush(&mut out),
            other => panic!("unexpected {other:?} in advertisement"),
        }
    }
    parts.headers.remove("content-length");
    http::Response::from_parts(
        parts,
        Full::new(out.freeze())
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

async fn handle(
    req: http::Request<Incoming>,
    peer: SocketAddr,
    backend: &Backend,
    deny: Option<&DenyRule>,
    recorded: &Mutex<Vec<PushRequest>>,
) -> http::Response<BackendBody> {
    let Some(rest) = req.uri().path().strip_prefix("/v1/repos/") else {
        return text(http::StatusCode::NOT_FOUND, "not found");
    };
    let (repo, endpoint) = match git::route(req.method(), rest, req.uri().query()) {
        Ok(r) => r,
        Err(e) => return text(http::StatusCode::NOT_FOUND, &e.to_string()),
    };
    let (parts, incoming) = req.into_parts();
    let body = if endpoint == GitEndpoint::Rpc(GitService::ReceivePack) {
        let (push, replay) =
            match git::inspect_receive_pack(incoming, git::InspectLimits::default()).await {
                Ok(r) => r,
                Err(e) => {
                    let e = HttpError::from(e);
                    return text(e.status(), &e.to_string());
                }
            };
        recorded.lock().unwrap().push(push.clone());
        let denied = deny.map(|d| d(&push)).unwrap_or_default();
        if !denied.is_empty() {
            git::drain(replay, git::DrainLimits::default()).await;
            return error::refusal(git::refuse_push(&push, &denied), true);
        }
        backend::request_body(replay)
    } else {
        backend::request_body(incoming)
    };
    let request = BackendRequest {
        account: ACCOUNT.to_owned(),
        repo,
        endpoint,
        method: parts.method,
        headers: parts.headers,
        principal_arn: PRINCIPAL.to_owned(),
        client_ip: peer.ip(),
        client_scheme: "http",
        body,
    };
    match backend.forward(request).await {
        Ok(r) => r,
        Err(e) => {
            let e = HttpError::from(e);
            text(e.status(), &e.public_message())
        }
    }
}

/// Runs `git` with an isolated configuration (no user or system config,
/// fixed identity, no prompts) in `dir`; returns the output.
pub fn git(dir: &std::path::Path, args: &[&str]) -> Run {
    git_env(dir, args, &[])
}

/// [`git`] with extra environment variables.
pub fn git_env(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = super::isolated_git(dir);
    cmd.args(args)
        .env("HOME", dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.run()
}

/// `git -c protocol.version=VERSION clone -q URL DEST` in `dir` with
/// `GIT_TRACE_PACKET=1`, so the packet trace is in stderr.
pub fn clone_traced(
    dir: &std::path::Path,
    version: &str,
    url: &str,
    dest: &std::path::Path,
) -> Run {
    git_env(
        dir,
        &[
            "-c",
            &format!("protocol.version={version}"),
            "clone",
            "-q",
            url,
            dest.to_str().unwrap(),
        ],
        &[("GIT_TRACE_PACKET", "1")],
    )
}

/// [`git`], asserting it succeeds; returns stdout.
#[track_caller]
pub fn git_ok(dir: &std::path::Path, args: &[&str]) -> String {
    git(dir, args).assert_success().stdout
}

/// Creates bare repository `ROOT/ACCOUNT/NAME.git` (extra `git init` args
/// such as `--object-format=sha256`) and returns its path.
pub fn bare_repo(root: &std::path::Path, name: &str, init_args: &[&str]) -> std::path::PathBuf {
    let path = root.join(ACCOUNT).join(format!("{name}.git"));
    std::fs::create_dir_all(&path).unwrap();
    let mut args = vec!["init", "--bare", "-q", "-b", "main"];
    args.extend_from_slice(init_args);
    args.push(path.to_str().unwrap());
    git_ok(root, &args);
    path
}

/// A work tree at `dir` with one commit on `main`, remote `origin` = `url`.
pub fn work_tree(dir: &std::path::Path, url: &str, init_args: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut args = vec!["init", "-q", "-b", "main"];
    args.extend_from_slice(init_args);
    git_ok(dir, &args);
    std::fs::write(dir.join("README"), "hello\n").unwrap();
    git_ok(dir, &["add", "README"]);
    git_ok(dir, &["commit", "-q", "-m", "first"]);
    git_ok(dir, &["remote", "add", "origin", url]);
}

/// Commits a file with `content` in the work tree `dir`.
pub fn commit_file(dir: &std::path::Path, file: &str, content: &[u8], msg: &str) {
    std::fs::write(dir.join(file), content).unwrap();
    git_ok(dir, &["add", file]);
    git_ok(dir, &["commit", "-q", "-m", msg]);
}

/// `git rev-parse REF` in the bare repository, or None if it does not exist.
pub fn rev(bare: &std::path::Path, reference: &str) -> Option<String> {
    let out = git(bare, &["rev-parse", "--verify", "-q", reference]);
    out.succeeded().then(|| out.stdout.trim().to_owned())
}

/// A bodiless `GET info/refs?service=git-upload-pack` for repository `r` of
/// [`ACCOUNT`], from [`PRINCIPAL`] at 127.0.0.1: for driving a backend
/// directly.
pub fn info_refs_request() -> BackendRequest {
    BackendRequest {
        account: ACCOUNT.into(),
        repo: git::RepoName::parse("r").unwrap(),
        endpoint: GitEndpoint::InfoRefs(GitService::UploadPack),
        method: http::Method::GET,
        headers: http::HeaderMap::new(),
        principal_arn: PRINCIPAL.into(),
        client_ip: "127.0.0.1".parse().unwrap(),
        client_scheme: "https",
        body: backend::request_body(http_body_util::Empty::<Bytes>::new()),
    }
}

/// The embedded CGI backend over `repos`.
pub fn cgi_backend(repos: &std::path::Path) -> Backend {
    Backend::Cgi(backend::CgiBackend::new(backend::CgiConfig::new(repos)).unwrap())
}
