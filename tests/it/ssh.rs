//! The SSH door end to end: the real `gitiam serve`, the real OpenSSH
//! client and real git (`GIT_SSH_COMMAND` with a temporary identity file, a
//! known_hosts file and `StrictHostKeyChecking=yes`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::server::{ACCOUNT, bare_repo_with_commit, commit_file, git_ok, rev, write};
use crate::common::ssh::{KeyPair, SshServer, keygen, sign_certificate};
use crate::common::{self, CommandExt as _, Run};

const ALICE: &str = "APKAALICE00000000001";
const ALICE_INACTIVE: &str = "APKAALICE00000000002";
const BOB: &str = "APKABOB0000000000001";

const ALICE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Git","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],
   "Resource":"arn:aws:codecommit:us-east-1:111122223333:*",
   "Condition":{"Bool":{"aws:SecureTransport":"true"},"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},
  {"Sid":"DenyMain","Effect":"Deny","Action":"codecommit:GitPush","Resource":"*",
   "Condition":{"StringEqualsIfExists":{"codecommit:References":["refs/heads/main"]},
                "Null":{"codecommit:References":"false"}}}]}"#;
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
const DEPLOY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Pull","Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#;
const BOB_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"OtherRepo","Effect":"Allow","Action":"codecommit:GitPull",
   "Resource":"arn:aws:codecommit:us-east-1:111122223333:other"}]}"#;

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    alice: KeyPair,
    alice_inactive: KeyPair,
    bob: KeyPair,
    stranger: KeyPair,
    ca: KeyPair,
    other_ca: KeyPair,
    bare: PathBuf,
}

fn tools(test: &str) -> bool {
    // ssh-keygen comes with the OpenSSH client.
    common::require_tool(test, "git", &["--version"]) && common::require_tool(test, "ssh", &["-V"])
}

fn config(s: &Setup, with_bob: bool) -> String {
    let bob = if with_bob {
        format!(
            "ssh_keys = [{{ id = \"{BOB}\", public_key = \"{}\" }}]",
            s.bob.public
        )
    } else {
        String::new()
    };
    format!(
        r#"[server]
ssh_listen = "127.0.0.1:0"
[backend]
repos = "repos"
[[accounts]]
id = "{ACCOUNT}"
[[accounts.users]]
name = "alice"
policies = ["alice.json"]
ssh_keys = [
  {{ id = "{ALICE}", public_key = "{}" }},
  {{ id = "{ALICE_INACTIVE}", public_key = "{}", status = "Inactive" }},
]
[[accounts.users]]
name = "bob"
policies = ["bob.json"]
{bob}
[[accounts.roles]]
name = "deploy"
trust_policy = "trust.json"
policies = ["deploy.json"]
[[accounts.ssh_certificate_authorities]]
name = "ci"
public_key = "{}"
roles = ["deploy"]
"#,
        s.alice.public, s.alice_inactive.public, s.ca.public
    )
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let keys = root.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let s = Setup {
        alice: keygen(&keys, "alice", "ed25519"),
        alice_inactive: keygen(&keys, "alice-old", "ecdsa"),
        bob: keygen(&keys, "bob", "rsa"),
        stranger: keygen(&keys, "stranger", "ed25519"),
        ca: keygen(&keys, "ca", "ed25519"),
        other_ca: keygen(&keys, "other-ca", "ed25519"),
        bare: bare_repo_with_commit(&root, ACCOUNT, "demo"),
        root,
        _tmp: tmp,
    };
    write(&s.root, "alice.json", ALICE_POLICY);
    write(&s.root, "bob.json", BOB_POLICY);
    write(&s.root, "trust.json", TRUST_POLICY);
    write(&s.root, "deploy.json", DEPLOY_POLICY);
    write(&s.root, "gitiam.toml", &config(&s, true));
    s
}

/// Runs `cmd` through the harness (its failure messages show the command
/// line, the environment, the status and both outputs).
fn run(mut cmd: std::process::Command) -> Run {
    cmd.run()
}

fn stderr(out: &Run) -> String {
    out.stderr.clone()
}

#[test]
fn clone_fetch_and_push_a_branch_over_ssh() {
    if !tools("clone_fetch_and_push_a_branch_over_ssh") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    assert!(server.fingerprint.starts_with("SHA256:"));
    let key = &s.alice.private;

    for version in ["0", "2"] {
        let dest = format!("clone-v{version}");
        let out = run({
            let mut c = server.git(&s.root, key);
            c.args(["-c", &format!("protocol.version={version}"), "clone"])
                .arg(server.url(ALICE, "demo"))
                .arg(&dest);
            c
        });
        assert!(out.status.success(), "v{version}: {}", text(&out));
        assert_eq!(
            rev(&s.root.join(&dest), "HEAD"),
            rev(&s.bare, "main"),
            "v{version}"
        );
    }
    // Also without the leading slash git would send for scp-like URLs.
    let out = run({
        let mut c = server.git(&s.root, key);
        c.arg("ls-remote")
            .arg(format!("{ALICE}@127.0.0.1:v1/repos/demo"));
        c.env(
            "GIT_SSH_COMMAND",
            format!("{} -p {}", server.git_ssh_command(key), server.port),
        );
        c
    });
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.as_str().contains("refs/heads/main"));

    let work = s.root.join("clone-v2");
    commit_file(&work, "feature.txt");
    let out = run({
        let mut c = server.git(&work, key);
        c.args(["push", "origin", "HEAD:refs/heads/feature"]);
        c
    });
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rev(&s.bare, "refs/heads/feature"), rev(&work, "HEAD"));

    // Fetch (protocol v2) sees the new branch.
    let other = s.root.join("clone-v0");
    let out = run({
        let mut c = server.git(&other, key);
        c.args(["-c", "protocol.version=2", "fetch", "origin"]);
        c
    });
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        rev(&other, "refs/remotes/origin/feature"),
        rev(&work, "HEAD")
    );

    let pull = server.wait_audit(|r| r["method"] == "git-upload-pack");
    assert_eq!(pull["transport"], "ssh");
    assert_eq!(pull["ssh_key_id"], ALICE);
    assert_eq!(pull["principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(pull["action"], "codecommit:GitPull");
    assert_eq!(pull["decision"], "allowed");
    assert_eq!(pull["statement"], "Git");
    assert_eq!(pull["status"], 0);
    let push = server.wait_audit(|r| r["method"] == "git-receive-pack" && r["status"] == 0);
    assert_eq!(push["refs"][0], "refs/heads/feature");
    assert_eq!(push["decision"], "allowed");
}

#[test]
fn pushes_to_main_are_rejected_per_ref_and_change_nothing() {
    if !tools("pushes_to_main_are_rejected_per_ref_and_change_nothing") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    let key = &s.alice.private;
    let work = s.root.join("work");
    let out = run({
        let mut c = server.git(&s.root, key);
        c.arg("clone").arg(server.url(ALICE, "demo")).arg(&work);
        c
    });
    assert!(out.status.success(), "{}", text(&out));
    let main_before = rev(&s.bare, "main");
    commit_file(&work, "change.txt");

    // main and another branch in one push: nothing of it happens.
    let out = run({
        let mut c = server.git(&work, key);
        c.args([
            "push",
            "origin",
            "HEAD:refs/heads/main",
            "HEAD:refs/heads/side",
        ]);
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "! [remote rejected] HEAD -> main (denied by policy alice.json statement DenyMain)"
        ),
        "{err}"
    );
    assert!(
        err.contains("side (push refused: another ref was denied)"),
        "{err}"
    );
    assert_eq!(rev(&s.bare, "main"), main_before);
    assert_eq!(rev(&s.bare, "refs/heads/side"), None);
    // The pack never reached the repository.
    let head = rev(&work, "HEAD").unwrap();
    let probe = run({
        let mut c = common::server::git_cmd(&s.bare);
        c.args(["cat-file", "-e", &head]);
        c
    });
    assert!(!probe.status.success(), "the refused pack was stored");

    // Deleting main (no pack at all) is refused the same way.
    let out = run({
        let mut c = server.git(&work, key);
        c.args(["push", "origin", ":main"]);
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out)
            .contains("! [remote rejected] main (denied by policy alice.json statement DenyMain)"),
        "{}",
        text(&out)
    );
    assert_eq!(rev(&s.bare, "main"), main_before);

    let record = server.wait_audit(|r| r["decision"] == "explicitDeny");
    assert_eq!(record["transport"], "ssh");
    assert_eq!(record["ssh_key_id"], ALICE);
    assert_eq!(record["action"], "codecommit:GitPush");
    assert_eq!(record["statement"], "DenyMain");
    assert_eq!(record["refs"][0], "refs/heads/main");
}

#[test]
fn a_pull_outside_the_policy_is_refused_in_aws_words() {
    if !tools("a_pull_outside_the_policy_is_refused_in_aws_words") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    let out = run({
        let mut c = server.git(&s.root, &s.bob.private);
        c.arg("clone").arg(server.url(BOB, "demo")).arg("bob-clone");
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("User: arn:aws:iam::111122223333:user/bob is not authorized to perform: codecommit:GitPull on resource: arn:aws:codecommit:us-east-1:111122223333:demo"),
        "{}",
        text(&out)
    );
    // An unknown repository, for a caller allowed there, is a plain error.
    let out = run({
        let mut c = server.git(&s.root, &s.alice.private);
        c.arg("ls-remote").arg(server.url(ALICE, "missing"));
        c
    });
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("gitiam: repository missing does not exist"),
        "{}",
        text(&out)
    );
    let r = server.wait_audit(|r| r["ssh_key_id"] == BOB);
    assert_eq!(r["decision"], "implicitDeny");
    assert_eq!(r["status"], 1);
}

/// Over SSH too, a push through a symbolic ref is decided on its target.
#[test]
fn a_push_through_a_symbolic_ref_is_decided_on_its_target_over_ssh() {
    if !tools("a_push_through_a_symbolic_ref_is_decided_on_its_target_over_ssh") {
        return;
    }
    let s = setup();
    git_ok(
        &s.bare,
        &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
    );
    let server = SshServer::start(&s.root);
    let key = &s.alice.private;
    let work = s.root.join("work");
    let out = run({
        let mut c = server.git(&s.root, key);
        c.arg("clone").arg(server.url(ALICE, "demo")).arg(&work);
        c
    });
    assert!(out.status.success(), "{}", text(&out));
    let main_before = rev(&s.bare, "main");
    commit_file(&work, "alias.txt");
    let out = run({
        let mut c = server.git(&work, key);
        c.args(["push", "origin", "HEAD:refs/heads/alias"]);
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "! [remote rejected] HEAD -> alias (denied by policy alice.json statement DenyMain \
             (refs/heads/alias is a symbolic ref to refs/heads/main))"
        ),
        "{err}"
    );
    assert_eq!(rev(&s.bare, "main"), main_before);
    let record = server.wait_audit(|r| r["refs"][0] == "refs/heads/alias");
    assert_eq!(record["symref_targets"][0], "refs/heads/main", "{record}");
    assert_eq!(record["transport"], "ssh", "{record}");
}

/// Failed logins count against the client's address, as over HTTPS: past
/// the limit the address is disconnected before any key is looked at, even
/// with a good key, while another address logs in.
#[test]
fn a_source_with_too_many_failed_logins_is_disconnected() {
    if !tools("a_source_with_too_many_failed_logins_is_disconnected") {
        return;
    }
    let s = setup();
    let config = std::fs::read_to_string(s.root.join("gitiam.toml")).unwrap().replace(
        "[server]\n",
        "[server]\nauth_failure_burst = 2\nauth_failures_per_minute = 1\nauth_block_secs = 600\n",
    );
    write(&s.root, "gitiam.toml", &config);
    let server = SshServer::start(&s.root);
    let from = |source: &str, key: &Path, user: &str| {
        run({
            let mut c = server.ssh(key, user);
            c.args(["-b", source, "git-upload-pack '/v1/repos/demo'"]);
            c
        })
    };
    // 127.0.0.2 is a loopback address on Linux; elsewhere this test cannot
    // tell two sources apart.
    let probe = from("127.0.0.2", &s.alice.private, ALICE);
    if stderr(&probe).contains("bind") {
        assert!(!common::in_ci(), "127.0.0.2 is not local: {}", text(&probe));
        common::skip(
            "ssh::a_source_with_too_many_failed_logins_is_disconnected",
            "127.0.0.2 is not a local address",
        );
        return;
    }
    // Logged in: upload-pack's advertisement came (stdin is closed, so
    // the fetch itself ends there).
    let logged_in = |out: &Run| out.stdout.contains("refs/heads/main");
    assert!(logged_in(&probe), "{}", text(&probe));
    // Unknown key ids from 127.0.0.2 until it is blocked.
    for _ in 0..4 {
        let out = from("127.0.0.2", &s.stranger.private, "APKASTRANGER00000001");
        assert_eq!(out.status.code(), Some(255), "{}", text(&out));
    }
    let out = from("127.0.0.2", &s.alice.private, ALICE);
    assert_eq!(out.status.code(), Some(255), "blocked: {}", text(&out));
    assert!(
        !stderr(&out).contains("Permission denied"),
        "disconnected before authentication: {}",
        text(&out)
    );
    assert!(!logged_in(&out), "{}", text(&out));
    let out = from("127.0.0.1", &s.alice.private, ALICE);
    assert!(logged_in(&out), "another source: {}", text(&out));
}

fn assert_refused_login(server: &SshServer, key: &Path, user: &str) {
    let started = Instant::now();
    let out = run({
        let mut c = server.ssh(key, user);
        c.arg("git-upload-pack '/v1/repos/demo'");
        c
    });
    assert_eq!(out.status.code(), Some(255), "{user}: {}", text(&out));
    assert!(
        stderr(&out).contains("Permission denied (publickey)"),
        "{user}: {}",
        text(&out)
    );
    // Every rejection takes the constant rejection time.
    assert!(started.elapsed() >= Duration::from_millis(900), "{user}");
}

#[test]
fn only_the_active_key_of_the_id_named_logs_in() {
    if !tools("only_the_active_key_of_the_id_named_logs_in") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    // A key nobody uploaded, under a known id and under an unknown one.
    assert_refused_login(&server, &s.stranger.private, ALICE);
    assert_refused_login(&server, &s.stranger.private, "APKAUNKNOWN000000001");
    // An inactive key.
    assert_refused_login(&server, &s.alice_inactive.private, ALICE_INACTIVE);
    // Alice's key with Bob's key id, and Bob's with Alice's.
    assert_refused_login(&server, &s.alice.private, BOB);
    assert_refused_login(&server, &s.bob.private, ALICE);
    // A user name that is no key id at all.
    assert_refused_login(&server, &s.alice.private, "git");
    // And git says so too.
    let out = run({
        let mut c = server.git(&s.root, &s.alice.private);
        c.arg("ls-remote").arg(server.url(BOB, "demo"));
        c
    });
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Permission denied (publickey)"),
        "{}",
        text(&out)
    );

    let r = server.wait_audit(|r| r["method"] == "auth" && r["ssh_key_id"] == ALICE_INACTIVE);
    assert_eq!(r["transport"], "ssh");
    assert_eq!(r["reason"], "authentication failed: inactive SSH key");
    assert!(r.get("principal").is_none());
    let r = server.wait_audit(|r| r["method"] == "auth" && r["ssh_key_id"] == BOB);
    assert_eq!(
        r["reason"],
        "authentication failed: the public key is not the key of this SSH key id"
    );
    // Bob's RSA key (an rsa-sha2 signature) logs Bob in: what refuses
    // him now is the policy.
    let out = run({
        let mut c = server.git(&s.root, &s.bob.private);
        c.arg("ls-remote").arg(server.url(BOB, "demo"));
        c
    });
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not authorized"), "{}", text(&out));
}

#[test]
fn shells_ptys_forwarding_and_other_commands_are_refused() {
    if !tools("shells_ptys_forwarding_and_other_commands_are_refused") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    let key = &s.alice.private;

    let out = run({
        let mut c = server.ssh(key, ALICE);
        c.arg("-T");
        c
    });
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("gitiam: authenticated as arn:aws:iam::111122223333:user/alice; interactive shells are not supported, use git"),
        "{}",
        text(&out)
    );

    let out = run({
        let mut c = server.ssh(key, ALICE);
        c.arg("-tt");
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("PTY allocation request failed"),
        "{}",
        text(&out)
    );

    for (command, message) in [
        (
            "ls -la /",
            "only git-upload-pack and git-receive-pack can be run here",
        ),
        (
            "git-upload-archive '/v1/repos/demo'",
            "only git-upload-pack and git-receive-pack",
        ),
        (
            "git-upload-pack '/srv/git/demo.git'",
            "the repository path must be /v1/repos/NAME",
        ),
        (
            "git-receive-pack '/v1/repos/demo'; id",
            "the repository path must be /v1/repos/NAME",
        ),
        (
            "git-upload-pack '/v1/repos/../demo'",
            "invalid repository name",
        ),
    ] {
        let out = run({
            let mut c = server.ssh(key, ALICE);
            c.arg(command);
            c
        });
        assert_eq!(out.status.code(), Some(128), "{command}: {}", text(&out));
        assert!(stderr(&out).contains(message), "{command}: {}", text(&out));
    }

    let out = run({
        let mut c = server.ssh(key, ALICE);
        c.args(["-s", "sftp"]);
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("subsystem request failed"),
        "{}",
        text(&out)
    );

    // Forwarding: stdio (-W), remote (-R) and local (-L).
    let target = format!("127.0.0.1:{}", server.https_port);
    let out = run({
        let mut c = server.ssh(key, ALICE);
        c.args(["-W", &target]);
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("administratively prohibited"),
        "{}",
        text(&out)
    );

    let out = run({
        let mut c = server.ssh(key, ALICE);
        c.args([
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:1",
        ]);
        c
    });
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("forwarding failed"), "{}", text(&out));

    let local = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut forward = {
        let mut c = server.ssh(key, ALICE);
        c.args(["-N", "-L", &format!("127.0.0.1:{local}:{target}")])
            .stderr(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", local)) {
            break s;
        }
        assert!(Instant::now() < deadline, "ssh -L never listened");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stream = stream;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    // The channel is refused: ssh closes the forwarded connection at once.
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "data came through a refused forwarding");
    let _ = forward.kill();
    let _ = forward.wait();

    let r = server.wait_audit(|r| r["method"] == "shell");
    assert_eq!(r["principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(r["status"], 1);
    let r = server.wait_audit(|r| r["method"] == "exec" && r["path"] == "ls -la /");
    assert_eq!(r["status"], 128);
}

#[test]
fn a_key_removed_by_reload_is_refused_on_new_connections_and_commands() {
    if !tools("a_key_removed_by_reload_is_refused_on_new_connections_and_commands") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    // Bob can reach the door (and is then refused by policy, not login).
    let ls_remote = |key: &Path, id: &str| {
        run({
            let mut c = server.git(&s.root, key);
            c.arg("ls-remote").arg(server.url(id, "demo"));
            c
        })
    };
    assert!(stderr(&ls_remote(&s.bob.private, BOB)).contains("is not authorized"));
    // A connection of Bob's that stays open (a multiplexing master).
    let socket = s.root.join("bob.sock");
    let mut master = {
        let mut c = server.ssh(&s.bob.private, BOB);
        c.args(["-N", "-o", "ControlMaster=yes"])
            .arg("-o")
            .arg(format!("ControlPath={}", socket.display()))
            .stderr(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    let over_master = || {
        run({
            let mut c = server.ssh(&s.bob.private, BOB);
            c.args(["-o", "ControlMaster=no"])
                .arg("-o")
                .arg(format!("ControlPath={}", socket.display()))
                .arg("git-upload-pack '/v1/repos/demo'");
            c
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the ssh master never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(stderr(&over_master()).contains("is not authorized"));

    write(&s.root, "gitiam.toml", &config(&s, false));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = ls_remote(&s.bob.private, BOB);
        if stderr(&out).contains("Permission denied (publickey)") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob's removed key still logs in:\n{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The open connection runs no more commands either.
    let out = over_master();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("the key or certificate this connection logged in with is no longer accepted (unknown SSH key id)"),
        "{}",
        text(&out)
    );
    let _ = master.kill();
    let _ = master.wait();
    let out = ls_remote(&s.alice.private, ALICE);
    assert!(out.status.success(), "{}", text(&out));
    let r = server.wait_audit(|r| r["method"] == "auth" && r["ssh_key_id"] == BOB);
    assert_eq!(r["reason"], "authentication failed: unknown SSH key id");
}

#[test]
fn the_host_key_is_generated_once_and_kept() {
    if !tools("the_host_key_is_generated_once_and_kept") {
        return;
    }
    let s = setup();
    let first = SshServer::start(&s.root);
    let fingerprint = first.fingerprint.clone();
    assert!(first.terminate().success());
    let key = s.root.join(".gitiam/ssh/host_ed25519_key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = SshServer::start(&s.root);
    assert_eq!(second.fingerprint, fingerprint);
    // ssh-keygen agrees with the printed fingerprint.
    let out = run({
        let mut c = std::process::Command::new("ssh-keygen");
        c.arg("-l").arg("-f").arg(&key);
        c
    });
    assert!(out.stdout.as_str().contains(&fingerprint));
}

#[test]
fn ssh_with_an_upstream_backend_refuses_to_start() {
    if !tools("ssh_with_an_upstream_backend_refuses_to_start") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "gitiam.toml",
        "[server]\nssh_listen = \"127.0.0.1:0\"\n[backend]\nupstream = \"http://127.0.0.1:9/{repo}.git\"\n",
    );
    let out = std::process::Command::new(common::bin("gitiam"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(tmp.path().join("gitiam.toml"))
        .run();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("ssh_listen needs the embedded backend"),
        "{}",
        text(&out)
    );
}

#[test]
fn quickstart_serves_ssh_with_the_printed_commands() {
    if !tools("quickstart_serves_ssh_with_the_printed_commands") {
        return;
    }
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let mut child = std::process::Command::new(common::bin("gitiam"))
        .arg("quickstart")
        .arg(&demo)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut printed = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("Stop with Ctrl-C.") {
                let _ = tx.send(printed.clone());
            }
        }
    });
    let printed = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let ssh_command = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("export GIT_SSH_COMMAND="))
        .unwrap_or_else(|| panic!("no GIT_SSH_COMMAND in:\n{printed}"))
        .trim_matches('"')
        .to_string();
    let url = printed
        .split_whitespace()
        .find(|w| w.starts_with("ssh://APKA") && w.ends_with("/v1/repos/demo"))
        .unwrap_or_else(|| panic!("no SSH URL in:\n{printed}"))
        .to_string();
    let git = |cwd: &Path, args: &[&str]| {
        let mut c = common::server::git_cmd(cwd);
        c.env(
            "GIT_SSH_COMMAND",
            format!("{ssh_command} -o BatchMode=yes -F /dev/null"),
        )
        .env_remove("SSH_AUTH_SOCK")
        .args(args);
        c.run()
    };
    let out = git(tmp.path(), &["clone", &url, "work"]);
    assert!(out.status.success(), "{}", text(&out));
    let work = tmp.path().join("work");
    commit_file(&work, "ssh.txt");
    let out = git(&work, &["push", "origin", "HEAD:refs/heads/feature-ssh"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = git(&work, &["push", "origin", "HEAD:main"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("(denied by policy policies/developers.json statement DenyPushToMain)"),
        "{}",
        text(&out)
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn certificates_from_a_trusted_ca_authenticate_users_and_role_sessions() {
    if !tools("certificates_from_a_trusted_ca_authenticate_users_and_role_sessions") {
        return;
    }
    let s = setup();
    let server = SshServer::start(&s.root);
    let certs = s.root.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    // A key nobody uploaded: only its certificates can make it count.
    let key = &s.stranger;
    let cert = |name: &str, ca: &KeyPair, id: &str, principals: &str, validity: &str| {
        sign_certificate(&certs, name, ca, key, id, principals, validity, &[])
    };
    let ls_remote = |cert: &Path, user: &str| {
        run({
            let mut c = server.git(&s.root, &key.private);
            c.env(
                "GIT_SSH_COMMAND",
                format!(
                    "{} -o CertificateFile={}",
                    server.git_ssh_command(&key.private),
                    cert.display()
                ),
            );
            c.arg("ls-remote").arg(format!(
                "ssh://{user}@127.0.0.1:{}/v1/repos/demo",
                server.port
            ));
            c
        })
    };

    // A user certificate: the SSH user name is one of its principals.
    let alice = cert("alice", &s.ca, "alice-laptop", "user.alice", "-5m:+1h");
    let out = ls_remote(&alice, "user.alice");
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.as_str().contains("refs/heads/main"));
    let r = server.wait_audit(|r| r["ssh_key_id"] == "cert:ci:0:alice-laptop");
    assert_eq!(r["principal"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(r["decision"], "allowed");

    // A role session, named by the certificate's key id.
    let deploy = cert("deploy", &s.ca, "ci-job-42", "role.deploy", "-1m:+30m");
    let out = ls_remote(&deploy, "role.deploy");
    assert!(out.status.success(), "{}", text(&out));
    let r = server.wait_audit(|r| r["ssh_key_id"] == "cert:ci:0:ci-job-42");
    assert_eq!(
        r["principal"],
        "arn:aws:sts::111122223333:assumed-role/deploy/ci-job-42"
    );
    assert_eq!(r["statement"], "Pull");

    let refused = |cert: &Path, user: &str, why: &str| {
        let out = ls_remote(cert, user);
        assert!(!out.status.success(), "{why}: {}", text(&out));
        assert!(
            stderr(&out).contains("Permission denied (publickey)"),
            "{why}: {}",
            text(&out)
        );
    };
    refused(
        &alice,
        "user.bob",
        "a principal the certificate does not name",
    );
    refused(&alice, ALICE, "a certificate under a key id");
    let expired = cert("expired", &s.ca, "old", "user.alice", "20200101:20200102");
    refused(&expired, "user.alice", "expired");
    let future = cert("future", &s.ca, "later", "user.alice", "+1d:+2d");
    refused(&future, "user.alice", "not yet valid");
    let foreign = cert("foreign", &s.other_ca, "evil", "user.alice", "-5m:+1h");
    refused(&foreign, "user.alice", "signed by another CA");
    let long = cert("long", &s.ca, "ci-job-43", "role.deploy", "-1m:+2h");
    refused(
        &long,
        "role.deploy",
        "a role session longer than the role allows",
    );
    let elsewhere = sign_certificate(
        &certs,
        "elsewhere",
        &s.ca,
        key,
        "pinned",
        "user.alice",
        "-5m:+1h",
        &["source-address=192.0.2.0/24"],
    );
    refused(
        &elsewhere,
        "user.alice",
        "source-address excludes the client",
    );
    let here = sign_certificate(
        &certs,
        "here",
        &s.ca,
        key,
        "pinned-here",
        "user.alice",
        "-5m:+1h",
        &["source-address=127.0.0.0/8"],
    );
    let out = ls_remote(&here, "user.alice");
    assert!(out.status.success(), "{}", text(&out));
    // The client tried the certificate, then its bare key.
    let r = server.wait_audit(|r| r["method"] == "auth" && r["ssh_key_id"] == "user.bob");
    assert_eq!(
        r["reason"],
        "authentication failed: the SSH user name is not a principal of the certificate; the SSH user name is not an SSH key id"
    );
}

/// The command, its status and outputs, for assertion messages.
fn text(out: &Run) -> String {
    out.to_string()
}
