//! `gitiam serve` in front of the embedded `git http-backend`, driven by the
//! real `git` over TLS on 127.0.0.1: clone, fetch (protocol v0 and v2),
//! pushes allowed and refused per ref, every authentication failure, a user
//! without policies, reloads, and AWS's own credential helper.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::common::CommandExt as _;
use crate::common::server::{
    ACCOUNT, Creds, DEVELOPERS, TestServer, bare_repo_with_commit, commit_file, git_ok, rev, write,
};

const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-0123456789abcdef");
const NOBODY: (&str, &str) = ("AKIANOBODY0000000001", "nobody-secret-0123456789abcdef");
const READER: (&str, &str) = ("AKIAREADER0000000001", "reader-secret-0123456789abcdef");

const READ_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "Pull", "Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*" }
  ]
}"#;

fn config(with_alice_key: bool) -> String {
    let alice_keys = if with_alice_key {
        format!(r#"[{{ id = "{}", secret = "{}" }}]"#, ALICE.0, ALICE.1)
    } else {
        "[]".to_string()
    };
    format!(
        r#"[server]
region = "us-east-1"

[backend]
repos = "repos"

[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "alice"
groups = ["developers"]
tags = {{ team = "web" }}
access_keys = {alice_keys}

[[accounts.users]]
name = "nobody"
access_keys = [{{ id = "{}", secret = "{}" }}]

[[accounts.users]]
name = "reader"
policies = ["policies/read-only.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]

[[accounts.groups]]
name = "developers"
policies = ["policies/developers.json"]
"#,
        NOBODY.0, NOBODY.1, READER.0, READER.1
    )
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bare: PathBuf,
    server: TestServer,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write(&root, "gitiam.toml", &config(true));
    write(&root, "policies/developers.json", DEVELOPERS);
    write(&root, "policies/read-only.json", READ_ONLY);
    let bare = bare_repo_with_commit(&root, ACCOUNT, "demo");
    bare_repo_with_commit(&root, ACCOUNT, "other");
    let server = TestServer::start(&root);
    Setup {
        _tmp: tmp,
        root,
        bare,
        server,
    }
}

fn creds((akid, secret): (&str, &str)) -> Creds {
    Creds::new(akid, secret)
}

fn clone(s: &Setup, who: (&str, &str), name: &str) -> PathBuf {
    s.server
        .git(&s.root, &creds(who))
        .args(["clone", "-q", &s.server.url("demo"), name])
        .run()
        .context("server log", s.server.log())
        .assert_success();
    s.root.join(name)
}

#[test]
fn clone_fetch_and_push_per_ref() {
    if !common::require_tool("clone_fetch_and_push_per_ref", "git", &["--version"]) {
        return;
    }
    let s = setup();
    let alice = creds(ALICE);
    let work = clone(&s, ALICE, "work");
    assert!(work.join("README.md").is_file());
    let main_before = rev(&s.bare, "refs/heads/main").unwrap();

    // Fetch with protocol v0 and v2; v2 really is spoken end to end.
    for version in ["0", "2"] {
        let out = s
            .server
            .git(&work, &alice)
            .args([
                "-c",
                &format!("protocol.version={version}"),
                "fetch",
                "origin",
            ])
            .env("GIT_TRACE_PACKET", "1")
            .run();
        out.check(out.succeeded(), format_args!("fetch v{version}"));
        let trace = out.stderr.as_str();
        assert_eq!(
            trace.contains("< version 2"),
            version == "2",
            "v{version}: {trace}"
        );
    }

    // A branch push goes through.
    let head = commit_file(&work, "feature.txt");
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:refs/heads/feature"])
        .run();
    out.check(out.succeeded(), "push feature");
    assert_eq!(
        rev(&s.bare, "refs/heads/feature").as_deref(),
        Some(head.as_str())
    );

    // main is protected: git prints the policy and statement.
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:main"])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("! [remote rejected] HEAD -> main (denied by policy policies/developers.json statement DenyPushToMain)");
    assert_eq!(
        rev(&s.bare, "refs/heads/main").as_deref(),
        Some(main_before.as_str())
    );
    let record = s
        .server
        .wait_audit(|r| r["decision"] == "explicitDeny" && r["refs"][0] == "refs/heads/main");
    assert_eq!(record["principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(record["action"], "codecommit:GitPush");
    assert_eq!(
        record["resource"],
        "arn:aws:codecommit:us-east-1:111122223333:demo"
    );
    assert_eq!(record["policy"], "policies/developers.json");
    assert_eq!(record["statement"], "DenyPushToMain");
    assert_eq!(record["access_key_id"], ALICE.0);
    assert!(record["bytes_in"].as_u64().unwrap() > 0, "{record}");
    let line = std::fs::read_to_string(s.root.join(".gitiam/audit.jsonl")).unwrap();
    assert!(!line.contains(ALICE.1), "the audit log holds no secret");

    // Deleting main is a push to main as well.
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", ":main"])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("! [remote rejected] main (denied by policy policies/developers.json statement DenyPushToMain)");
    assert_eq!(
        rev(&s.bare, "refs/heads/main").as_deref(),
        Some(main_before.as_str())
    );

    // One denied ref refuses the whole push: the allowed branch is not
    // created either.
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:refs/heads/feature2", "HEAD:main"])
        .run();
    out.assert_failure();
    assert_eq!(rev(&s.bare, "refs/heads/feature2"), None);
    assert_eq!(
        rev(&s.bare, "refs/heads/main").as_deref(),
        Some(main_before.as_str())
    );

    // A push larger than git's post buffer streams through (chunked);
    // allowed on a branch, refused (after draining the pack) on main.
    // Incompressible bytes (xorshift), so the pack really is that large.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let big: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(work.join("big.bin"), &big).unwrap();
    git_ok(&work, &["add", "big.bin"]);
    git_ok(&work, &["commit", "-q", "-m", "big"]);
    let big_head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:refs/heads/big"])
        .run();
    out.check(out.succeeded(), "push big");
    assert_eq!(
        rev(&s.bare, "refs/heads/big").as_deref(),
        Some(big_head.as_str())
    );
    let record = s.server.wait_audit(|r| r["refs"][0] == "refs/heads/big");
    assert!(record["bytes_in"].as_u64().unwrap() > 2_000_000, "{record}");
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:refs/heads/main"])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains(
        "(denied by policy policies/developers.json statement DenyPushToMain)",
    );
    assert_eq!(
        rev(&s.bare, "refs/heads/main").as_deref(),
        Some(main_before.as_str())
    );

    // Deleting an unprotected branch works.
    let out = s
        .server
        .git(&work, &alice)
        .args(["push", "origin", ":feature"])
        .run();
    out.assert_success();
    assert_eq!(rev(&s.bare, "refs/heads/feature"), None);
}

/// A push names `refs/heads/alias`, a symbolic ref an administrator made to
/// `refs/heads/main`; receive-pack would move main. gitiam decides main too.
#[test]
fn a_push_through_a_symbolic_ref_is_decided_on_its_target() {
    if !common::require_tool(
        "a_push_through_a_symbolic_ref_is_decided_on_its_target",
        "git",
        &["--version"],
    ) {
        return;
    }
    let s = setup();
    let alice = creds(ALICE);
    git_ok(
        &s.bare,
        &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
    );
    git_ok(
        &s.bare,
        &["symbolic-ref", "refs/heads/to-dev", "refs/heads/dev"],
    );
    let work = clone(&s, ALICE, "work");
    let main_before = rev(&s.bare, "refs/heads/main").unwrap();
    let head = commit_file(&work, "alias.txt");

    // Update and delete through the alias: both would move main.
    for (refspec, shown) in [
        ("HEAD:refs/heads/alias", "HEAD -> alias"),
        (":refs/heads/alias", "alias"),
    ] {
        let out = s
            .server
            .git(&work, &alice)
            .args(["push", "origin", refspec])
            .run()
            .context("server log", s.server.log())
            .assert_failure();
        out.assert_stderr_contains(&format!(
            "! [remote rejected] {shown} (denied by policy policies/developers.json statement \
             DenyPushToMain (refs/heads/alias is a symbolic ref to refs/heads/main))"
        ));
        assert_eq!(
            rev(&s.bare, "refs/heads/main").as_deref(),
            Some(main_before.as_str()),
            "{refspec}"
        );
    }
    assert_eq!(
        git_ok(&s.bare, &["symbolic-ref", "refs/heads/alias"]).trim(),
        "refs/heads/main"
    );
    let record = s
        .server
        .wait_audit(|r| r["refs"][0] == "refs/heads/alias" && r["decision"] == "explicitDeny");
    assert_eq!(record["symref_targets"][0], "refs/heads/main", "{record}");
    assert_eq!(record["statement"], "DenyPushToMain");

    // A symbolic ref to an allowed branch moves that branch, as git does.
    s.server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:refs/heads/to-dev"])
        .run()
        .context("server log", s.server.log())
        .assert_success();
    assert_eq!(
        rev(&s.bare, "refs/heads/dev").as_deref(),
        Some(head.as_str())
    );
    assert_eq!(
        rev(&s.bare, "refs/heads/main").as_deref(),
        Some(main_before.as_str())
    );
}

fn assert_auth_fails(s: &Setup, username: &str, password: &str, reason: &str) {
    let out = s
        .server
        .git_fixed(&s.root, username, password)
        .args(["ls-remote", &s.server.url("demo")])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("Authentication failed");
    // The client learns nothing about which check failed.
    out.check(!out.stderr.contains(reason), "stderr must not say that");
    s.server.wait_audit(|r| {
        r["status"] == 401
            && r["access_key_id"] == username.split('%').next().unwrap()
            && r["reason"].as_str().is_some_and(|x| x.contains(reason))
    });
}

#[test]
fn authentication_failures_are_401() {
    if !common::require_tool("authentication_failures_are_401", "git", &["--version"]) {
        return;
    }
    let s = setup();

    // Anonymous: a bare challenge.
    let out = s
        .server
        .git_anonymous(&s.root)
        .args(["ls-remote", &s.server.url("demo")])
        .run();
    out.assert_failure();
    let resp = s.server.request(
        "GET",
        "/v1/repos/demo/info/refs?service=git-upload-pack",
        &[],
    );
    assert_eq!(resp.status, 401);
    assert_eq!(resp.headers["www-authenticate"], "Basic realm=\"gitiam\"");
    s.server.wait_audit(|r| {
        r["status"] == 401 && r["reason"].as_str().unwrap().contains("no Authorization")
    });

    let now = SystemTime::now();
    // A valid password for the right repository, as a control.
    let good = s.server.password(ALICE.1, "demo", now);
    let out = s
        .server
        .git_fixed(&s.root, ALICE.0, &good)
        .args(["ls-remote", &s.server.url("demo")])
        .run();
    out.assert_success();

    // Wrong secret.
    let wrong = s
        .server
        .password("not-alice-secret-0123456789", "demo", now);
    assert_auth_fails(&s, ALICE.0, &wrong, "signature does not match");
    // Signed 20 minutes ago.
    let old = s
        .server
        .password(ALICE.1, "demo", now - Duration::from_secs(20 * 60));
    assert_auth_fails(&s, ALICE.0, &old, "clock skew");
    // A signature made for another repository.
    let replayed = s.server.password(ALICE.1, "other", now);
    assert_auth_fails(&s, ALICE.0, &replayed, "signature does not match");
    // Unknown key; a session token that is not one.
    assert_auth_fails(
        &s,
        "AKIAUNKNOWN000000001",
        &good,
        "unknown or inactive access key",
    );
    assert_auth_fails(&s, &format!("{}%bogus", ALICE.0), &good, "session token");
    // Not a password at all.
    assert_auth_fails(&s, ALICE.0, "hunter2", "malformed Git password");
}

#[test]
fn missing_permissions_are_403() {
    if !common::require_tool("missing_permissions_are_403", "git", &["--version"]) {
        return;
    }
    let s = setup();
    let out = s
        .server
        .git(&s.root, &creds(NOBODY))
        .args(["ls-remote", &s.server.url("demo")])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("User: arn:aws:iam::111122223333:user/nobody is not authorized to perform: codecommit:GitPull");
    s.server
        .wait_audit(|r| r["status"] == 403 && r["decision"] == "implicitDeny");

    // A reader can clone but not push: the receive-pack advertisement is
    // already refused.
    let work = clone(&s, READER, "reader");
    commit_file(&work, "x.txt");
    let out = s
        .server
        .git(&work, &creds(READER))
        .args(["push", "origin", "HEAD:refs/heads/x"])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("codecommit:GitPush");
    assert_eq!(rev(&s.bare, "refs/heads/x"), None);

    // Oversized request heads are refused before anything else runs.
    let big = "a".repeat(100 * 1024);
    let resp = s
        .server
        .request("GET", "/healthz", &[("x-padding", big.as_str())]);
    assert_eq!(resp.status, 431);

    // Paths that are not smart-HTTP endpoints do not exist.
    for path in [
        "/v1/repos/demo/HEAD",
        "/v1/repos/demo/objects/info/packs",
        "/v1/repos/demo/info/refs",
        "/v1/repos/demo.git/info/refs?service=git-upload-pack",
        "/repos/demo",
    ] {
        assert_eq!(s.server.request("GET", path, &[]).status, 404, "{path}");
    }
}

fn ls_remote_ok(s: &Setup, who: (&str, &str)) -> bool {
    s.server
        .git(&s.root, &creds(who))
        .args(["ls-remote", &s.server.url("demo")])
        .run()
        .status
        .success()
}

#[test]
fn reload_applies_good_edits_and_keeps_serving_on_bad_ones() {
    if !common::require_tool("reload_applies_good_edits", "git", &["--version"]) {
        return;
    }
    let s = setup();
    assert!(ls_remote_ok(&s, ALICE));

    // A broken edit: logged, and the last good configuration keeps serving.
    write(
        &s.root,
        "gitiam.toml",
        &format!("{}\n[[accounts.users]\n", config(true)),
    );
    common::wait_for_reload("the failed reload", || {
        s.server.log().contains("configuration reload failed")
    });
    assert!(
        s.server.log().contains("gitiam.toml:"),
        "{}",
        s.server.log()
    );
    assert!(ls_remote_ok(&s, ALICE));
    // A broken policy file too.
    write(&s.root, "policies/read-only.json", "{ \"Version\": ");
    common::wait_for_reload("the second failed reload", || {
        s.server
            .log()
            .matches("configuration reload failed")
            .count()
            >= 2
    });
    assert!(ls_remote_ok(&s, READER));
    let metrics = s.server.request("GET", "/metrics", &[]).body;
    assert!(
        !metrics.contains("gitiam_config_reloads_total{result=\"error\"} 0"),
        "{metrics}"
    );

    // Removing alice's key takes effect at the next reload.
    write(&s.root, "policies/read-only.json", READ_ONLY);
    write(&s.root, "gitiam.toml", &config(false));
    common::wait_for_reload("the removed key to stop working", || {
        !ls_remote_ok(&s, ALICE)
    });
    assert!(ls_remote_ok(&s, READER));
    s.server.wait_audit(|r| {
        r["status"] == 401
            && r["reason"]
                .as_str()
                .unwrap()
                .contains("unknown or inactive access key")
    });

    // SIGHUP reloads too (here: the key comes back).
    write(&s.root, "gitiam.toml", &config(true));
    s.server.hangup();
    common::wait_for_reload("the restored key", || ls_remote_ok(&s, ALICE));
}

#[test]
fn aws_cli_credential_helper_clones() {
    if !common::require_tool("aws_cli_credential_helper_clones", "git", &["--version"])
        || !common::require_tool("aws_cli_credential_helper_clones", "aws", &["--version"])
    {
        return;
    }
    let s = setup();
    let out = s
        .server
        .git_anonymous(&s.root)
        .args([
            "-c",
            "credential.helper=!aws codecommit credential-helper --ignore-host-check $@",
            "clone",
            "-q",
            &s.server.url("demo"),
            "aws-clone",
        ])
        .env("AWS_ACCESS_KEY_ID", ALICE.0)
        .env("AWS_SECRET_ACCESS_KEY", ALICE.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_REGION")
        .run()
        .context("server log", s.server.log());
    out.assert_success();
    assert!(s.root.join("aws-clone/README.md").is_file());
}

#[test]
fn health_metrics_and_graceful_shutdown() {
    if !common::require_tool(
        "health_metrics_and_graceful_shutdown",
        "git",
        &["--version"],
    ) {
        return;
    }
    let s = setup();
    let health = s.server.request("GET", "/healthz", &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    clone(&s, ALICE, "work");
    let metrics = s.server.request("GET", "/metrics", &[]);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains(
            "gitiam_requests_total{action=\"GitPull\",decision=\"allowed\",status=\"200\"}"
        ),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("gitiam_decision_duration_seconds_count"),
        "{}",
        metrics.body
    );
    let Setup { server, _tmp, .. } = s;
    let status = server.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn http2_is_offered_only_when_enabled() {
    if !common::require_tool("http2_is_offered_only_when_enabled", "git", &["--version"]) {
        return;
    }
    let s = setup();
    let trace = |s: &Setup, dir: &str| {
        let out = s
            .server
            .git(&s.root, &creds(ALICE))
            .args(["clone", "-q", &s.server.url("demo"), dir])
            .env("GIT_CURL_VERBOSE", "1")
            .run();
        let out = out.assert_success();
        out.stderr.clone()
    };
    assert!(trace(&s, "h1").contains("server accepted http/1.1"));
    let Setup {
        _tmp, root, server, ..
    } = s;
    drop(server);
    let config = std::fs::read_to_string(root.join("gitiam.toml")).unwrap();
    write(
        &root,
        "gitiam.toml",
        &config.replace("[server]\n", "[server]\nhttp2 = true\n"),
    );
    let s = Setup {
        server: TestServer::start(&root),
        bare: root.join("repos").join(ACCOUNT).join("demo.git"),
        root,
        _tmp,
    };
    let stderr = trace(&s, "h2");
    assert!(stderr.contains("server accepted h2"), "{stderr}");
    assert!(s.root.join("h2/README.md").is_file());
}
