//! gitiam as a fleet: two `gitiam serve` replicas with byte-identical
//! configuration files (`a/gitiam.toml`, `b/gitiam.toml`), one STS key
//! file, one TLS certificate and one folder of repositories, behind
//! Debian's HAProxy in TCP mode with `send-proxy-v2`, driven by real
//! clients (git with the credential helper, the AWS CLI, curl).
//!
//! HAProxy connects to the replicas from 127.0.0.3 (`source`), the only
//! trusted proxy; clients connect from 127.0.0.1 or 127.0.0.2. A replica
//! that took the TCP peer for the client would see 127.0.0.3, which no
//! policy here allows.
//!
//! Also here: the plain `/healthz` listener for probes without a header,
//! and the offline validation of the Kubernetes manifests in `deploy/`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::server::{TestServer, git_cmd, write};
use crate::common::{self, CommandExt as _, Run};

const ACCOUNT: &str = "111122223333";
const ALICE: (&str, &str) = ("AKIAFLEETALICE000001", "alice-fleet-secret-0123456789abcd");
const CAROL: (&str, &str) = ("AKIAFLEETCAROL000001", "carol-fleet-secret-0123456789abc");
/// HAProxy's source address towards the replicas (the trusted proxy).
const PROXY_SOURCE: &str = "127.0.0.3";

fn haproxy_bin() -> PathBuf {
    let p = Path::new("/usr/sbin/haproxy");
    if p.exists() {
        p.to_path_buf()
    } else {
        PathBuf::from("haproxy")
    }
}

/// True when HAProxy, openssl and curl can run (skip-visible otherwise).
fn tools(test: &str) -> bool {
    common::require_tool(test, haproxy_bin().to_str().unwrap(), &["-v"])
        && common::require_tool(test, "openssl", &["version"])
        && common::require_tool(test, "curl", &["--version"])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Alice may pull and push `app` from 127.0.0.1 only; Carol may pull it
/// from 127.0.0.2 only. Both may get session tokens.
fn policies(replica: &Path, alice_actions: &str) {
    write(
        replica,
        "policies/alice.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"FromTheOffice","Effect":"Allow",
  "Action":{alice_actions},"Resource":"arn:aws:codecommit:us-east-1:{ACCOUNT}:app",
  "Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.1/32"}}}}}},
  {{"Sid":"Deploy","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{ACCOUNT}:role/reader"}}]}}"#
        ),
    );
    write(
        replica,
        "policies/reader-trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"sts:AssumeRole"}}]}}"#
        ),
    );
    write(
        replica,
        "policies/reader.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"codecommit:GitPull","Resource":"arn:aws:codecommit:us-east-1:{ACCOUNT}:app"}}]}}"#
        ),
    );
    write(
        replica,
        "policies/carol.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"FromTheLab","Effect":"Allow",
  "Action":"codecommit:GitPull","Resource":"arn:aws:codecommit:us-east-1:{ACCOUNT}:app",
  "Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.2/32"}}}}}}]}}"#
        ),
    );
}

const PULL_PUSH: &str = r#"["codecommit:GitPull","codecommit:GitPush"]"#;

/// The configuration both replicas share (relative paths resolve from
/// each replica's folder, so the text is the same).
fn config(extra: &str) -> String {
    config_with(extra, "")
}

/// [`config`] with `alice_extra` in Alice's entry (her `ssh_keys`).
fn config_with(extra: &str, alice_extra: &str) -> String {
    format!(
        r#"[server]
state_dir = ".gitiam"
tls_cert = "../shared/tls/cert.pem"
tls_key = "../shared/tls/key.pem"
proxy_protocol = "required"
trusted_proxies = ["{PROXY_SOURCE}/32"]
shutdown_timeout_secs = 10
{extra}
[backend]
repos = "../repos"
[sts]
signing_keys = "../shared/sts-keys.json"

[[accounts]]
id = "{ACCOUNT}"
[[accounts.users]]
name = "alice"
policies = ["policies/alice.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]
{alice_extra}
[[accounts.users]]
name = "carol"
policies = ["policies/carol.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]
[[accounts.roles]]
name = "reader"
trust_policy = "policies/reader-trust.json"
policies = ["policies/reader.json"]
"#,
        ALICE.0, ALICE.1, CAROL.0, CAROL.1
    )
}

/// A self-signed certificate for 127.0.0.1 shared by the replicas (TLS
/// passes through HAProxy, so every replica must present the same).
fn certificate(shared: &Path) -> PathBuf {
    let tls = shared.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            // A leaf, not a CA (webpki refuses a CA as the server).
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(tls.join("key.pem"))
        .arg("-out")
        .arg(tls.join("cert.pem"))
        .ok();
    tls.join("cert.pem")
}

/// HAProxy in TCP mode in front of the replicas, with HTTPS health checks
/// on `/healthz` (sent with a PROXY v2 `LOCAL` header) and a CSV stats page.
struct Haproxy {
    port: u16,
    stats: u16,
    log: PathBuf,
    child: Child,
}

impl Haproxy {
    fn start(dir: &Path, replicas: &[(&str, u16)]) -> Haproxy {
        Self::start_with_ssh(dir, replicas, &[]).0
    }

    /// Also a TCP frontend for SSH in front of `ssh` (no health check:
    /// the HTTPS backend has them); returns its port too.
    fn start_with_ssh(dir: &Path, replicas: &[(&str, u16)], ssh: &[(&str, u16)]) -> (Haproxy, u16) {
        let ssh_port = free_port();
        let ssh_servers: String = ssh
            .iter()
            .map(|(name, p)| format!("    server {name} 127.0.0.1:{p}\n"))
            .collect();
        let ssh_section = if ssh.is_empty() {
            String::new()
        } else {
            [
                "frontend ssh".to_owned(),
                format!("    bind 127.0.0.1:{ssh_port}"),
                "    default_backend ssh_replicas".to_owned(),
                "backend ssh_replicas".to_owned(),
                "    balance roundrobin".to_owned(),
                format!("    source {PROXY_SOURCE}"),
                "    default-server send-proxy-v2".to_owned(),
                ssh_servers,
            ]
            .join("\n")
        };
        let port = free_port();
        let stats = free_port();
        let servers: String = replicas
            .iter()
            .map(|(name, p)| format!("    server {name} 127.0.0.1:{p}\n"))
            .collect();
        let cfg = format!(
            r#"global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A loaded machine can take long over a check's TLS handshake: the
    # check timeout would otherwise be `inter`, and a slow answer would
    # take a healthy replica out.
    timeout check 10s
    retries 3
    option redispatch
frontend git
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    source {PROXY_SOURCE}
    option httpchk GET /healthz
    http-check expect status 200
    default-server send-proxy-v2 check check-ssl verify none inter 300ms fall 2 rise 1
{servers}frontend stats
    mode http
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
{ssh_section}"#
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        Command::new(haproxy_bin())
            .args(["-c", "-q", "-f"])
            .arg(&path)
            .ok();
        let log = dir.join("haproxy.log");
        let child = Command::new(haproxy_bin())
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("haproxy.err")).unwrap())
            .spawn()
            .unwrap();
        let h = Haproxy {
            port,
            stats,
            log,
            child,
        };
        h.wait_for(Duration::from_secs(10), |s| {
            replicas
                .iter()
                .all(|(name, _)| s.get(*name).is_some_and(|st| st == "UP"))
        });
        (h, ssh_port)
    }

    /// The status of each server of the `replicas` backend (UP, DOWN...).
    fn status(&self) -> std::collections::HashMap<String, String> {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.stats)) else {
            return Default::default();
        };
        let _ = s.write_all(b"GET /stats;csv HTTP/1.0\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text.lines()
            .filter(|l| l.starts_with("replicas,"))
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let name = f.get(1)?;
                let status = f.get(17)?;
                (*name != "BACKEND").then(|| (name.to_string(), status.to_string()))
            })
            .collect()
    }

    fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&std::collections::HashMap<String, String>) -> bool,
    ) {
        let start = Instant::now();
        loop {
            let s = self.status();
            if pred(&s) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "HAProxy's servers are {s:?} after {limit:?}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, repo: &str) -> String {
        format!("https://127.0.0.1:{}/v1/repos/{repo}", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two replicas behind HAProxy.
struct Fleet {
    dir: tempfile::TempDir,
    cert: PathBuf,
    a: Option<TestServer>,
    b: Option<TestServer>,
    lb: Haproxy,
    bare: PathBuf,
}

impl Fleet {
    fn start(extra_config: &str) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let cert = certificate(&root.join("shared"));
        let text = config(extra_config);
        for replica in ["a", "b"] {
            write(root, &format!("{replica}/gitiam.toml"), &text);
            policies(&root.join(replica), PULL_PUSH);
        }
        let bare = common::server::bare_repo_with_commit(root, ACCOUNT, "app");
        // One after the other: the first creates the shared STS key file.
        let a = start_replica(root, "a");
        let b = start_replica(root, "b");
        let lb = Haproxy::start(root, &[("a", a.port), ("b", b.port)]);
        Fleet {
            dir,
            cert,
            a: Some(a),
            b: Some(b),
            lb,
            bare,
        }
    }

    fn a(&self) -> &TestServer {
        self.a.as_ref().unwrap()
    }

    /// The replicas' and HAProxy's logs (for failure messages).
    fn logs(&self) -> String {
        let mut all = String::new();
        for (name, r) in [("a", &self.a), ("b", &self.b)] {
            if let Some(r) = r {
                all.push_str(&format!("== replica {name}\n{}", r.log()));
            }
        }
        let err = std::fs::read_to_string(self.dir.path().join("haproxy.err")).unwrap_or_default();
        all.push_str(&format!("== haproxy\n{err}{:?}\n", self.lb.status()));
        all
    }

    fn b(&self) -> &TestServer {
        self.b.as_ref().unwrap()
    }

    /// git through HAProxy, signing with the helper for these credentials.
    fn git(&self, cwd: &Path, creds: (&str, &str, Option<&str>)) -> Command {
        let mut cmd = git_cmd(cwd);
        let none = self.dir.path().join("aws-none");
        cmd.arg("-c")
            .arg(format!("http.sslCAInfo={}", self.cert.display()))
            .args([
                "-c",
                "credential.useHttpPath=true",
                "-c",
                "credential.helper=",
            ])
            .arg("-c")
            .arg(format!(
                "credential.helper={}",
                common::bin("git-credential-gitiam").display()
            ))
            .env("AWS_CONFIG_FILE", none.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", none.join("credentials"))
            .env_remove("AWS_PROFILE")
            .env("AWS_ACCESS_KEY_ID", creds.0)
            .env("AWS_SECRET_ACCESS_KEY", creds.1)
            .env("AWS_REGION", "us-east-1");
        match creds.2 {
            Some(t) => cmd.env("AWS_SESSION_TOKEN", t),
            None => cmd.env_remove("AWS_SESSION_TOKEN"),
        };
        cmd
    }

    /// One `GET info/refs` through HAProxy with curl from `source`, signed
    /// for `creds`: one TCP connection, so successive calls alternate
    /// between the replicas. Returns the HTTP status.
    fn curl_info_refs(&self, source: &str, creds: (&str, &str), service: &str) -> u16 {
        let password = gitiam::shared::sigv4::codecommit::password(
            creds.1,
            "us-east-1",
            "127.0.0.1",
            "/v1/repos/app",
            SystemTime::now(),
        );
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--interface",
                source,
            ])
            .arg("--cacert")
            .arg(&self.cert)
            .arg("-u")
            .arg(format!("{}:{password}", creds.0))
            .arg(format!(
                "{}/info/refs?service={service}",
                self.lb.url("app")
            ))
            .ok();
        out.stdout.trim().parse().unwrap()
    }

    /// The AWS CLI through HAProxy.
    fn aws(&self, creds: (&str, &str), args: &[&str]) -> Run {
        let home = self.dir.path();
        Command::new("aws")
            .args(args)
            .args([
                "--endpoint-url",
                &format!("https://127.0.0.1:{}", self.lb.port),
                "--output",
                "json",
            ])
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CA_BUNDLE", &self.cert)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_PAGER", "")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_ACCESS_KEY_ID", creds.0)
            .env("AWS_SECRET_ACCESS_KEY", creds.1)
            .run()
    }
}

fn start_replica(root: &Path, name: &str) -> TestServer {
    let dir = root.join(name);
    TestServer::start_config(&dir, &dir.join("gitiam.toml"), ".gitiam")
}

/// Audit records of `server` for Git requests of `method`.
fn git_records(server: &TestServer, method: &str) -> Vec<serde_json::Value> {
    server
        .audit()
        .into_iter()
        .filter(|r| {
            r["method"] == method
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/v1/repos/app"))
        })
        .collect()
}

/// Commits a file of `bytes` random-ish bytes in `work` and returns the
/// new commit.
fn commit(fleet: &Fleet, work: &Path, name: &str, bytes: usize) -> String {
    let mut data = Vec::with_capacity(bytes);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes as u64 ^ name.len() as u64;
    while data.len() < bytes {
        // xorshift: incompressible, so the pack really is this large.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(work.join(name), &data).unwrap();
    fleet
        .git(work, (ALICE.0, ALICE.1, None))
        .args(["add", name])
        .ok();
    fleet
        .git(work, (ALICE.0, ALICE.1, None))
        .args(["commit", "-q", "-m", name])
        .ok();
    fleet
        .git(work, (ALICE.0, ALICE.1, None))
        .args(["rev-parse", "HEAD"])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

#[test]
fn clones_and_pushes_alternate_between_replicas_and_credentials_work_on_both() {
    if !tools("clones_and_pushes_alternate_between_replicas_and_credentials_work_on_both")
        || !common::require_tool("clones_and_pushes_alternate", "aws", &["--version"])
    {
        return;
    }
    let fleet = Fleet::start("");
    let root = fleet.dir.path();
    let alice = (ALICE.0, ALICE.1, None);
    fleet
        .git(root, alice)
        .args(["clone", "-q", &fleet.lb.url("app"), "work"])
        .ok();
    let work = root.join("work");
    for i in 0..4 {
        let head = commit(&fleet, &work, &format!("f{i}"), 1000);
        fleet
            .git(&work, alice)
            .args(["push", "-q", "origin", "main"])
            .ok();
        assert_eq!(
            common::server::rev(&fleet.bare, "main").as_deref(),
            Some(head.as_str())
        );
    }
    // Both replicas served pushes (round robin), and saw the client.
    for replica in [fleet.a(), fleet.b()] {
        let pushes = git_records(replica, "POST");
        assert!(
            pushes
                .iter()
                .any(|r| r["action"] == "codecommit:GitPush" && r["decision"] == "allowed"),
            "a replica served no push: {pushes:#?}"
        );
        for r in replica.audit() {
            assert_eq!(r["source_ip"], "127.0.0.1", "{r:#}");
        }
    }

    // Temporary credentials from whichever replica answered work on both.
    let role = format!("arn:aws:iam::{ACCOUNT}:role/reader");
    let out = fleet.aws(
        (ALICE.0, ALICE.1),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role,
            "--role-session-name",
            "fleet",
        ],
    );
    out.check(out.succeeded(), "aws sts assume-role failed");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout_bytes).unwrap();
    let c = &json["Credentials"];
    let (akid, secret, token) = (
        c["AccessKeyId"].as_str().unwrap(),
        c["SecretAccessKey"].as_str().unwrap(),
        c["SessionToken"].as_str().unwrap(),
    );
    let before: Vec<usize> = [fleet.a(), fleet.b()]
        .iter()
        .map(|s| git_records(s, "GET").len())
        .collect();
    for _ in 0..2 {
        fleet
            .git(root, (akid, secret, Some(token)))
            .args(["ls-remote", &fleet.lb.url("app")])
            .ok()
            .assert_stdout_contains("refs/heads/main");
    }
    let after: Vec<usize> = [fleet.a(), fleet.b()]
        .iter()
        .map(|s| git_records(s, "GET").len())
        .collect();
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "session credentials were not used on both replicas: {before:?} -> {after:?}"
    );
}

#[test]
fn ip_conditions_see_the_client_behind_haproxy() {
    if !tools("ip_conditions_see_the_client_behind_haproxy") {
        return;
    }
    let fleet = Fleet::start("");
    // Carol may pull from 127.0.0.2 only, Alice from 127.0.0.1 only; both
    // replicas (two connections, round robin) agree.
    let service = "git-upload-pack";
    for _ in 0..2 {
        assert_eq!(fleet.curl_info_refs("127.0.0.2", CAROL, service), 200);
        assert_eq!(fleet.curl_info_refs("127.0.0.1", CAROL, service), 403);
        assert_eq!(fleet.curl_info_refs("127.0.0.1", ALICE, service), 200);
        assert_eq!(fleet.curl_info_refs("127.0.0.2", ALICE, service), 403);
    }
    for replica in [fleet.a(), fleet.b()] {
        let records = git_records(replica, "GET");
        assert_eq!(records.len(), 4, "{records:#?}");
        for r in &records {
            let expected = match (r["decision"].as_str(), r["access_key_id"].as_str()) {
                (Some("allowed"), Some(k)) if k == CAROL.0 => "127.0.0.2",
                (Some("implicitDeny"), Some(k)) if k == CAROL.0 => "127.0.0.1",
                (Some("allowed"), Some(_)) => "127.0.0.1",
                _ => "127.0.0.2",
            };
            assert_eq!(r["source_ip"], expected, "{r:#}");
        }
    }
}

#[test]
fn a_policy_change_copied_to_both_replicas_applies_on_both_within_a_second() {
    if !tools("a_policy_change_copied_to_both_replicas_applies_on_both_within_a_second") {
        return;
    }
    let fleet = Fleet::start("");
    let push = "git-receive-pack";
    assert_eq!(fleet.curl_info_refs("127.0.0.1", ALICE, push), 200);
    assert_eq!(fleet.curl_info_refs("127.0.0.1", ALICE, push), 200);
    // Pull only, on both replicas (as a ConfigMap update would).
    let changed = Instant::now();
    for replica in ["a", "b"] {
        policies(&fleet.dir.path().join(replica), r#"["codecommit:GitPull"]"#);
    }
    std::thread::sleep(Duration::from_millis(1000).saturating_sub(changed.elapsed()));
    let statuses: Vec<u16> = (0..4)
        .map(|_| fleet.curl_info_refs("127.0.0.1", ALICE, push))
        .collect();
    assert_eq!(statuses, [403, 403, 403, 403]);
    for replica in [fleet.a(), fleet.b()] {
        let denied = git_records(replica, "GET")
            .into_iter()
            .filter(|r| r["decision"] == "implicitDeny")
            .count();
        assert_eq!(denied, 2, "each replica refused two of the four");
    }
}

#[test]
fn sigterm_during_a_push_leaves_no_half_applied_push_and_health_checks_move_traffic() {
    if !tools("sigterm_during_a_push_leaves_no_half_applied_push_and_health_checks_move_traffic") {
        return;
    }
    sigterm_during_a_push(false);
}

#[test]
fn sigterm_while_a_replica_receives_a_pack_lets_the_push_finish() {
    if !tools("sigterm_while_a_replica_receives_a_pack_lets_the_push_finish") {
        return;
    }
    sigterm_during_a_push(true);
}

/// Whether receive-pack is taking in a pack in `bare` now (its quarantine
/// folder exists).
fn receiving(bare: &Path) -> bool {
    std::fs::read_dir(bare.join("objects")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("incoming"))
    })
}

/// SIGTERM to the replica that answered a 48 MiB push's advertisement:
/// right after it (`while_receiving` false: git's connection is idle then),
/// or once that replica's receive-pack is taking in the pack.
fn sigterm_during_a_push(while_receiving: bool) {
    let mut fleet = Fleet::start("");
    let root = fleet.dir.path().to_path_buf();
    let alice = (ALICE.0, ALICE.1, None);
    let out = fleet
        .git(&root, alice)
        .args(["clone", "-q", &fleet.lb.url("app"), "work"])
        .run()
        .context("logs", fleet.logs());
    out.check(out.succeeded(), "clone failed");
    let work = root.join("work");
    let before = common::server::rev(&fleet.bare, "main").unwrap();
    // A push large enough to be in flight when the signal comes.
    let head = commit(&fleet, &work, "big.bin", 48 << 20);
    // Authenticated receive-pack advertisements each replica served so far.
    let advertised = |s: &TestServer| {
        git_records(s, "GET")
            .iter()
            .filter(|r| r["action"] == "codecommit:GitPush" && r["status"] == 200)
            .count()
    };
    let before_counts = [advertised(fleet.a()), advertised(fleet.b())];
    let push = fleet
        .git(&work, alice)
        .args(["push", "-q", "origin", "main"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // SIGTERM to the replica that answered the push's advertisement, as
    // soon as it did: git's POST of the pack follows on that connection.
    let start = Instant::now();
    let stopped = loop {
        if advertised(fleet.a()) > before_counts[0] {
            break "a";
        }
        if advertised(fleet.b()) > before_counts[1] {
            break "b";
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the push never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    if while_receiving {
        while !receiving(&fleet.bare) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "receive-pack never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (victim, survivor) = if stopped == "a" {
        (fleet.a.take().unwrap(), fleet.b())
    } else {
        (fleet.b.take().unwrap(), fleet.a())
    };
    let victim_log = victim.dir.join(".gitiam.log");
    let victim_audit = victim.dir.join(".gitiam/audit.jsonl");
    let pushes_before = git_records(survivor, "POST").len();
    let status = victim.terminate();
    assert!(
        status.success(),
        "replica {stopped} did not shut down cleanly: {status:?}"
    );
    let out = push.wait_with_output().unwrap();
    let after = common::server::rev(&fleet.bare, "main").unwrap();
    // Where the pack went: the stopped replica finished it while draining,
    // or git's next connection went to the other one.
    let finished_by_victim = std::fs::read_to_string(&victim_audit)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"POST\"") && l.contains("git-receive-pack"))
        .count();
    let _ = writeln!(
        std::io::stderr(),
        "fleet: SIGTERM to replica {stopped} {} of a 48 MiB push: the push {}; \
         receive-pack POSTs on the stopped replica: {finished_by_victim}, on the other: {}",
        if while_receiving {
            "while it received the pack"
        } else {
            "after the advertisement"
        },
        if out.status.success() {
            "completed"
        } else {
            "failed cleanly"
        },
        git_records(survivor, "POST").len() - pushes_before
    );
    if out.status.success() {
        assert_eq!(after, head, "the push reported success but main is {after}");
    } else {
        assert_eq!(after, before, "a failed push moved main");
    }
    // Nothing half-applied: no ref lock left, the repository is whole.
    assert!(!fleet.bare.join("refs/heads/main.lock").exists());
    git_cmd(&fleet.bare).args(["fsck", "--no-progress"]).ok();
    // HAProxy's health checks take the stopped replica out; later requests
    // go to the other.
    let other = if stopped == "a" { "b" } else { "a" };
    fleet.lb.wait_for(Duration::from_secs(5), |s| {
        s.get(stopped).is_some_and(|st| st.starts_with("DOWN"))
            && s.get(other).is_some_and(|st| st == "UP")
    });
    let served = git_records(survivor, "GET").len();
    for _ in 0..3 {
        let out = fleet
            .git(&root, alice)
            .args(["ls-remote", &fleet.lb.url("app")])
            .run()
            .context("survivor's log", survivor.log())
            .context("HAProxy's servers", format!("{:?}", fleet.lb.status()));
        out.check(out.succeeded(), "ls-remote after the shutdown failed");
    }
    // (git asks once without and once with credentials.)
    assert!(git_records(survivor, "GET").len() >= served + 3);
    // The push is complete now, wherever it was before.
    if !out.status.success() {
        fleet
            .git(&work, alice)
            .args(["push", "-q", "origin", "main"])
            .ok();
    }
    assert_eq!(common::server::rev(&fleet.bare, "main").unwrap(), head);
    if while_receiving {
        // The replica drained: the pack it was taking in went in.
        assert!(out.status.success(), "the push in flight was cut off");
        assert!(
            finished_by_victim > 0,
            "the stopped replica did not finish the push"
        );
    }
    let log = std::fs::read_to_string(victim_log).unwrap_or_default();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn connections_from_untrusted_addresses_or_without_a_header_are_closed() {
    if !tools("connections_from_untrusted_addresses_or_without_a_header_are_closed") {
        return;
    }
    let fleet = Fleet::start("");
    let a = fleet.a();
    // Directly from 127.0.0.1 (not a trusted proxy): curl gets no TLS.
    let direct = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&fleet.cert)
        .arg(format!("https://127.0.0.1:{}/healthz", a.port))
        .run();
    direct.check(!direct.succeeded(), "a direct connection was served");
    // From the trusted address but with no header: closed as well.
    let no_header = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--interface",
            PROXY_SOURCE,
            "--cacert",
        ])
        .arg(&fleet.cert)
        .arg(format!("https://127.0.0.1:{}/healthz", a.port))
        .run();
    no_header.check(
        !no_header.succeeded(),
        "a connection without a header was served",
    );
    // From the trusted address with a valid header, TLS and HTTP follow;
    // with a malformed one, the connection is closed before TLS.
    assert_eq!(
        healthz_after_header(
            a.port,
            &fleet.cert,
            b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 443\r\n"
        ),
        Some(200)
    );
    assert_eq!(
        healthz_after_header(
            a.port,
            &fleet.cert,
            b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 443 x\r\n"
        ),
        None
    );
    let log = a.log();
    assert!(log.contains("not in trusted_proxies"), "{log}");
    assert!(
        log.contains("does not start with a PROXY protocol header"),
        "{log}"
    );
    assert!(log.contains("invalid PROXY protocol header"), "{log}");
}

#[test]
fn the_health_listener_answers_probes_that_send_no_header() {
    if !tools("the_health_listener_answers_probes_that_send_no_header") {
        return;
    }
    // One replica: two on one host could not share a fixed port.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    certificate(&dir.path().join("shared"));
    write(
        dir.path(),
        "a/gitiam.toml",
        &config(&format!("health_listen = \"127.0.0.1:{port}\"\n")),
    );
    policies(&dir.path().join("a"), PULL_PUSH);
    let replica = start_replica(dir.path(), "a");
    // The health listener binds beside the Git port, not before the
    // "serving" line that start_replica waits for: retry the connect.
    let connect = || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("health listener on {port}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    let get = |path: &str| -> String {
        let mut s = connect();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    };
    let ok = get("/healthz");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("ok\n"), "{ok}");
    assert!(get("/metrics").starts_with("HTTP/1.1 404"));
    assert!(get("/v1/repos/app/info/refs?service=git-upload-pack").starts_with("HTTP/1.1 404"));
    // The Git port still refuses the same probe (no PROXY header).
    let mut s = TcpStream::connect(("127.0.0.1", replica.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
}

/// Connects to `port` from the trusted proxy's address, sends `header`,
/// then speaks TLS and `GET /healthz`: the status, or `None` when the
/// connection is closed before an answer.
fn healthz_after_header(port: u16, cert: &Path, header: &[u8]) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = crate::common::server::client_config(cert);
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(format!("{PROXY_SOURCE}:0").parse().unwrap())
            .unwrap();
        let mut tcp = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        tcp.write_all(header).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let connect = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
        let mut tls = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .ok()?
            .ok()?;
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    })
}

/// The pinned Kubernetes version the manifests are validated against
/// (kubernetes-validate ships its schemas: no network needed).
const KUBERNETES_VERSION: &str = "1.33.0";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

#[test]
fn kubernetes_manifests_validate_offline() {
    let test = "kubernetes_manifests_validate_offline";
    if !common::require_tool(test, "kubernetes-validate", &["--version"]) {
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .args(&files)
        .run();
    out.check(out.succeeded(), "the manifests do not validate");
    // Every file was checked, and the kinds the fleet needs are there.
    for kind in [
        "deployment/gitiam",
        "service/gitiam",
        "configmap/gitiam-config",
        "secret/gitiam-secrets",
        "poddisruptionbudget/gitiam",
    ] {
        out.check(
            format!("{}{}", out.stdout, out.stderr)
                .contains(&format!("passed for resource {kind}")),
            format_args!("{kind} was not validated"),
        );
    }
    // A mistake is caught (the validator is not a no-op).
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(deploy_dir().join("deployment.yaml")).unwrap();
    let bad = dir.path().join("deployment.yaml");
    std::fs::write(&bad, text.replace("periodSeconds: 5", "periodSecs: 5")).unwrap();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .arg(&bad)
        .run();
    out.check(!out.succeeded(), "a misspelt field passed");
}

/// The drain arithmetic of deployment.yaml matches the configuration:
/// terminationGracePeriodSeconds covers preStop plus shutdown_timeout_secs,
/// and the example configuration loads (exit 1: it stops at the TLS files
/// that exist only in a pod; a bad configuration would exit 2).
#[test]
fn the_kubernetes_example_configuration_loads_and_drains_in_time() {
    let test = "the_kubernetes_example_configuration_loads_and_drains_in_time";
    if !common::require_tool(test, "python3", &["-c", "import yaml"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import json, sys, yaml
docs = {}
for name in ("configmap.yaml", "deployment.yaml"):
    for d in yaml.safe_load_all(open(sys.argv[1] + "/" + name)):
        docs[d["kind"]] = d
pod = docs["Deployment"]["spec"]["template"]["spec"]
c = pod["containers"][0]
print(json.dumps({
    "data": docs["ConfigMap"]["data"],
    "grace": pod["terminationGracePeriodSeconds"],
    "prestop": c["lifecycle"]["preStop"]["exec"]["command"],
    "replicas": docs["Deployment"]["spec"]["replicas"],
    "probes": [c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]],
    "ports": {p["name"]: p["containerPort"] for p in c["ports"]},
}))
"#;
    let out = common::python3_ok(&["-c", script, deploy_dir().to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let toml_text = v["data"]["gitiam.toml"].as_str().unwrap();
    let cfg: toml::Value = toml::from_str(toml_text).unwrap();
    let shutdown = cfg["server"]["shutdown_timeout_secs"].as_integer().unwrap();
    let prestop: i64 = v["prestop"][1].as_str().unwrap().parse().unwrap();
    assert!(v["grace"].as_i64().unwrap() > prestop + shutdown, "{v}");
    assert!(v["replicas"].as_i64().unwrap() >= 2);
    for probe in v["probes"].as_array().unwrap() {
        assert_eq!(probe["path"], "/healthz");
        assert_eq!(probe["port"], "health");
    }
    let health: SocketAddr = cfg["server"]["health_listen"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        i64::from(health.port()),
        v["ports"]["health"].as_i64().unwrap()
    );
    assert_eq!(cfg["server"]["proxy_protocol"].as_str(), Some("required"));

    write(dir.path(), "gitiam.toml", toml_text);
    write(
        dir.path(),
        "policies/developers.json",
        v["data"]["developers.json"].as_str().unwrap(),
    );
    let out = Command::new(common::bin("gitiam"))
        .args(["serve", "--config"])
        .arg(dir.path().join("gitiam.toml"))
        .env("GITIAM_ALICE_SECRET", "example-secret-0123456789abcdef")
        .run();
    out.check(
        out.status.code() == Some(1) && out.stderr.contains("/run/gitiam/tls/tls.crt"),
        "the example configuration did not load (exit 2 is a bad configuration)",
    );
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_git_volumes_and_a_health_check() {
    let test = "the_dockerfile_is_multi_stage_non_root_with_git_volumes_and_a_health_check";
    // No Docker daemon here: the Dockerfile is parsed with BuildKit's own
    // parser (the `dockerfile` package from PyPI) and its shape checked.
    if !common::require_tool(test, "python3", &["-c", "import dockerfile"]) {
        return;
    }
    let script = r#"
import dockerfile, json, sys
print(json.dumps([[c.cmd, list(c.value), list(c.flags)] for c in dockerfile.parse_file(sys.argv[1])]))
"#;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let out = common::python3_ok(&["-c", script, path.to_str().unwrap()]);
    let cmds: Vec<(String, Vec<String>, Vec<String>)> = serde_json::from_slice(&out).unwrap();
    let froms: Vec<usize> = cmds
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    let runtime = &cmds[froms[1]..];
    let has = |cmd: &str, pred: &dyn Fn(&[String]) -> bool| {
        runtime.iter().any(|c| c.0 == cmd && pred(&c.1))
    };
    assert!(has("RUN", &|v| v
        .iter()
        .any(|s| s.contains("install") && s.contains(" git "))));
    assert!(has("COPY", &|v| v
        .iter()
        .any(|s| s.contains("release/gitiam"))));
    assert!(has("USER", &|v| v
        .first()
        .is_some_and(|u| !u.starts_with("root") && !u.starts_with("0"))));
    assert!(has("VOLUME", &|v| v.iter().any(|s| s == "/var/lib/gitiam")
        && v.iter().any(|s| s == "/etc/gitiam")));
    assert!(has("HEALTHCHECK", &|v| v
        .iter()
        .any(|s| s.contains("/healthz"))));
    // The build stage compiles with the lock file.
    assert!(cmds[..froms[1]].iter().any(|c| {
        c.0 == "RUN"
            && c.1
                .iter()
                .any(|s| s.contains("cargo build --release --locked"))
    }));
}

#[test]
fn ssh_behind_haproxy_with_one_host_key_for_the_fleet() {
    let test = "ssh_behind_haproxy_with_one_host_key_for_the_fleet";
    if !tools(test) || !common::require_tool(test, "ssh", &["-V"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let shared = root.join("shared");
    let cert = certificate(&shared);
    // One host key for the fleet, and Alice's key.
    let host = common::ssh::keygen(&shared, "ssh_host_ed25519_key", "ed25519");
    let alice_key = common::ssh::keygen(root, "alice", "ed25519");
    const ALICE_SSH: &str = "APKAFLEETALICE000001";
    let text = config_with(
        "ssh_listen = \"127.0.0.1:0\"\nssh_host_keys = [\"../shared/ssh_host_ed25519_key\"]\n",
        &format!(
            "ssh_keys = [{{ id = \"{ALICE_SSH}\", public_key = \"{}\" }}]",
            alice_key.public
        ),
    );
    for replica in ["a", "b"] {
        write(root, &format!("{replica}/gitiam.toml"), &text);
        policies(&root.join(replica), PULL_PUSH);
    }
    let bare = common::server::bare_repo_with_commit(root, ACCOUNT, "app");
    let a = common::ssh::SshServer::start(&root.join("a"));
    let b = common::ssh::SshServer::start(&root.join("b"));
    let _ = cert;
    let (lb, ssh_port) = Haproxy::start_with_ssh(
        root,
        &[("a", a.https_port), ("b", b.https_port)],
        &[("a", a.port), ("b", b.port)],
    );
    let known_hosts = root.join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{ssh_port} {}\n", host.public),
    )
    .unwrap();
    let ssh_command = format!(
        "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o IdentityAgent=none \
         -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \
         -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=20",
        alice_key.private.display(),
        known_hosts.display()
    );
    let git = |cwd: &Path| {
        let mut cmd = git_cmd(cwd);
        cmd.env("GIT_SSH_COMMAND", &ssh_command)
            .env_remove("GIT_SSH")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        cmd
    };
    let url = format!("ssh://{ALICE_SSH}@127.0.0.1:{ssh_port}/v1/repos/app");
    git(root).args(["clone", "-q", &url, "work"]).ok();
    let work = root.join("work");
    for i in 0..3 {
        std::fs::write(work.join(format!("s{i}")), format!("{i}\n")).unwrap();
        git(&work).args(["add", "."]).ok();
        git(&work).args(["commit", "-q", "-m", "ssh"]).ok();
        git(&work).args(["push", "-q", "origin", "main"]).ok();
    }
    let head = git(&work).args(["rev-parse", "HEAD"]).ok().stdout;
    assert_eq!(common::server::rev(&bare, "main").unwrap(), head.trim());
    // Both replicas served SSH sessions (same host key: StrictHostKeyChecking
    // passed on both), and saw the client, not HAProxy.
    for replica in [&a, &b] {
        let ssh_records: Vec<_> = replica
            .audit()
            .into_iter()
            .filter(|r| r["ssh_key_id"] == ALICE_SSH)
            .collect();
        assert!(!ssh_records.is_empty(), "a replica served no SSH session");
        for r in &ssh_records {
            assert_eq!(r["source_ip"], "127.0.0.1", "{r:#}");
            assert_eq!(r["decision"], "allowed", "{r:#}");
        }
    }
    // Straight to a replica's SSH port, from an untrusted address: closed
    // before the SSH banner.
    let out = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-p", &a.port.to_string(), "x@127.0.0.1", "true"])
        .stdin(Stdio::null())
        .run();
    out.check(!out.succeeded(), "a direct SSH connection was served");
    drop(lb);
}
