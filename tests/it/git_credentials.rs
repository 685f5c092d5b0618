//! HTTPS Git credentials end to end: `gitiam iam
//! create-service-specific-credential` makes one, the real `git` stores it
//! with `git credential-store` (as IDEs and CI servers would take a user
//! name and password), clones and pushes as the user it belongs to (same
//! policies and per-ref rules, audited with the credential id and type);
//! an inactive or deleted credential, a wrong password and an unknown
//! service user name are refused alike, with a hint.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::server::{
    ACCOUNT, DEVELOPERS, TestServer, bare_repo_with_commit, git_ok, rev, write,
};
use crate::common::{self, CommandExt as _};

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
policies = ["policies/developers.json"]
access_keys = [{{ id = "AKIAALICE00000000001", secret = "alice-secret-0123456789abcdef" }}]

[[accounts.users]]
name = "nobody"   # no policies: authenticated, allowed nothing
"#
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
    write(&root, "gitiam.toml", &config());
    write(&root, "policies/developers.json", DEVELOPERS);
    let bare = bare_repo_with_commit(&root, ACCOUNT, "demo");
    let server = TestServer::start(&root);
    Setup {
        _tmp: tmp,
        root,
        bare,
        server,
    }
}

fn iam(root: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(common::bin("gitiam"))
        .current_dir(root)
        .arg("iam")
        .args(args)
        .ok();
    if out.stdout.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&out.stdout).unwrap()
}

/// Creates a credential; returns (id, service user name, password).
fn create(root: &Path, user: &str) -> (String, String, String) {
    let c = iam(
        root,
        &[
            "create-service-specific-credential",
            "--user-name",
            user,
            "--service-name",
            "codecommit.amazonaws.com",
        ],
    );
    let c = &c["ServiceSpecificCredential"];
    (
        c["ServiceSpecificCredentialId"].as_str().unwrap().into(),
        c["ServiceUserName"].as_str().unwrap().into(),
        c["ServicePassword"].as_str().unwrap().into(),
    )
}

/// A `git credential-store` file holding `user`/`password` for the server,
/// written by git itself (`git credential-store store`).
fn store(s: &Setup, name: &str, user: &str, password: &str) -> PathBuf {
    let file = s.root.join(name);
    let input = format!(
        "protocol=https\nhost=127.0.0.1:{}\nusername={user}\npassword={password}\n\n",
        s.server.port
    );
    Command::new("git")
        .args(["credential-store", "--file"])
        .arg(&file)
        .arg("store")
        .run_stdin(input.as_bytes())
        .assert_success();
    file
}

fn git_with_store(s: &Setup, file: &Path) -> Command {
    let mut cmd = s.server.git_anonymous(&s.root);
    // As a user of static Git credentials configures git: one stored
    // password per host, so no `useHttpPath` (which only the signing
    // helper needs; with it, git asks the store for host + path and a
    // host-only line never matches).
    cmd.args(["-c", "credential.useHttpPath=false", "-c"])
        .arg(format!("credential.helper=store --file={}", file.display()));
    cmd
}

#[test]
fn clone_and_push_with_git_credential_store_under_the_users_policies() {
    if !common::require_tool("git_credentials_clone", "git", &["--version"]) {
        return;
    }
    let s = setup();
    let (id, user, password) = create(&s.root, "alice");
    assert_eq!(user, format!("alice-at-{ACCOUNT}"));
    let file = store(&s, "alice.credentials", &user, &password);
    // The stored line percent-encodes the password's + / =, and git reads it back.
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains(&format!("https://{user}:"))
    );

    // The server reads the new credential on its next reload. Wait with
    // the credential given directly: a 401 on a stored credential makes git
    // erase it from the store (`credential reject`).
    common::wait_for_reload("the credential to work", || {
        s.server
            .git_fixed(&s.root, &user, &password)
            .args(["ls-remote", &s.server.url("demo")])
            .run()
            .succeeded()
    });
    let clone = s.root.join("clone");
    git_with_store(&s, &file)
        .args(["clone", "-q", &s.server.url("demo")])
        .arg(&clone)
        .ok();
    s.server.wait_audit(|r| {
        r["status"] == 200
            && r["credential_type"] == "git-credential"
            && r["git_credential_id"] == id.as_str()
            && r["service_user_name"] == user.as_str()
            && r["principal"] == format!("arn:aws:iam::{ACCOUNT}:user/alice")
    });

    // Per-ref rules: a feature branch is pushed, main is refused.
    std::fs::write(clone.join("f.txt"), "x").unwrap();
    git_ok(&clone, &["add", "f.txt"]);
    git_ok(&clone, &["commit", "-q", "-m", "feature"]);
    git_with_store(&s, &file)
        .current_dir(&clone)
        .args(["push", "-q", "origin", "HEAD:refs/heads/feature"])
        .ok();
    assert!(rev(&s.bare, "refs/heads/feature").is_some());
    let main_before = rev(&s.bare, "refs/heads/main");
    let out = git_with_store(&s, &file)
        .current_dir(&clone)
        .args(["push", "origin", "HEAD:refs/heads/main"])
        .run()
        .assert_failure();
    assert!(
        out.stderr.contains("statement DenyPushToMain"),
        "{}",
        out.stderr
    );
    assert_eq!(rev(&s.bare, "refs/heads/main"), main_before);

    // A user without policies authenticates but is denied.
    let (_, nobody, nobody_password) = create(&s.root, "nobody");
    // Given directly: a 401 before the reload would make git erase a
    // stored credential.
    common::wait_for_reload("nobody's credential to load", || {
        let out = s
            .server
            .git_fixed(&s.root, &nobody, &nobody_password)
            .args(["ls-remote", &s.server.url("demo")])
            .run();
        out.stderr.contains("403") || out.stderr.contains("not authorized")
    });
}

#[test]
fn inactive_deleted_wrong_and_unknown_credentials_are_refused_alike() {
    if !common::require_tool("git_credentials_refused", "git", &["--version"]) {
        return;
    }
    let s = setup();
    let (id, user, password) = create(&s.root, "alice");
    let works = |u: &str, p: &str| {
        s.server
            .git_fixed(&s.root, u, p)
            .args(["ls-remote", &s.server.url("demo")])
            .run()
    };
    common::wait_for_reload("the credential to work", || {
        works(&user, &password).succeeded()
    });

    let wrong = works(&user, "not-the-password").assert_failure();
    let unknown = works(&format!("mallory-at-{ACCOUNT}"), &password).assert_failure();
    for out in [&wrong, &unknown] {
        assert!(
            out.stderr
                .contains("remote: gitiam: the Git credential did not verify"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("audit log"), "{}", out.stderr);
    }
    // The same answer: no telling which users exist.
    assert_eq!(
        wrong.stderr.replace(&user, "U"),
        unknown
            .stderr
            .replace(&format!("mallory-at-{ACCOUNT}"), "U")
    );
    let failures = s
        .server
        .audit()
        .into_iter()
        .filter(|r| r["status"] == 401 && r.get("service_user_name").is_some())
        .count();
    assert!(failures >= 2);

    iam(
        &s.root,
        &[
            "update-service-specific-credential",
            "--service-specific-credential-id",
            &id,
            "--status",
            "Inactive",
        ],
    );
    common::wait_for_reload("the inactive credential to be refused", || {
        !works(&user, &password).succeeded()
    });
    iam(
        &s.root,
        &[
            "update-service-specific-credential",
            "--service-specific-credential-id",
            &id,
            "--status",
            "Active",
        ],
    );
    common::wait_for_reload("the active credential to work again", || {
        works(&user, &password).succeeded()
    });
    // A reset password replaces the old one.
    let reset = iam(
        &s.root,
        &[
            "reset-service-specific-credential",
            "--service-specific-credential-id",
            &id,
        ],
    );
    let new_password = reset["ServiceSpecificCredential"]["ServicePassword"]
        .as_str()
        .unwrap()
        .to_string();
    common::wait_for_reload("the old password to be refused", || {
        !works(&user, &password).succeeded()
    });
    assert!(works(&user, &new_password).succeeded());
    iam(
        &s.root,
        &[
            "delete-service-specific-credential",
            "--service-specific-credential-id",
            &id,
        ],
    );
    common::wait_for_reload("the deleted credential to be refused", || {
        !works(&user, &new_password).succeeded()
    });
}

#[test]
fn a_wrong_sigv4_password_gets_a_hint() {
    if !common::require_tool("git_credentials_hint", "git", &["--version"]) {
        return;
    }
    let s = setup();
    // A password that is not a signed one (another helper answered).
    let out = s
        .server
        .git_fixed(&s.root, "AKIAALICE00000000001", "hunter2")
        .args(["ls-remote", &s.server.url("demo")])
        .run()
        .assert_failure();
    assert!(
        out.stderr
            .contains("remote: gitiam: the password is not a signed Git password"),
        "{}",
        out.stderr
    );
    // A signed password from a clock 30 minutes behind.
    let then = std::time::SystemTime::now() - Duration::from_secs(30 * 60);
    let password = s
        .server
        .password("whatever-secret-0123456789", "demo", then);
    let out = s
        .server
        .git_fixed(&s.root, "AKIAUNKNOWN000000001", &password)
        .args(["ls-remote", &s.server.url("demo")])
        .run()
        .assert_failure();
    assert!(
        out.stderr
            .contains("about 30 minutes away from the server's clock")
            // The server rounds the skew it measures; the request may take
            // a moment to arrive.
            || out.stderr.contains("about 31 minutes away from the server's clock"),
        "{}",
        out.stderr
    );
    // A timely signed password with the wrong secret: the same hint for a
    // known key and an unknown one (it must not tell which keys exist).
    let now = std::time::SystemTime::now();
    let password = s
        .server
        .password("wrong-secret-0123456789abcdef", "demo", now);
    let mut hints = Vec::new();
    for akid in ["AKIAALICE00000000001", "AKIAUNKNOWN000000001"] {
        let out = s
            .server
            .git_fixed(&s.root, akid, &password)
            .args(["ls-remote", &s.server.url("demo")])
            .run()
            .assert_failure();
        let hint: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("remote: gitiam:"))
            .collect();
        out.check(
            hint.iter()
                .any(|l| l.starts_with("remote: gitiam: the signature did not verify")),
            "the wrong-secret hint",
        );
        hints.push(hint.join("\n"));
    }
    assert_eq!(
        hints[0], hints[1],
        "a known and an unknown key get the same answer"
    );
    // A user name that is neither an access key id nor a service user name
    // (an e-mail address, as someone typing at git's prompt might give).
    let out = s
        .server
        .git_fixed(&s.root, "alice@example.com", &password)
        .args(["ls-remote", &s.server.url("demo")])
        .run()
        .assert_failure();
    out.assert_stderr_contains("remote: gitiam: the credentials sent are malformed");
}
