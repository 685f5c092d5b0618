//! Push events end to end: real `git push`es through a real `gitiam serve`
//! (both doors, embedded backend), and a real receiver on 127.0.0.1
//! (`tests/webhook_receiver.py`) that verifies every signature with the
//! `standardwebhooks` package from PyPI and records what it got.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use crate::common::CommandExt as _;
use crate::common::server::{
    ACCOUNT, Creds, TestServer, bare_repo_with_commit, commit_file, git_ok, rev, write,
};

const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-0123456789abcdef");
const ALICE_ARN: &str = "arn:aws:iam::111122223333:user/alice";
/// Standard Webhooks secrets (24 key bytes each).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_dGhpcy1pcy1hbm90aGVyLXNlY3JldCEhIQ==";

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Git","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"*"},
  {"Sid":"DenyProtected","Effect":"Deny","Action":"codecommit:GitPush","Resource":"*",
   "Condition":{"StringEqualsIfExists":{"codecommit:References":["refs/heads/protected"]},
                "Null":{"codecommit:References":"false"}}}]}"#;

fn tools(test: &str) -> bool {
    common::require_tool(test, "python3", &["-c", "import standardwebhooks"])
}

/// A running `webhook_receiver.py`.
struct Receiver {
    out: PathBuf,
    port: u16,
    child: Child,
}

impl Receiver {
    /// Starts the receiver on `port` (0: any), trusting `SECRET` on every
    /// path in `paths`.
    fn start(dir: &Path, port: u16, paths: &[&str]) -> Receiver {
        Self::start_with(dir, port, paths, &[])
    }

    /// Like [`Receiver::start`], with extra environment variables (TLS).
    fn start_with(dir: &Path, port: u16, paths: &[&str], env: &[(&str, &Path)]) -> Receiver {
        let out = dir.join("received.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhook_receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&out)
            .arg(port.to_string())
            .args(paths.iter().map(|p| format!("{p}={SECRET}")))
            .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("receiver did not start: {line:?}"));
        Receiver { out, port, child }
    }

    /// Everything received so far, in arrival order.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Verified events on `path`, first arrival of each id, in order.
    fn events(&self, path: &str) -> Vec<Value> {
        let mut seen = BTreeSet::new();
        self.received()
            .into_iter()
            .filter(|r| r["path"] == path && r["verified"] == true)
            .filter(|r| seen.insert(r["id"].as_str().unwrap().to_owned()))
            .map(|r| r["body"].clone())
            .collect()
    }

    /// Waits until `path` has `n` distinct verified events; returns them.
    #[track_caller]
    fn wait(&self, path: &str, n: usize, server_log: &dyn Fn() -> String) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.events(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} events after 60 s:\n{:#?}\nserver log:\n{}",
                got.len(),
                self.received(),
                server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (nothing listens on it afterwards).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(webhooks: &str, ssh: bool) -> String {
    let (akid, secret) = ALICE;
    let ssh_listen = if ssh {
        "ssh_listen = \"127.0.0.1:0\""
    } else {
        ""
    };
    format!(
        r#"[server]
region = "us-east-1"
{ssh_listen}

[backend]
repos = "repos"

[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "alice"
policies = ["dev.json"]
access_keys = [{{ id = "{akid}", secret = "{secret}" }}]
SSH_KEYS

{webhooks}
"#
    )
}

fn hook(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[webhooks]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/{name}\"\nsecret = \"{SECRET}\"\n{extra}\n"
    )
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bare: PathBuf,
}

fn setup(config: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write(&root, "dev.json", POLICY);
    write(&root, "gitiam.toml", config);
    let bare = bare_repo_with_commit(&root, ACCOUNT, "demo");
    Setup {
        _tmp: tmp,
        root,
        bare,
    }
}

fn alice() -> Creds {
    Creds::new(ALICE.0, ALICE.1)
}

fn push(server: &TestServer, work: &Path, args: &[&str]) -> common::Run {
    server
        .git(work, &alice())
        .arg("push")
        .args(args)
        .run()
        .context("server log", server.log())
}

fn detail(e: &Value) -> &Value {
    &e["detail"]
}

fn gitiam_events(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin("gitiam"));
    cmd.arg("events").args(args).arg("--config").arg(config);
    cmd
}

#[test]
fn branch_tag_and_multi_ref_pushes_give_one_signed_event_per_updated_ref() {
    if !tools("branch_tag_and_multi_ref_pushes_give_one_signed_event_per_updated_ref") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let paths = ["/ci", "/tags", "/deletes", "/other", "/wrong"];
    let receiver = Receiver::start(tmp.path(), 0, &paths);
    let port = receiver.port;
    let webhooks = [
        hook("ci", port, ""),
        hook(
            "tags",
            port,
            "format = \"cloudevents\"\nreferences = [\"refs/tags/v*\"]",
        ),
        hook("deletes", port, "events = [\"referenceDeleted\"]"),
        hook(
            "other",
            port,
            "repositories = [\"arn:aws:codecommit:*:111122223333:other-*\"]",
        ),
        hook("wrong", port, "").replace(SECRET, OTHER_SECRET),
    ]
    .join("\n");
    let s = setup(&config(&webhooks, false).replace("SSH_KEYS", ""));
    git_ok(&s.bare, &["config", "receive.denyNonFastForwards", "true"]);
    let server = TestServer::start(&s.root);
    let log = || server.log();
    let work = s.root.join("work");
    server
        .git(&s.root, &alice())
        .arg("clone")
        .arg(server.url("demo"))
        .arg(&work)
        .ok();
    let main = rev(&s.bare, "main").unwrap();

    // Create, update, tags, delete, then three refs in one push.
    push(&server, &work, &["origin", "main:refs/heads/feature"]).assert_success();
    let c1 = commit_file(&work, "one.txt");
    push(&server, &work, &["origin", "HEAD:refs/heads/feature"]).assert_success();
    git_ok(&work, &["tag", "v1"]);
    git_ok(&work, &["tag", "x1"]);
    push(&server, &work, &["origin", "v1", "x1"]).assert_success();
    push(&server, &work, &["origin", ":refs/heads/feature"]).assert_success();
    push(
        &server,
        &work,
        &[
            "origin",
            "HEAD:refs/heads/a",
            "HEAD:refs/heads/b",
            "HEAD:refs/heads/c",
        ],
    )
    .assert_success();
    // Refused by policy (never reaches the backend) and by the backend
    // (non-fast-forward): no event.
    push(&server, &work, &["origin", "HEAD:refs/heads/protected"]).assert_failure();
    git_ok(&work, &["reset", "-q", "--hard", &main]);
    let c2 = commit_file(&work, "two.txt");
    let nff = push(&server, &work, &["--force", "origin", "HEAD:refs/heads/a"]).assert_failure();
    assert!(nff.stderr.contains("non-fast-forward"), "{}", nff.stderr);
    assert_eq!(rev(&s.bare, "refs/heads/a").unwrap(), c1);
    push(&server, &work, &["origin", "HEAD:refs/heads/last"]).assert_success();

    let ci = receiver.wait("/ci", 9, &log);
    let got: Vec<(String, String)> = ci
        .iter()
        .map(|e| {
            (
                detail(e)["event"].as_str().unwrap().to_owned(),
                detail(e)["referenceFullName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("referenceCreated", "refs/heads/feature"),
        ("referenceUpdated", "refs/heads/feature"),
        ("referenceCreated", "refs/tags/v1"),
        ("referenceCreated", "refs/tags/x1"),
        ("referenceDeleted", "refs/heads/feature"),
        ("referenceCreated", "refs/heads/a"),
        ("referenceCreated", "refs/heads/b"),
        ("referenceCreated", "refs/heads/c"),
        ("referenceCreated", "refs/heads/last"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    // Exactly these, in push order: nothing for the refused pushes.
    assert_eq!(got, want);

    // The EventBridge body, field by field.
    let created = &ci[0];
    assert_eq!(created["version"], "0");
    assert_eq!(created["detail-type"], "CodeCommit Repository State Change");
    assert_eq!(created["source"], "aws.codecommit");
    assert_eq!(created["account"], ACCOUNT);
    assert_eq!(created["region"], "us-east-1");
    assert_eq!(
        created["resources"],
        serde_json::json!(["arn:aws:codecommit:us-east-1:111122223333:demo"])
    );
    let time = created["time"].as_str().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    let d = detail(created);
    assert_eq!(d["repositoryName"], "demo");
    assert_eq!(d["referenceType"], "branch");
    assert_eq!(d["referenceName"], "feature");
    assert_eq!(d["commitId"], main.as_str());
    assert!(d.get("oldCommitId").is_none());
    assert_eq!(d["callerUserArn"], ALICE_ARN);
    let repo_id = d["repositoryId"].as_str().unwrap();
    assert_eq!(repo_id.len(), 36);
    assert!(ci.iter().all(|e| detail(e)["repositoryId"] == repo_id));
    let updated = detail(&ci[1]);
    assert_eq!(updated["oldCommitId"], main.as_str());
    assert_eq!(updated["commitId"], c1.as_str());
    assert_eq!(detail(&ci[2])["referenceType"], "tag");
    assert_eq!(detail(&ci[2])["referenceName"], "v1");
    let deleted = detail(&ci[4]);
    assert_eq!(deleted["oldCommitId"], c1.as_str());
    assert!(deleted.get("commitId").is_none());
    assert_ne!(c2, c1);
    // Event ids: UUID v4, distinct, and the webhook-id header.
    let ids: BTreeSet<&str> = ci.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 9);
    for r in receiver.received().iter().filter(|r| r["path"] == "/ci") {
        assert_eq!(r["id"], r["body"]["id"]);
        assert_eq!(r["content_type"], "application/json");
    }

    // Filters: tags v* only (CloudEvents), deletes only, another repository.
    let tags = receiver.wait("/tags", 1, &log);
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0]["specversion"], "1.0");
    assert_eq!(tags[0]["type"], "dev.gitiam.codecommit.referenceCreated");
    assert_eq!(tags[0]["subject"], "refs/tags/v1");
    assert_eq!(
        tags[0]["source"],
        "arn:aws:codecommit:us-east-1:111122223333:demo"
    );
    assert_eq!(tags[0]["data"]["referenceName"], "v1");
    assert_eq!(tags[0]["id"], ci[2]["id"]);
    let deletes = receiver.wait("/deletes", 1, &log);
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["detail"]["event"], "referenceDeleted");
    assert!(receiver.events("/other").is_empty());

    // A receiver holding another secret detects every attempt as forged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !receiver.received().iter().any(|r| r["path"] == "/wrong") {
        assert!(Instant::now() < deadline, "nothing reached /wrong");
        std::thread::sleep(Duration::from_millis(100));
    }
    let wrong: Vec<Value> = receiver
        .received()
        .into_iter()
        .filter(|r| r["path"] == "/wrong")
        .collect();
    assert!(wrong.iter().all(|r| r["verified"] == false), "{wrong:#?}");
    assert!(
        wrong[0]["error"]
            .as_str()
            .unwrap()
            .contains("WebhookVerificationError"),
        "{wrong:#?}"
    );

    // Audit lines of pushes carry the ids of their events.
    let multi = server.wait_audit(|r| r["refs"].as_array().is_some_and(|a| a.len() == 3));
    let audited: BTreeSet<&str> = multi["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = ci[5..8].iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(audited, expected);

    // Metrics: deliveries by endpoint and result, the outbox gauges.
    let metrics = server.request("GET", "/metrics", &[]).body;
    assert!(
        metrics.contains("gitiam_webhook_deliveries_total{endpoint=\"ci\",result=\"delivered\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gitiam_webhook_deliveries_total{endpoint=\"wrong\",result=\"failed\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("gitiam_webhook_outbox_pending{endpoint=\"ci\"}"));
    assert!(metrics.contains("gitiam_webhook_oldest_pending_age_seconds{endpoint=\"wrong\"}"));
}

#[test]
fn events_survive_a_receiver_outage_and_a_killed_server() {
    if !tools("events_survive_a_receiver_outage_and_a_killed_server") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = setup(&config(&hook("ci", port, ""), false).replace("SSH_KEYS", ""));
    let config_path = s.root.join("gitiam.toml");
    let server = TestServer::start(&s.root);
    let work = s.root.join("work");
    server
        .git(&s.root, &alice())
        .arg("clone")
        .arg(server.url("demo"))
        .arg(&work)
        .ok();

    // The receiver is down: the pushes succeed, their events wait.
    push(&server, &work, &["origin", "HEAD:refs/heads/r1"]).assert_success();
    push(
        &server,
        &work,
        &["origin", "HEAD:refs/heads/r2", "HEAD:refs/heads/r3"],
    )
    .assert_success();
    std::thread::sleep(Duration::from_secs(2));
    let pending = gitiam_events(&config_path, &["list", "--status", "pending", "--json"]).ok();
    let pending: Vec<Value> = serde_json::from_str(&pending.stdout).unwrap();
    let refs: Vec<&str> = pending
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["refs/heads/r1", "refs/heads/r2", "refs/heads/r3"]);

    // Up again: everything arrives, in push order.
    let receiver = Receiver::start(tmp.path(), port, &["/ci"]);
    let log = || server.log();
    let got = receiver.wait("/ci", 3, &log);
    let names: Vec<&str> = got
        .iter()
        .map(|e| e["detail"]["referenceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r1", "r2", "r3"]);
    drop(receiver);

    // Down again, two more pushes, and gitiam is killed (SIGKILL) before
    // it could deliver them.
    push(&server, &work, &["origin", "HEAD:refs/heads/r4"]).assert_success();
    push(&server, &work, &["origin", "HEAD:refs/heads/r5"]).assert_success();
    let audit_ids: Vec<String> = server
        .audit()
        .iter()
        .filter_map(|r| r["events"].as_array().cloned())
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(audit_ids.len(), 5);
    drop(server);
    let listed = gitiam_events(&config_path, &["list", "--status", "pending"]).ok();
    assert!(listed.stdout.contains("refs/heads/r4"), "{}", listed.stdout);

    let receiver = Receiver::start(tmp.path(), port, &["/ci"]);
    let server = TestServer::start(&s.root);
    let log = || server.log();
    let got = receiver.wait("/ci", 5, &log);
    let ids: Vec<String> = got
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    // Every event once (after de-duplication by id), none missing.
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>(),
        audit_ids.iter().collect::<BTreeSet<_>>()
    );
    let names: Vec<&str> = got
        .iter()
        .map(|e| e["detail"]["referenceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r1", "r2", "r3", "r4", "r5"]);

    // An operator redelivers one: the receiver sees the same id again.
    let before = receiver.received().len();
    gitiam_events(&config_path, &["redeliver", &ids[0]]).ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let again = receiver.received();
        if again.len() > before {
            assert_eq!(again[before]["id"], ids[0].as_str());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not redelivered:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let unknown = gitiam_events(&config_path, &["redeliver", "no-such-id"]).run();
    assert!(!unknown.succeeded());
    assert!(
        unknown.stderr.contains("no such event"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn a_push_over_ssh_gives_its_event() {
    let test = "a_push_over_ssh_gives_its_event";
    if !tools(test) || !common::require_tool(test, "ssh", &["-V"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(tmp.path(), 0, &["/ci"]);
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = common::ssh::keygen(&keys, "alice", "ed25519");
    let ssh_keys = format!(
        "ssh_keys = [{{ id = \"APKAALICE00000000001\", public_key = \"{}\" }}]",
        key.public
    );
    let s = setup(&config(&hook("ci", receiver.port, ""), true).replace("SSH_KEYS", &ssh_keys));
    let server = common::ssh::SshServer::start(&s.root);
    let work = s.root.join("work");
    let url = server.url("APKAALICE00000000001", "demo");
    server
        .git(&s.root, &key.private)
        .arg("clone")
        .arg(&url)
        .arg(&work)
        .ok();
    let c = commit_file(&work, "ssh.txt");
    server
        .git(&work, &key.private)
        .args(["push", "origin", "HEAD:refs/heads/over-ssh"])
        .ok();
    // Refused by policy over SSH: nothing.
    server
        .git(&work, &key.private)
        .args(["push", "origin", "HEAD:refs/heads/protected"])
        .run()
        .assert_failure();
    server
        .git(&work, &key.private)
        .args(["push", "origin", "HEAD:refs/heads/after"])
        .ok();
    let log = || std::fs::read_to_string(s.root.join("server.log")).unwrap_or_default();
    let got = receiver.wait("/ci", 2, &log);
    assert_eq!(got.len(), 2, "{got:#?}");
    let d = &got[0]["detail"];
    assert_eq!(d["event"], "referenceCreated");
    assert_eq!(d["referenceFullName"], "refs/heads/over-ssh");
    assert_eq!(d["commitId"], c.as_str());
    assert_eq!(d["callerUserArn"], ALICE_ARN);
    assert_eq!(got[1]["detail"]["referenceName"], "after");
    let audit = server.wait_audit(|r| {
        r["transport"] == "ssh" && r["refs"] == serde_json::json!(["refs/heads/over-ssh"])
    });
    assert_eq!(audit["events"], serde_json::json!([got[0]["id"]]));
}

#[test]
fn the_upstream_backend_reports_the_same_events() {
    let test = "the_upstream_backend_reports_the_same_events";
    if !tools(test) || !common::nginx::available(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(tmp.path(), 0, &["/ci"]);
    let upstream_root = tmp.path().join("upstream");
    let bare = bare_repo_with_commit(&upstream_root, ACCOUNT, "demo");
    git_ok(&bare, &["config", "receive.denyNonFastForwards", "true"]);
    git_ok(&bare, &["config", "http.receivepack", "true"]);
    let nginx = common::nginx::NginxGit::start(&upstream_root.join("repos"), None);
    let gw = tmp.path().join("gw");
    let text = config(&hook("ci", receiver.port, ""), false)
        .replace("SSH_KEYS", "")
        .replace(
            "repos = \"repos\"",
            &format!("upstream = \"{}/{{account}}/{{repo}}.git\"", nginx.url),
        );
    write(&gw, "gitiam.toml", &text);
    write(&gw, "dev.json", POLICY);
    let server = TestServer::start(&gw);
    let work = tmp.path().join("work");
    server
        .git(tmp.path(), &alice())
        .arg("clone")
        .arg(server.url("demo"))
        .arg(&work)
        .run()
        .context("nginx error log", nginx.error_log())
        .assert_success();
    let main = rev(&bare, "main").unwrap();
    let c = commit_file(&work, "up.txt");
    push(&server, &work, &["origin", "HEAD:refs/heads/up"]).assert_success();
    // One ref the upstream updates, one it refuses (non-fast-forward),
    // in one push: one event.
    git_ok(&work, &["branch", "old", &main]);
    let out = push(
        &server,
        &work,
        &[
            "--force",
            "origin",
            "HEAD:refs/heads/two",
            "old:refs/heads/up",
        ],
    )
    .assert_failure();
    assert!(out.stderr.contains("non-fast-forward"), "{}", out.stderr);
    push(&server, &work, &["origin", "HEAD:refs/heads/protected"]).assert_failure();
    push(&server, &work, &["origin", "HEAD:refs/heads/end"]).assert_success();
    let log = || server.log();
    let got = receiver.wait("/ci", 3, &log);
    let names: Vec<&str> = got
        .iter()
        .map(|e| e["detail"]["referenceFullName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["refs/heads/up", "refs/heads/two", "refs/heads/end"]);
    assert_eq!(got[0]["detail"]["commitId"], c.as_str());
}

#[test]
fn a_reload_applies_to_events_created_afterwards() {
    if !tools("a_reload_applies_to_events_created_afterwards") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(tmp.path(), 0, &["/a", "/b"]);
    let port = receiver.port;
    let s = setup(&config(&hook("a", port, ""), false).replace("SSH_KEYS", ""));
    let server = TestServer::start(&s.root);
    let log = || server.log();
    let work = s.root.join("work");
    server
        .git(&s.root, &alice())
        .arg("clone")
        .arg(server.url("demo"))
        .arg(&work)
        .ok();
    push(&server, &work, &["origin", "HEAD:refs/heads/one"]).assert_success();
    receiver.wait("/a", 1, &log);

    let reloads = |server: &TestServer| server.log().matches("configuration reload").count();
    let wait_reload = |server: &TestServer, before: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while reloads(server) == before {
            assert!(Instant::now() < deadline, "no reload:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Endpoint b added.
    let before = reloads(&server);
    let both = config(
        &format!("{}\n{}", hook("a", port, ""), hook("b", port, "")),
        false,
    )
    .replace("SSH_KEYS", "");
    write(&s.root, "gitiam.toml", &both);
    server.hangup();
    wait_reload(&server, before);
    push(&server, &work, &["origin", "HEAD:refs/heads/two"]).assert_success();
    receiver.wait("/a", 2, &log);
    let b = receiver.wait("/b", 1, &log);
    // Only the event created after the reload went to b.
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["detail"]["referenceName"], "two");

    // A broken webhook section: the last good configuration stays.
    let before = reloads(&server);
    let broken = both.replace("http://127.0.0.1", "http://192.0.2.1");
    write(&s.root, "gitiam.toml", &broken);
    server.hangup();
    wait_reload(&server, before);
    assert!(
        server
            .log()
            .contains("http:// is only allowed to a loopback address")
    );
    push(&server, &work, &["origin", "HEAD:refs/heads/three"]).assert_success();
    receiver.wait("/a", 3, &log);
    let b = receiver.wait("/b", 2, &log);
    assert_eq!(b[1]["detail"]["referenceName"], "three");
}

#[test]
fn an_https_receiver_is_trusted_through_its_ca_file() {
    let test = "an_https_receiver_is_trusted_through_its_ca_file";
    if !tools(test) || !common::require_tool(test, "openssl", &["version"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A CA, and the receiver's certificate for 127.0.0.1 signed by it.
    let p = |name: &str| tmp.path().join(name);
    let (ca, cert, key) = (p("ca.pem"), p("cert.pem"), p("key.pem"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    Command::new("openssl")
        .args(["req", "-x509", "-days", "1", "-subj", "/CN=test CA"])
        .args(ec)
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(&ca)
        .ok();
    Command::new("openssl")
        .args(["req", "-subj", "/CN=receiver"])
        .args(ec)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(p("leaf.csr"))
        .ok();
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-CAcreateserial", "-in"])
        .arg(p("leaf.csr"))
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("leaf.ext"))
        .arg("-out")
        .arg(&cert)
        .ok();
    let env = [
        ("RECEIVER_TLS_CERT", cert.as_path()),
        ("RECEIVER_TLS_KEY", key.as_path()),
    ];
    let receiver = Receiver::start_with(tmp.path(), 0, &["/ci", "/untrusted"], &env);
    let port = receiver.port;
    let https = |name: &str, trusted: bool| {
        let extra = if trusted {
            format!("ca = \"{}\"", ca.display())
        } else {
            String::new()
        };
        hook(name, port, &extra).replace("http://", "https://")
    };
    let webhooks = format!("{}\n{}", https("ci", true), https("untrusted", false));
    let s = setup(&config(&webhooks, false).replace("SSH_KEYS", ""));
    let server = TestServer::start(&s.root);
    let log = || server.log();
    let work = s.root.join("work");
    server
        .git(&s.root, &alice())
        .arg("clone")
        .arg(server.url("demo"))
        .arg(&work)
        .ok();
    push(&server, &work, &["origin", "HEAD:refs/heads/tls"]).assert_success();
    let got = receiver.wait("/ci", 1, &log);
    assert_eq!(got[0]["detail"]["referenceName"], "tls");
    // Without the CA file the receiver's certificate is not trusted:
    // nothing reaches it, and the failure is logged and counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("webhook delivery failed") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r["path"] != "/untrusted")
    );
    let metrics = server.request("GET", "/metrics", &[]).body;
    assert!(
        metrics
            .contains("gitiam_webhook_deliveries_total{endpoint=\"untrusted\",result=\"failed\"}"),
        "{metrics}"
    );
}
