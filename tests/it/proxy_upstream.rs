//! `gitiam serve` in upstream mode, in front of a Git server that is not
//! gitiam's own: Debian's nginx + fcgiwrap + `git http-backend`, which
//! demands HTTP basic auth that gitiam presents from an environment
//! variable (`upstream_auth_header`). Clone and push go through; a push to
//! the protected branch never reaches the upstream.

use crate::common;

use std::path::Path;

use crate::common::CommandExt as _;
use crate::common::nginx::NginxGit;
use crate::common::server::{
    ACCOUNT, Creds, TestServer, bare_repo_with_commit, git_ok, rev, write,
};
use base64::Engine as _;

const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-0123456789abcdef");
const UPSTREAM_USER: (&str, &str) = ("gitiam", "upstream-password-42");
const ENV_VAR: &str = "GITIAM_TEST_UPSTREAM_AUTH";

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "PullAndPush", "Effect": "Allow",
      "Action": ["codecommit:GitPull", "codecommit:GitPush"], "Resource": "*" },
    { "Sid": "DenyPushToMain", "Effect": "Deny", "Action": "codecommit:GitPush", "Resource": "*",
      "Condition": {
        "StringEqualsIfExists": { "codecommit:References": ["refs/heads/main"] },
        "Null": { "codecommit:References": "false" } } }
  ]
}"#;

fn write_config(dir: &Path, upstream: &str) {
    write(
        dir,
        "gitiam.toml",
        &format!(
            r#"[server]
region = "us-east-1"

[backend]
upstream = "{upstream}/{{account}}/{{repo}}.git"
upstream_auth_header = {{ name = "Authorization", value_env = "{ENV_VAR}" }}

[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "alice"
policies = ["policies/dev.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]
"#,
            ALICE.0, ALICE.1
        ),
    );
    write(dir, "policies/dev.json", POLICY);
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[test]
fn upstream_mode_with_credentials_from_the_environment() {
    if !common::require_tool("upstream_mode", "git", &["--version"])
        || !common::nginx::available("upstream_mode")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let upstream_root = root.join("upstream");
    let bare = bare_repo_with_commit(&upstream_root, ACCOUNT, "demo");
    let nginx = NginxGit::start(&upstream_root.join("repos"), Some(UPSTREAM_USER));

    let gw = root.join("gw");
    write_config(&gw, &nginx.url);
    let server =
        TestServer::start_with_env(&gw, &[(ENV_VAR, &basic(UPSTREAM_USER.0, UPSTREAM_USER.1))]);
    let alice = Creds::new(ALICE.0, ALICE.1);

    server
        .git(root, &alice)
        .args(["clone", "-q", &server.url("demo"), "work"])
        .run()
        .context("server log", server.log())
        .context("nginx error log", nginx.error_log())
        .assert_success();
    let work = root.join("work");
    assert!(work.join("README.md").is_file());

    std::fs::write(work.join("f.txt"), "f\n").unwrap();
    git_ok(&work, &["add", "f.txt"]);
    git_ok(&work, &["commit", "-q", "-m", "f"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:refs/heads/feature"])
        .run()
        .context("nginx error log", nginx.error_log())
        .assert_success();
    assert_eq!(
        rev(&bare, "refs/heads/feature").as_deref(),
        Some(head.as_str())
    );

    let main_before = rev(&bare, "refs/heads/main").unwrap();
    let out = server
        .git(&work, &alice)
        .args(["push", "origin", "HEAD:main"])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("! [remote rejected] HEAD -> main (denied by policy policies/dev.json statement DenyPushToMain)");
    assert_eq!(
        rev(&bare, "refs/heads/main").as_deref(),
        Some(main_before.as_str())
    );
    drop(server);

    // With a wrong upstream credential the upstream refuses gitiam itself.
    let gw2 = root.join("gw2");
    write_config(&gw2, &nginx.url);
    let server = TestServer::start_with_env(&gw2, &[(ENV_VAR, &basic("gitiam", "wrong"))]);
    let out = server
        .git(root, &alice)
        .args(["ls-remote", &server.url("demo")])
        .run();
    let out = out.assert_failure();
    out.assert_stderr_contains("502");
    server.wait_audit(|r| {
        r["status"] == 502
            && r["reason"]
                .as_str()
                .unwrap()
                .contains("gitiam's credentials")
    });
    drop(server);

    // And without the variable the configuration is refused at start.
    let gw3 = root.join("gw3");
    write_config(&gw3, &nginx.url);
    let err = TestServer::try_start(&gw3).err().expect("must not start");
    assert!(err.contains(ENV_VAR), "{err}");
}
