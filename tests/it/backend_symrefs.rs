//! `Backend::push_targets` (issue 13: a push to a symbolic ref moves its
//! target) against real components: the embedded backend reading bare
//! repositories made by `git`, and the upstream backend asking Debian's
//! nginx + fcgiwrap + `git http-backend` (tests/common/nginx.rs) over Git
//! protocol v2 `ls-refs`. Both must agree on the same repository, and an
//! upstream that only answers protocol v0 must fail closed.

use std::convert::Infallible;
use std::path::Path;

use crate::common;
use crate::common::git_server::{self, GitServer, bare_repo, git_ok, rev, work_tree};
use crate::common::nginx::NginxGit;
use bytes::Bytes;
use gitiam::server::backend::{
    Backend, BackendError, RefTargets, UpstreamAuth, UpstreamBackend, UpstreamConfig,
};
use gitiam::shared::git::RepoName;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

fn ready(test: &str) -> bool {
    common::require_tool(test, "git", &["--version"]) && common::nginx::available(test)
}

fn upstream(url: &str, auth: Option<UpstreamAuth>) -> Backend {
    let mut config = UpstreamConfig::new(format!("{url}/{{account}}/{{repo}}.git"));
    config.auth = auth;
    config.response_timeout = std::time::Duration::from_secs(20);
    Backend::Upstream(UpstreamBackend::new(config).unwrap())
}

fn basic() -> UpstreamAuth {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("gitiam:upstream-secret");
    UpstreamAuth::parse_line(&format!("Authorization: Basic {token}")).unwrap()
}

fn repo_name() -> RepoName {
    RepoName::parse("sym").unwrap()
}

const NAMES: [&str; 7] = [
    "refs/heads/main",
    "refs/heads/alias",
    "refs/heads/outer",
    "refs/heads/packed-alias",
    "refs/tags/v1",
    "refs/heads/dangling",
    "refs/heads/absent",
];

/// `ROOT/ACCOUNT/sym.git` with main, a tag, and symrefs: a plain alias, a
/// chain of two, one whose target is only in packed-refs, a dangling one.
fn symref_repo(repos: &Path) -> std::path::PathBuf {
    let bare = bare_repo(repos, "sym", &[]);
    let tree = git_ok(&bare, &["mktree"]);
    let commit = git_ok(&bare, &["commit-tree", tree.trim(), "-m", "first"]);
    let commit = commit.trim();
    git_ok(&bare, &["update-ref", "refs/heads/main", commit]);
    git_ok(&bare, &["update-ref", "refs/heads/old", commit]);
    git_ok(&bare, &["update-ref", "refs/tags/v1", commit]);
    git_ok(&bare, &["pack-refs", "--all"]);
    git_ok(
        &bare,
        &["symbolic-ref", "refs/heads/packed-alias", "refs/heads/old"],
    );
    git_ok(&bare, &["update-ref", "refs/heads/main", commit]);
    git_ok(
        &bare,
        &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
    );
    git_ok(
        &bare,
        &["symbolic-ref", "refs/heads/outer", "refs/heads/alias"],
    );
    git_ok(
        &bare,
        &["symbolic-ref", "refs/heads/dangling", "refs/heads/not-yet"],
    );
    bare
}

fn refs(targets: Vec<RefTargets>) -> Vec<Vec<String>> {
    targets.into_iter().map(RefTargets::into_refs).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_agrees_with_embedded() {
    if !ready("upstream_agrees_with_embedded") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    symref_repo(&repos);
    let nginx = NginxGit::start(&repos, Some(("gitiam", "upstream-secret")));

    let embedded = git_server::cgi_backend(&repos)
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap();
    let remote = upstream(&nginx.url, Some(basic()))
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_or_else(|e| panic!("{e}\nnginx: {}", nginx.error_log()));

    assert_eq!(
        refs(embedded.clone()),
        [
            vec!["refs/heads/main"],
            vec!["refs/heads/alias", "refs/heads/main"],
            vec!["refs/heads/outer", "refs/heads/alias", "refs/heads/main"],
            vec!["refs/heads/packed-alias", "refs/heads/old"],
            vec!["refs/tags/v1"],
            vec!["refs/heads/dangling", "refs/heads/not-yet"],
            vec!["refs/heads/absent"],
        ]
    );
    for (local, over_wire) in embedded.iter().zip(&remote) {
        assert_eq!(local.name, over_wire.name);
        if local.name == "refs/heads/dangling" {
            // Git's ls-refs leaves out symrefs that do not resolve: the
            // upstream path cannot see this one (documented limitation).
            assert!(!over_wire.is_symbolic());
            continue;
        }
        // Same final target everywhere; ls-refs names only the final one.
        assert_eq!(local.final_ref(), over_wire.final_ref(), "{}", local.name);
        assert_eq!(local.is_symbolic(), over_wire.is_symbolic());
        if local.targets.len() <= 1 {
            assert_eq!(local, over_wire);
        } else {
            assert_eq!(over_wire.targets, [local.final_ref()]);
        }
    }

    // The order of the answer follows the question.
    let mut reversed = NAMES;
    reversed.reverse();
    let again = upstream(&nginx.url, Some(basic()))
        .push_targets(git_server::ACCOUNT, &repo_name(), &reversed)
        .await
        .unwrap();
    let mut expected = remote.clone();
    expected.reverse();
    assert_eq!(again, expected);

    // Nothing asked, nothing sent.
    assert!(
        upstream(&nginx.url, None)
            .push_targets(git_server::ACCOUNT, &repo_name(), &[])
            .await
            .unwrap()
            .is_empty()
    );
    // Without gitiam's credential the upstream refuses: an error, not "no
    // symrefs".
    let err = upstream(&nginx.url, None)
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::UpstreamAuth(401)), "{err:?}");
    // A repository the upstream does not have.
    let err = upstream(&nginx.url, Some(basic()))
        .push_targets(
            git_server::ACCOUNT,
            &RepoName::parse("nope").unwrap(),
            &NAMES,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidResponse(_)), "{err:?}");
}

/// A real push through the embedded backend moves what `push_targets`
/// said it would: pushing the alias moves main, deleting it deletes main.
#[test]
fn receive_pack_updates_the_predicted_refs() {
    if !common::require_tool(
        "receive_pack_updates_the_predicted_refs",
        "git",
        &["--version"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "r", &[]);
    let server = GitServer::start(git_server::cgi_backend(&repos), None);
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("r"), &[]);
    git_ok(&work, &["push", "-q", "origin", "main"]);
    git_ok(
        &bare,
        &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let predicted = rt
        .block_on(git_server::cgi_backend(&repos).push_targets(
            git_server::ACCOUNT,
            &RepoName::parse("r").unwrap(),
            &["refs/heads/alias"],
        ))
        .unwrap();
    assert_eq!(predicted[0].final_ref(), "refs/heads/main");

    git_server::commit_file(&work, "f", b"two\n", "second");
    git_ok(&work, &["push", "-q", "origin", "HEAD:refs/heads/alias"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(
        rev(&bare, "refs/heads/main").as_deref(),
        Some(head.as_str())
    );
    // The symref itself is still a symref.
    assert_eq!(
        git_ok(&bare, &["symbolic-ref", "refs/heads/alias"]).trim(),
        "refs/heads/main"
    );

    // Deleting the alias deletes its target; the alias stays, dangling.
    git_ok(&work, &["push", "-q", "origin", ":refs/heads/alias"]);
    assert_eq!(rev(&bare, "refs/heads/main"), None);
    assert_eq!(
        std::fs::read_to_string(bare.join("refs/heads/alias")).unwrap(),
        "ref: refs/heads/main\n"
    );
}

/// Serves `answer` for every request; used to stand in for servers that
/// are not protocol v2 Git servers.
async fn serve<F>(answer: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: Fn(http::Request<hyper::body::Incoming>) -> stub::BoxFuture + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let fut = answer(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, task)
}

mod stub {
    pub type Body = http_body_util::Full<bytes::Bytes>;
    pub type BoxFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<Body>> + Send>>;
}

/// An upstream that speaks only protocol v0: nginx + `git http-backend`
/// behind a proxy that drops the `Git-Protocol` header, as an old proxy in
/// front of a Git server would. `git http-backend` then answers v0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v0_only_upstream_fails_closed() {
    if !ready("v0_only_upstream_fails_closed") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    symref_repo(&repos);
    let nginx = NginxGit::start(&repos, None);
    let target = nginx.url.clone();
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let (url, task) = serve(move |req| {
        let client = client.clone();
        let target = target.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            parts.headers.remove("git-protocol");
            parts.headers.remove(http::header::HOST);
            parts.uri = format!("{target}{}", parts.uri.path_and_query().unwrap())
                .parse()
                .unwrap();
            let response = client
                .request(http::Request::from_parts(parts, Full::new(body)))
                .await
                .unwrap();
            let (parts, body) = response.into_parts();
            http::Response::from_parts(parts, Full::new(body.collect().await.unwrap().to_bytes()))
        })
    })
    .await;

    // The proxy works: v0 clients get their advertisement through it.
    let direct = format!("{url}/{}/sym.git", git_server::ACCOUNT);
    let listed = git_ok(tmp.path(), &["ls-remote", &direct]);
    assert!(listed.contains("refs/heads/alias"), "{listed}");

    let err = upstream(&url, None)
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::UpstreamNotV2(_)), "{err:?}");
    let err = gitiam::server::https::error::HttpError::from(err);
    assert_eq!(err.status(), http::StatusCode::BAD_GATEWAY);
    assert!(err.public_message().contains("protocol version 2"));
    // The same upstream without the proxy speaks v2.
    assert!(
        upstream(&nginx.url, None)
            .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
            .await
            .is_ok()
    );
    task.abort();
}

/// A server that is not a smart-HTTP Git server (a dumb-HTTP file server
/// answers `text/plain`), and one that sends garbage after a valid answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_git_and_garbage_upstreams_fail_closed() {
    let (url, task) = serve(|_req| {
        Box::pin(async {
            let mut r = http::Response::new(Full::new(Bytes::from_static(b"hello\n")));
            r.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            r
        })
    })
    .await;
    let err = upstream(&url, None)
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::UpstreamNotV2(_)), "{err:?}");
    task.abort();

    let (url, task) = serve(|req| {
        Box::pin(async move {
            let (ct, body): (&str, &[u8]) = if req.method() == http::Method::GET {
                (
                    "application/x-git-upload-pack-advertisement",
                    b"000eversion 2\n000cls-refs\n0000",
                )
            } else {
                (
                    "application/x-git-upload-pack-result",
                    b"0000trailing garbage",
                )
            };
            let mut r = http::Response::new(Full::new(Bytes::from_static(body)));
            r.headers_mut().insert("content-type", ct.parse().unwrap());
            r
        })
    })
    .await;
    let err = upstream(&url, None)
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::InvalidResponse(_)), "{err:?}");
    task.abort();

    // An advertisement larger than the cap.
    let (url, task) = serve(|_req| {
        Box::pin(async {
            let line = format!("fff0{}", "a".repeat(0xfff0 - 4));
            let body = line.repeat(200);
            let mut r = http::Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(
                "content-type",
                "application/x-git-upload-pack-advertisement"
                    .parse()
                    .unwrap(),
            );
            r
        })
    })
    .await;
    let err = upstream(&url, None)
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");
    task.abort();
}

/// An upstream that never answers: the response timeout applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_upstream_times_out() {
    let (url, task) = serve(|_req| {
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            http::Response::new(Full::new(Bytes::new()))
        })
    })
    .await;
    let mut config = UpstreamConfig::new(format!("{url}/{{account}}/{{repo}}.git"));
    config.response_timeout = std::time::Duration::from_millis(300);
    let err = Backend::Upstream(UpstreamBackend::new(config).unwrap())
        .push_targets(git_server::ACCOUNT, &repo_name(), &NAMES)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
    assert_eq!(
        gitiam::server::https::error::HttpError::from(err).status(),
        http::StatusCode::GATEWAY_TIMEOUT
    );
    task.abort();
}
