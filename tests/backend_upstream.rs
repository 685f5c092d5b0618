#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The upstream forwarder against a Git server that is not gitiam's own:
//! Debian's nginx + fcgiwrap + `git http-backend` (tests/common/nginx.rs),
//! with and without basic auth that gitiam presents via its upstream auth
//! header; the client's own `Authorization` must never reach the upstream.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::git_server::{self, GitServer, bare_repo, git, git_ok, rev, work_tree};
use common::nginx::NginxGit;
use gitiam::backend::{Backend, UpstreamAuth, UpstreamBackend, UpstreamConfig};
use gitiam::git::RefDenial;

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
    assert!(!out.status.success(), "nginx served without credentials");

    let server = GitServer::start(
        upstream(&nginx.url, Some(basic("gitiam", "upstream-secret"))),
        None,
    );
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("up"), &[]);
    let out = git(&work, &["push", "origin", "main"]);
    assert!(
        out.status.success(),
        "push via upstream: {}\nnginx: {}",
        String::from_utf8_lossy(&out.stderr),
        nginx.error_log()
    );
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(
        rev(&bare, "refs/heads/main").as_deref(),
        Some(head.as_str())
    );
    assert_eq!(server.pushes().last().unwrap().commands.len(), 1);

    for version in ["0", "2"] {
        let dest = tmp.path().join(format!("clone-v{version}"));
        let out = git_server::git_env(
            tmp.path(),
            &[
                "-c",
                &format!("protocol.version={version}"),
                "clone",
                "-q",
                &server.url("up"),
                dest.to_str().unwrap(),
            ],
            &[("GIT_TRACE_PACKET", "1")],
        );
        assert!(
            out.status.success(),
            "clone v{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if version == "2" {
            // Git-Protocol reached http-backend through both proxies.
            assert!(String::from_utf8_lossy(&out.stderr).contains("version 2"));
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
    assert!(
        !out.status.success(),
        "the client's Authorization reached the upstream"
    );
    // A wrong upstream credential fails the same way.
    let server = GitServer::start(upstream(&nginx.url, Some(basic("gitiam", "wrong"))), None);
    let out = git(tmp.path(), &["ls-remote", &server.url("up")]);
    assert!(!out.status.success());
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
    let deny: git_server::DenyRule = Arc::new(|push: &gitiam::git::PushRequest| {
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
    let out = git(&work, &["push", "origin", "v1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("! [remote rejected] v1 -> v1 (denied by policy t.json statement NoTags)"),
        "{err}"
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
    let out = git(tmp.path(), &["ls-remote", &server.url("up")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("502"), "{err}");
}
