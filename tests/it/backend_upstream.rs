//! The upstream forwarder against a Git server that is not gitiam's own:
//! Debian's nginx + fcgiwrap + `git http-backend` (tests/it/common/nginx.rs),
//! with and without basic auth that gitiam presents via its upstream auth
//! header; the client's own `Authorization` must never reach the upstream.

use crate::common;

use std::sync::Arc;

use crate::common::git_server::{self, GitServer, bare_repo, git, git_ok, rev, work_tree};
use crate::common::nginx::NginxGit;
use base64::Engine as _;
use gitiam::server::backend::{Backend, UpstreamAuth, UpstreamBackend, UpstreamConfig};
use gitiam::shared::git::RefDenial;

fn ready(test: &str) -> bool {
    common::require_tool(test, "git", &["--version"]) && common::nginx::available(test)
}

fn upstream(url: &str, auth: Option<UpstreamAuth>) -> Backend {
    let mut config = UpstreamConfig::new(format!("{url}/{{account}}/{{repo}}.git"));
    config.auth = auth;
    Backend::Upstream(UpstreamBackend::new(config).unwrap())
}

fn basic(user: &str, pass: &str) -> UpstreamAuth {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    UpstreamAuth::parse_line(&format!("Authorization: Basic {token}")).unwrap()
}

#[test]
fn clone_and_push_through_upstream_with_auth() {
    if !ready("clone_and_push_through_upstream_with_auth") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "up", &[]);
    let nginx = NginxGit::start(&repos, Some(("gitiam", "upstream-secret")));

    // The fixture itself enforces auth.
    let direct = format!("{}/{}/up.git", nginx.url, git_server::ACCOUNT);
    let out = git(tmp.path(), &["ls-remote", &direct]);
    out.check(!out.succeeded(), "nginx served without credentials");

    let server = GitServer::start(
        upstream(&nginx.url, Some(basic("gitiam", "upstream-secret"))),
        None,
    );
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("up"), &[]);
    git(&work, &["push", "origin", "main"])
        .context("nginx error log", nginx.error_log())
        .assert_success();
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(
        rev(&bare, "refs/heads/main").as_deref(),
        Some(head.as_str())
    );
    assert_eq!(server.pushes().last().unwrap().commands.len(), 1);

    for version in ["0", "2"] {
        let dest = tmp.path().join(format!("clone-v{version}"));
        let out = git_server::clone_traced(tmp.path(), version, &server.url("up"), &dest)
            .assert_success();
        if version == "2" {
            // Git-Protocol reached http-backend through both proxies.
            out.assert_stderr_contains("version 2");
        }
        assert_eq!(git_ok(&dest, &["rev-parse", "HEAD"]).trim(), head);
    }

    // nginx's http-backend saw the upstream user as REMOTE_USER (reflog).
    git_ok(&bare, &["config", "core.logAllRefUpdates", "always"]);
    git_ok(&work, &["push", "-q", "origin", "main:refs/heads/logged"]);
    let log = std::fs::read_to_string(bare.join("logs/refs/heads/logged")).unwrap();
    assert!(log.contains("gitiam"), "{log}");
}

#[test]
fn client_authorization_is_not_forwarded() {
    if !ready("client_authorization_is_not_forwarded") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    bare_repo(&repos, "up", &[]);
    let nginx = NginxGit::start(&repos, Some(("gitiam", "upstream-secret")));
    // gitiam has no upstream credential; the client sends the right one.
    let server = GitServer::start(upstream(&nginx.url, None), None);
    let with_creds = server
        .url("up")
        .replace("http://", "http://gitiam:upstream-secret@");
    let out = git(tmp.path(), &["ls-remote", &with_creds]);
    out.check(
        !out.succeeded(),
        "the client's Authorization reached the upstream",
    );
    // The upstream's 401 is not passed on (git would prompt in vain).
    out.assert_stderr_contains("502");
    // A wrong upstream credential fails the same way.
    let server = GitServer::start(upstream(&nginx.url, Some(basic("gitiam", "wrong"))), None);
    git(tmp.path(), &["ls-remote", &server.url("up")])
        .assert_failure()
        .assert_stderr_contains("502");
}

#[test]
fn denied_push_never_reaches_upstream() {
    if !ready("denied_push_never_reaches_upstream") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "up", &[]);
    let nginx = NginxGit::start(&repos, None);
    let deny: git_server::DenyRule = Arc::new(|push: &gitiam::shared::git::PushRequest| {
        push.commands
            .iter()
            .filter(|c| c.name.starts_with("refs/tags/"))
            .map(|c| RefDenial {
                name: c.name.clone(),
                reason: "denied by policy t.json statement NoTags".into(),
            })
            .collect()
    });
    let server = GitServer::start(upstream(&nginx.url, None), Some(deny));
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("up"), &[]);
    git_ok(&work, &["push", "-q", "origin", "main"]);
    git_ok(&work, &["tag", "v1"]);
    git(&work, &["push", "origin", "v1"])
        .assert_failure()
        .assert_stderr_contains(
            "! [remote rejected] v1 -> v1 (denied by policy t.json statement NoTags)",
        );
    assert_eq!(rev(&bare, "refs/tags/v1"), None);
}

#[test]
fn unreachable_upstream_is_bad_gateway() {
    if !common::require_tool("unreachable_upstream_is_bad_gateway", "git", &["--version"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = GitServer::start(upstream(&format!("http://127.0.0.1:{port}"), None), None);
    git(tmp.path(), &["ls-remote", &server.url("up")])
        .assert_failure()
        .assert_stderr_contains("502");
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it,
/// written as PEM files; returns (ca, chain, key) paths.
fn test_pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gitiam test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let ca_path = dir.join("ca.pem");
    let chain_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(&chain_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_path, chain_path, key_path)
}

#[test]
fn https_upstream_with_ca_file() {
    if !ready("https_upstream_with_ca_file") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "tls", &[]);
    let (ca, chain, key) = test_pki(tmp.path());
    let nginx = NginxGit::start_tls(&repos, Some(("gitiam", "pw")), &chain, &key);
    assert!(nginx.url.starts_with("https://"));

    let mut config = UpstreamConfig::new(format!("{}/{{account}}/{{repo}}.git", nginx.url));
    config.ca_file = Some(ca);
    config.auth = Some(basic("gitiam", "pw"));
    let server = GitServer::start(
        Backend::Upstream(UpstreamBackend::new(config).unwrap()),
        None,
    );
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("tls"), &[]);
    git(&work, &["push", "origin", "main"])
        .context("nginx error log", nginx.error_log())
        .assert_success();
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(
        rev(&bare, "refs/heads/main").as_deref(),
        Some(head.as_str())
    );
    let dest = tmp.path().join("clone");
    git_ok(
        tmp.path(),
        &["clone", "-q", &server.url("tls"), dest.to_str().unwrap()],
    );
    assert_eq!(git_ok(&dest, &["rev-parse", "HEAD"]).trim(), head);

    // Without the CA file the test CA is not trusted: 502, not a pass.
    let config = UpstreamConfig::new(format!("{}/{{account}}/{{repo}}.git", nginx.url));
    let server = GitServer::start(
        Backend::Upstream(UpstreamBackend::new(config).unwrap()),
        None,
    );
    git(tmp.path(), &["ls-remote", &server.url("tls")])
        .assert_failure()
        .assert_stderr_contains("502");
}

#[tokio::test]
async fn silent_upstream_times_out_with_504() {
    use gitiam::server::backend::BackendError;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut config = UpstreamConfig::new(format!("http://{addr}/{{repo}}.git"));
    config.response_timeout = std::time::Duration::from_millis(300);
    let backend = UpstreamBackend::new(config).unwrap();
    let request = git_server::info_refs_request();
    let err = backend.forward(request).await.unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
    assert_eq!(
        gitiam::server::https::error::HttpError::from(err).status(),
        504
    );
    hold.abort();
}

#[tokio::test]
async fn forwarded_request_headers() {
    use gitiam::server::backend::{BackendRequest, request_body};
    use gitiam::shared::git::{GitEndpoint, GitService, RepoName};
    use http_body_util::BodyExt;
    use std::sync::Mutex;

    // An HTTP server that records what it receives.
    type Seen = Arc<Mutex<Vec<(String, http::HeaderMap, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let record = seen.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let record = record.clone();
            async move {
                let uri = req.uri().to_string();
                let headers = req.headers().clone();
                let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                record.lock().unwrap().push((uri, headers, body));
                let mut resp = http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"ok"),
                ));
                resp.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                resp.headers_mut()
                    .insert("keep-alive", "timeout=5".parse().unwrap());
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
            .await
            .unwrap();
    });

    let mut config = UpstreamConfig::new(format!("http://{addr}/git/{{account}}/{{repo}}.git"));
    config.auth = Some(UpstreamAuth::new("X-Upstream-Token", "s3cret").unwrap());
    let backend = UpstreamBackend::new(config).unwrap();
    let mut headers = http::HeaderMap::new();
    for (k, v) in [
        ("authorization", "Basic Y2xpZW50OnNlY3JldA=="),
        ("connection", "x-custom"),
        ("x-custom", "hop"),
        ("x-forwarded-for", "6.6.6.6"),
        ("content-type", "application/x-git-receive-pack-request"),
        ("git-protocol", "version=2"),
        ("expect", "100-continue"),
        ("cookie", "a=b"),
    ] {
        headers.insert(k, v.parse().unwrap());
    }
    let request = BackendRequest {
        account: "111122223333".into(),
        repo: RepoName::parse("r").unwrap(),
        endpoint: GitEndpoint::Rpc(GitService::ReceivePack),
        method: http::Method::POST,
        headers,
        principal_arn: "arn:aws:iam::111122223333:user/alice".into(),
        client_ip: "203.0.113.7".parse().unwrap(),
        client_scheme: "https",
        body: request_body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"0000",
        ))),
    };
    let response = backend.forward(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("keep-alive").is_none());
    assert_eq!(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .as_ref(),
        b"ok"
    );
    // The client pools the connection, so the server would wait for it
    // to close; the exchange is recorded already.
    drop(backend);
    server.abort();

    let seen = seen.lock().unwrap();
    let (uri, h, body) = &seen[0];
    assert_eq!(uri, "/git/111122223333/r.git/git-receive-pack");
    assert_eq!(body, b"0000");
    assert!(h.get("authorization").is_none());
    assert!(h.get("x-custom").is_none());
    assert!(h.get("cookie").is_none());
    assert!(h.get("expect").is_none());
    assert_eq!(h["x-forwarded-for"], "203.0.113.7");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-upstream-token"], "s3cret");
    assert_eq!(h["git-protocol"], "version=2");
    assert_eq!(h["content-type"], "application/x-git-receive-pack-request");
    assert_eq!(h["host"], addr.to_string());
}
