//! The embedded backend (`git http-backend` as CGI) driven by the real
//! `git` through a plain-HTTP test server: clone over protocol v0 and v2,
//! push with `REMOTE_USER` set, and pushes refused with the library's
//! receive-pack report, which real git must print as `[remote rejected]`.

use crate::common;

use std::sync::Arc;

use crate::common::git_server::{
    self, GitServer, bare_repo, cgi_backend, git, git_ok, rev, work_tree,
};
use gitiam::shared::git::RefDenial;

fn have_git(test: &str) -> bool {
    common::require_tool(test, "git", &["--version"])
}

/// A server over a fresh repos dir with repository `demo` holding one
/// commit on `main` (pushed through the server itself).
fn setup(deny: Option<git_server::DenyRule>) -> (tempfile::TempDir, GitServer, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "demo", &[]);
    let server = GitServer::start(cgi_backend(&repos), deny);
    let src = tmp.path().join("src");
    work_tree(&src, &server.url("demo"), &[]);
    git_ok(&src, &["push", "-q", "origin", "main"]);
    (tmp, server, bare)
}

#[test]
fn clone_v0_and_v2_and_push() {
    if !have_git("clone_v0_and_v2_and_push") {
        return;
    }
    let (tmp, server, bare) = setup(None);
    let head = rev(&bare, "refs/heads/main").expect("push through CGI created main");

    for (i, version) in ["0", "2"].iter().enumerate() {
        let dest = tmp.path().join(format!("clone{i}"));
        let out = git_server::clone_traced(tmp.path(), version, &server.url("demo"), &dest)
            .assert_success();
        if *version == "2" {
            out.check(out.stderr.contains("version 2"), "v2 was not negotiated");
        } else {
            out.check(
                !out.stderr.contains("packet:          git< version 2"),
                "v0 clone used v2",
            );
        }
        assert_eq!(
            std::fs::read_to_string(dest.join("README")).unwrap(),
            "hello\n"
        );
        assert_eq!(git_ok(&dest, &["rev-parse", "HEAD"]).trim(), head);
    }

    // Push a new commit and a new branch from a clone.
    let work = tmp.path().join("clone0");
    git_ok(&bare, &["config", "core.logAllRefUpdates", "always"]);
    git_server::commit_file(&work, "file.txt", b"more\n", "second");
    git_ok(
        &work,
        &["push", "-q", "origin", "main", "main:refs/heads/feature"],
    );
    let new = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(rev(&bare, "refs/heads/main").as_deref(), Some(new.as_str()));
    assert_eq!(
        rev(&bare, "refs/heads/feature").as_deref(),
        Some(new.as_str())
    );

    // Fetch over v2 sees it.
    let other = tmp.path().join("clone1");
    git_ok(
        &other,
        &["-c", "protocol.version=2", "pull", "-q", "--ff-only"],
    );
    assert_eq!(git_ok(&other, &["rev-parse", "HEAD"]).trim(), new);

    // The pusher's identity reached receive-pack: http-backend derives the
    // reflog committer from REMOTE_USER.
    let log = std::fs::read_to_string(bare.join("logs/refs/heads/feature")).unwrap();
    assert!(log.contains(git_server::PRINCIPAL), "reflog: {log}");
}

#[test]
fn missing_repository_is_not_found() {
    if !have_git("missing_repository_is_not_found") {
        return;
    }
    let (tmp, server, _bare) = setup(None);
    let out = git(tmp.path(), &["ls-remote", &server.url("nope")]).assert_failure();
    out.check(
        out.stderr.contains("not found") || out.stderr.contains("404"),
        "expected not found",
    );
}

fn deny_main() -> git_server::DenyRule {
    Arc::new(|push: &gitiam::shared::git::PushRequest| {
        push.commands
            .iter()
            .filter(|c| c.name == "refs/heads/main")
            .map(|c| RefDenial {
                name: c.name.clone(),
                reason: "denied by policy alice.json statement DenyMain".to_owned(),
            })
            .collect()
    })
}

#[test]
fn denied_push_is_reported_like_git() {
    if !have_git("denied_push_is_reported_like_git") {
        return;
    }
    // Seed the repository without the rule, then serve it with the rule.
    let (tmp, seed_server, bare) = setup(None);
    drop(seed_server);
    let server = GitServer::start(cgi_backend(&tmp.path().join("repos")), Some(deny_main()));
    let before = rev(&bare, "refs/heads/main").unwrap();

    let work = tmp.path().join("src");
    git_ok(&work, &["remote", "set-url", "origin", &server.url("demo")]);
    git_server::commit_file(&work, "x.txt", b"x\n", "denied change");

    // Default client: report-status-v2 + side-band-64k.
    git(&work, &["push", "origin", "main"])
        .assert_failure()
        .assert_stderr_contains(
            "! [remote rejected] main -> main (denied by policy alice.json statement DenyMain)",
        );
    assert_eq!(rev(&bare, "refs/heads/main").unwrap(), before);

    // Two refs, one denied: neither is applied, the other names the reason.
    let out = git(&work, &["push", "origin", "main", "main:refs/heads/topic"]).assert_failure();
    out.assert_stderr_contains("! [remote rejected] main -> main (denied by policy");
    out.assert_stderr_contains(
        "! [remote rejected] main -> topic (push refused: another ref was denied)",
    );
    assert_eq!(rev(&bare, "refs/heads/topic"), None);

    // Deleting main is denied too; allowed refs still go through.
    git(&work, &["push", "origin", ":main"])
        .assert_failure()
        .assert_stderr_contains("[remote rejected] main (denied by policy");
    assert_eq!(rev(&bare, "refs/heads/main").unwrap(), before);
    git_ok(&work, &["push", "-q", "origin", "main:refs/heads/allowed"]);
    assert!(rev(&bare, "refs/heads/allowed").is_some());

    // Every push above was parsed and recorded by the inspector.
    let pushes = server.pushes();
    assert!(pushes.iter().any(|p| p.commands.len() == 2));
    assert!(
        pushes
            .iter()
            .all(|p| p.capabilities.report_status() || p.capabilities.report_status_v2())
    );
}

#[test]
fn denial_with_older_protocol_features() {
    if !have_git("denial_with_older_protocol_features") {
        return;
    }
    let (tmp, seed_server, bare) = setup(None);
    drop(seed_server);
    let repos = tmp.path().join("repos");
    let before = rev(&bare, "refs/heads/main").unwrap();
    let work = tmp.path().join("src");
    git_server::commit_file(&work, "y.txt", b"y\n", "denied change");
    for hide in [
        &["report-status-v2"][..],
        &["report-status-v2", "side-band-64k"][..],
        &["side-band-64k"][..],
    ] {
        let server = GitServer::start_with(cgi_backend(&repos), Some(deny_main()), hide);
        git_ok(&work, &["remote", "set-url", "origin", &server.url("demo")]);
        let out = git(
            &work,
            &[
                "push",
                "--porcelain",
                "origin",
                "main",
                "main:refs/heads/other",
            ],
        );
        out.check(!out.succeeded(), format_args!("{hide:?}: expected failure"));
        out.check(
            out.stdout.contains(
                "!\trefs/heads/main:refs/heads/main\t[remote rejected] (denied by policy alice.json statement DenyMain)"
            ),
            format_args!("{hide:?}: main not reported as denied"),
        );
        out.check(
            out.stdout.contains("!\trefs/heads/main:refs/heads/other\t[remote rejected] (push refused: another ref was denied)"),
            format_args!("{hide:?}: other not reported as refused"),
        );
        let push = server.pushes().pop().unwrap();
        for cap in hide {
            assert!(
                !push.capabilities.has(cap),
                "{hide:?}: client still asked for {cap}"
            );
        }
        assert!(push.capabilities.report_status() || push.capabilities.report_status_v2());
        assert_eq!(rev(&bare, "refs/heads/main").unwrap(), before);
        assert_eq!(rev(&bare, "refs/heads/other"), None);
    }
}

#[test]
fn denial_without_report_status_is_an_http_error() {
    if !have_git("denial_without_report_status_is_an_http_error") {
        return;
    }
    let (tmp, seed_server, bare) = setup(None);
    drop(seed_server);
    let before = rev(&bare, "refs/heads/main").unwrap();
    let work = tmp.path().join("src");
    git_server::commit_file(&work, "z.txt", b"z\n", "denied change");
    let server = GitServer::start_with(
        cgi_backend(&tmp.path().join("repos")),
        Some(deny_main()),
        &["report-status", "report-status-v2"],
    );
    git_ok(&work, &["remote", "set-url", "origin", &server.url("demo")]);
    git(&work, &["push", "origin", "main"])
        .assert_failure()
        .assert_stderr_contains("403");
    let push = server.pushes().pop().unwrap();
    assert!(!push.capabilities.report_status() && !push.capabilities.report_status_v2());
    assert_eq!(rev(&bare, "refs/heads/main").unwrap(), before);
}

#[test]
fn large_push_streams_through() {
    if !have_git("large_push_streams_through") {
        return;
    }
    let (tmp, server, bare) = setup(None);
    let work = tmp.path().join("src");
    // 8 MiB of incompressible data: larger than http.postBuffer, so git
    // probes with `0000` and then streams a chunked body.
    let mut data = vec![0u8; 8 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    git_server::commit_file(&work, "blob.bin", &data, "big");
    server.clear();
    git_ok(&work, &["push", "-q", "origin", "main"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_eq!(
        rev(&bare, "refs/heads/main").as_deref(),
        Some(head.as_str())
    );
    let pushes = server.pushes();
    assert!(
        pushes.first().is_some_and(|p| p.is_probe),
        "no probe: {pushes:?}"
    );
    assert_eq!(pushes.last().unwrap().commands.len(), 1);

    // And back out through a clone.
    let dest = tmp.path().join("big-clone");
    git_ok(
        tmp.path(),
        &["clone", "-q", &server.url("demo"), dest.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(dest.join("blob.bin")).unwrap(), data);
}

// ---- failure handling, with stand-in CGI programs -----------------------
//
// These check what the runner does when the CGI program misbehaves (hangs,
// cannot start, prints garbage, outlives its client); a stand-in script
// plays `git-http-backend` because the real one cannot be made to fail on
// demand.

mod failures {
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use bytes::Bytes;
    use gitiam::server::backend::{BackendError, CgiBackend, CgiConfig, request_body};
    use gitiam::shared::git::{GitEndpoint, GitService};
    use http_body_util::BodyExt;

    use super::git_server::info_refs_request;

    /// A directory with `git` (answering `--exec-path`) and a
    /// `git-http-backend` running `script`.
    fn stand_in(dir: &Path, script: &str, executable: bool) -> CgiConfig {
        let exec = dir.join("exec");
        std::fs::create_dir_all(&exec).unwrap();
        let git = dir.join("git");
        std::fs::write(&git, format!("#!/bin/sh\necho {}\n", exec.display())).unwrap();
        std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
        let backend = exec.join("git-http-backend");
        std::fs::write(&backend, format!("#!/bin/sh\n{script}\n")).unwrap();
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut config = CgiConfig::new(dir.join("repos"));
        config.git = git;
        config.response_timeout = Duration::from_millis(500);
        config
    }

    fn pid_file(dir: &Path) -> PathBuf {
        dir.join("pid")
    }

    /// Waits until the process in `pid_file` is gone (or a zombie).
    async fn assert_process_ends(pid_file: &Path) {
        let pid = std::fs::read_to_string(pid_file).unwrap().trim().to_owned();
        for _ in 0..500 {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => return,
                Ok(stat) if stat.split(' ').nth(2) == Some("Z") => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!("CGI process {pid} is still running");
    }

    #[tokio::test]
    async fn hanging_backend_times_out_with_504_and_is_killed() {
        let tmp = tempfile::tempdir().unwrap();
        let pid = pid_file(tmp.path());
        let config = stand_in(
            tmp.path(),
            &format!("echo $$ > {}\nexec sleep 60", pid.display()),
            true,
        );
        let backend = CgiBackend::new(config).unwrap();
        let err = backend.forward(info_refs_request()).await.unwrap_err();
        assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
        assert_eq!(
            gitiam::server::https::error::HttpError::from(err).status(),
            504
        );
        assert_process_ends(&pid).await;
    }

    #[tokio::test]
    async fn client_disconnect_kills_the_backend() {
        let tmp = tempfile::tempdir().unwrap();
        let pid = pid_file(tmp.path());
        let script = format!(
            "echo $$ > {}\nprintf 'Status: 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello'\nexec sleep 60",
            pid.display()
        );
        let backend = CgiBackend::new(stand_in(tmp.path(), &script, true)).unwrap();
        let response = backend.forward(info_refs_request()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/plain");
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "hello");
        drop(body);
        assert_process_ends(&pid).await;
    }

    #[tokio::test]
    async fn backend_stalling_mid_answer_ends_the_body_with_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let pid = pid_file(tmp.path());
        let script = format!(
            "echo $$ > {}\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello'\nexec sleep 60",
            pid.display()
        );
        let mut config = stand_in(tmp.path(), &script, true);
        config.response_idle_timeout = Duration::from_millis(300);
        let backend = CgiBackend::new(config).unwrap();
        let mut body = backend
            .forward(info_refs_request())
            .await
            .unwrap()
            .into_body();
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "hello"
        );
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("sent nothing"), "{err}");
        drop(body);
        assert_process_ends(&pid).await;
    }

    /// A request body fed through a channel.
    struct RxBody(tokio::sync::mpsc::Receiver<Bytes>);

    impl hyper::body::Body for RxBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn slow_upload_is_not_idle() {
        let tmp = tempfile::tempdir().unwrap();
        // Answers the headers at once, then reads the whole upload before
        // saying anything else, like receive-pack with `quiet`.
        let script = "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nwc -c\n";
        let mut config = stand_in(tmp.path(), script, true);
        config.response_idle_timeout = Duration::from_millis(1500);
        let backend = CgiBackend::new(config).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let body = RxBody(rx);
        tokio::spawn(async move {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(Bytes::from_static(b"0123456789")).await.unwrap();
            }
        });
        let mut req = info_refs_request();
        req.endpoint = GitEndpoint::Rpc(GitService::ReceivePack);
        req.method = http::Method::POST;
        req.body = request_body(body);
        let response = backend.forward(req).await.unwrap();
        let out = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(String::from_utf8_lossy(&out).trim(), "300");
    }

    #[tokio::test]
    async fn start_failure_is_502() {
        let tmp = tempfile::tempdir().unwrap();
        let backend = CgiBackend::new(stand_in(tmp.path(), "exit 0", false)).unwrap();
        let err = backend.forward(info_refs_request()).await.unwrap_err();
        assert!(matches!(err, BackendError::Start(_)), "{err:?}");
        let err = gitiam::server::https::error::HttpError::from(err);
        assert_eq!(err.status(), 502);
        assert!(!err.public_message().contains(tmp.path().to_str().unwrap()));
    }

    #[tokio::test]
    async fn garbage_or_silence_is_502() {
        let tmp = tempfile::tempdir().unwrap();
        for script in [
            "echo 'not a header line'; echo",
            "exit 1",
            "head -c 200000 /dev/zero | tr '\\0' x",
        ] {
            let backend = CgiBackend::new(stand_in(tmp.path(), script, true)).unwrap();
            let err = backend.forward(info_refs_request()).await.unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidResponse(_)),
                "{script}: {err:?}"
            );
            assert_eq!(
                gitiam::server::https::error::HttpError::from(err).status(),
                502
            );
        }
    }

    #[test]
    fn missing_git_fails_at_start() {
        let mut config = CgiConfig::new("/nonexistent");
        config.git = "/nonexistent/git".into();
        assert!(matches!(
            CgiBackend::new(config),
            Err(BackendError::Start(_))
        ));
    }
}

/// Measurement, not a check: pushes and clones 320 MiB of incompressible
/// data through the test server (CGI backend) and prints the process's
/// peak RSS next to the wall times of the same clone through nginx +
/// fcgiwrap and `git clone --no-local`. Run with
/// `cargo test --release --test it backend_cgi:: -- --ignored --nocapture`.
#[test]
#[ignore = "measurement; run explicitly"]
fn measure_large_push_and_clone() {
    use std::io::Write as _;
    if !have_git("measure_large_push_and_clone") {
        return;
    }
    let status = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "big", &[]);
    let server = GitServer::start(cgi_backend(&repos), None);
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("big"), &[]);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut chunk = vec![0u8; 1 << 20];
    for i in 0..5 {
        let mut f = std::fs::File::create(work.join(format!("f{i}.bin"))).unwrap();
        for _ in 0..64 {
            for w in chunk.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
            }
            f.write_all(&chunk).unwrap();
        }
    }
    drop(chunk);
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "-q", "-m", "big"]);
    eprintln!("before push: {}", status());
    let t = std::time::Instant::now();
    git_ok(&work, &["push", "-q", "origin", "main"]);
    eprintln!("push 320 MiB via CGI: {:?}; {}", t.elapsed(), status());
    assert!(rev(&bare, "refs/heads/main").is_some());
    let clone = |name: &str, url: &str| {
        let t = std::time::Instant::now();
        let dest = tmp.path().join(name);
        git_ok(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                "--no-local",
                url,
                dest.to_str().unwrap(),
            ],
        );
        t.elapsed()
    };
    let via_cgi = clone("c1.git", &server.url("big"));
    eprintln!("clone via CGI: {via_cgi:?}; {}", status());
    let no_local = clone("c2.git", bare.to_str().unwrap());
    eprintln!("clone --no-local from disk: {no_local:?}");
    if common::nginx::available("measure_large_push_and_clone") {
        let nginx = common::nginx::NginxGit::start(&repos, None);
        let direct = format!("{}/{}/big.git", nginx.url, git_server::ACCOUNT);
        eprintln!("clone via nginx + fcgiwrap: {:?}", clone("c3.git", &direct));
    }
    eprintln!(
        "clone via CGI again: {:?}; {}",
        clone("c4.git", &server.url("big")),
        status()
    );
}
