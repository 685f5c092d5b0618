//! AWS's own remote helper, `git-remote-codecommit` from PyPI, against a
//! real `gitiam serve`: `CODE_COMMIT_ENDPOINT=127.0.0.1:PORT` makes it
//! sign the host *with* the port (the AWS CLI's credential helper drops
//! it), and gitiam accepts both spellings. Clone and push with
//! `codecommit::REGION://PROFILE@REPO`; a wrong secret is still refused.

use crate::common::server::{
    ACCOUNT, TestServer, bare_repo_with_commit, git_cmd, git_ok, rev, write,
};
use crate::common::{self, CommandExt as _};

use std::path::Path;
use std::process::Command;

const ALICE: (&str, &str) = ("AKIAALICEGRC00000001", "alice-grc-secret-0123456789abcdef");

fn config() -> String {
    format!(
        r#"[server]
region = "us-east-1"
[backend]
repos = "repos"
[[accounts]]
id = "{ACCOUNT}"
[[accounts.users]]
name = "alice"
policies = ["policies/dev.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]
"#,
        ALICE.0, ALICE.1
    )
}

/// `git` using git-remote-codecommit with the AWS profile `grc` (whose
/// secret is `secret`), pointed at `server` and trusting its certificate.
fn git_grc(server: &TestServer, home: &Path, cwd: &Path, secret: &str) -> Command {
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[grc]\naws_access_key_id = {}\naws_secret_access_key = {secret}\n",
            ALICE.0
        ),
    )
    .unwrap();
    let mut cmd = git_cmd(cwd);
    cmd.env("HOME", home)
        .env("CODE_COMMIT_ENDPOINT", format!("127.0.0.1:{}", server.port))
        .env("GIT_SSL_CAINFO", server.cert())
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["-c", "credential.helper="])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

#[test]
fn clone_and_push_with_the_port_in_the_signed_host() {
    // It has no --version; an exit status 0 means it is on PATH.
    if !common::require_tool(
        "clone_and_push_with_the_port_in_the_signed_host",
        "sh",
        &["-c", "command -v git-remote-codecommit"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write(&root, "gitiam.toml", &config());
    write(
        &root,
        "policies/dev.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"*"}]}"#,
    );
    let bare = bare_repo_with_commit(&root, ACCOUNT, "demo");
    let server = TestServer::start(&root);
    let home = root.join("home");
    let url = "codecommit::us-east-1://grc@demo";

    git_grc(&server, &home, &root, ALICE.1)
        .args(["clone", "-q", url, "work"])
        .run()
        .context("server log", server.log())
        .assert_success();
    let work = root.join("work");
    std::fs::write(work.join("grc.txt"), "pushed by git-remote-codecommit\n").unwrap();
    git_ok(&work, &["add", "grc.txt"]);
    git_ok(&work, &["commit", "-q", "-m", "grc"]);
    git_grc(&server, &home, &work, ALICE.1)
        .args(["push", "-q", "origin", "HEAD:refs/heads/feature"])
        .run()
        .context("server log", server.log())
        .assert_success();
    assert_eq!(
        rev(&bare, "refs/heads/feature"),
        Some(git_ok(&work, &["rev-parse", "HEAD"]).trim().to_owned())
    );

    // The signature still binds the key: a wrong secret is refused.
    let out = git_grc(&server, &home, &root, "not-alices-secret-0123456789abcdef")
        .args(["clone", "-q", url, "refused"])
        .run()
        .assert_failure();
    out.check(
        out.stderr.contains("401") || out.stderr.contains("Authentication failed"),
        "expected an authentication failure",
    );
}
