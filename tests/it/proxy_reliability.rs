//! Reliability of `gitiam serve` under misbehaving clients and backends:
//! slow request heads (slowloris), a push whose body stalls, the connection
//! limit, graceful shutdown with work in flight, backend failures and
//! configuration reloads under load. The real binary, the real `git` and
//! real TLS; slow or stalled clients are raw TLS connections from the test,
//! or the real `git` behind a TCP relay that throttles or stalls it.
//!
//! Timeouts here are hang guards, never performance checks. Figures (how
//! long things took) are printed with `eprintln!` for docs/RELIABILITY.md;
//! see them with `--nocapture`.

use std::net::TcpStream as StdTcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use rand::RngCore as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::common::server::{
    ACCOUNT, Creds, TestServer, bare_repo_with_commit, client_config, git_ok, rev, write,
};
use crate::common::{self, Run};

const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-0123456789abcdef");

const PULL_PUSH: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "PullAndPush", "Effect": "Allow",
      "Action": ["codecommit:GitPull", "codecommit:GitPush"],
      "Resource": "arn:aws:codecommit:us-east-1:111122223333:*" }
  ]
}"#;

const PUSH_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "PushOnly", "Effect": "Allow", "Action": "codecommit:GitPush",
      "Resource": "arn:aws:codecommit:us-east-1:111122223333:*" }
  ]
}"#;

/// Hang guard for one git command or one awaited event.
const BOUND: Duration = Duration::from_secs(20);

/// `alice` with `policy` and her key in `status`.
fn alice(policy: &str, status: &str) -> String {
    format!(
        r#"[[accounts.users]]
name = "alice"
policies = ["{policy}"]
access_keys = [{{ id = "{}", secret = "{}", status = "{status}" }}]
"#,
        ALICE.0, ALICE.1
    )
}

fn config(server: &str, backend: &str, users: &str) -> String {
    format!(
        r#"[server]
region = "us-east-1"
{server}

[backend]
{backend}

[[accounts]]
id = "{ACCOUNT}"

{users}"#
    )
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    bare: PathBuf,
}

/// A folder with an embedded-backend configuration (`[server]` gets
/// `server`), alice allowed to pull and push, and the repository `demo`.
fn env(server: &str) -> Env {
    env_with_backend(server, r#"repos = "repos""#)
}

fn env_with_backend(server: &str, backend: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write(
        &root,
        "gitiam.toml",
        &config(server, backend, &alice("policies/pull-push.json", "Active")),
    );
    write(&root, "policies/pull-push.json", PULL_PUSH);
    write(&root, "policies/push-only.json", PUSH_ONLY);
    let bare = bare_repo_with_commit(&root, ACCOUNT, "demo");
    Env {
        _tmp: tmp,
        root,
        bare,
    }
}

fn alice_creds() -> Creds {
    Creds::new(ALICE.0, ALICE.1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `cmd` to its end; panics if it is still running after `bound`.
fn run(cmd: &mut Command, bound: Duration) -> Run {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(bound) {
        Ok(out) => Run::of(cmd, out.unwrap()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("hang: {cmd:?} still running after {bound:?}");
        }
    }
}

/// `Authorization: Basic ...` with a CodeCommit password for `repo`.
fn basic_auth(server: &TestServer, repo: &str) -> String {
    let password = server.password(ALICE.1, repo, SystemTime::now());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", ALICE.0))
    )
}

fn info_refs(repo: &str) -> String {
    format!("/v1/repos/{repo}/info/refs?service=git-upload-pack")
}

/// Every ref of a bare repository, for "nothing changed" checks.
fn refs(bare: &Path) -> String {
    git_ok(bare, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// Clones `demo` into `ROOT/NAME` and commits `size` random bytes there;
/// returns the work tree and the new commit.
fn clone_with_big_commit(
    server: &TestServer,
    root: &Path,
    name: &str,
    size: usize,
) -> (PathBuf, String) {
    let out = run(
        server
            .git(root, &alice_creds())
            .args(["clone", "-q", &server.url("demo"), name]),
        BOUND,
    );
    out.check(out.succeeded(), "clone failed");
    let work = root.join(name);
    let mut data = vec![0u8; size];
    rand::rng().fill_bytes(&mut data);
    std::fs::write(work.join("blob.bin"), data).unwrap();
    git_ok(&work, &["add", "blob.bin"]);
    git_ok(&work, &["commit", "-q", "-m", "big"]);
    let head = git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    (work, head)
}

// ---------------------------------------------------------------------------
// Raw TLS clients

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn tls_connect(port: u16, config: &Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
}

/// Reads until the peer closes (EOF or error); returns what was read.
async fn until_closed<R: AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// One `GET path` with `Connection: close` on `stream`; the whole answer.
async fn get_close(mut stream: Tls, path: &str) -> String {
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    String::from_utf8_lossy(&until_closed(stream).await).into_owned()
}

/// `gitiam_connections_open` from `/metrics`.
fn connections_open(server: &TestServer) -> u64 {
    let metrics = server.request("GET", "/metrics", &[]).body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("gitiam_connections_open "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------
// A TCP relay in front of the server that throttles or stalls what the
// client sends (TLS passes through untouched, so the real git can use it).

#[derive(Clone, Copy)]
enum Pace {
    /// Forward at most `chunk` bytes, then wait `every`.
    Throttle { chunk: usize, every: Duration },
    /// Forward this many bytes of a connection, then nothing more (the
    /// connection stays open).
    StallAfter(u64),
}

struct Relay {
    port: u16,
    forwarded: Arc<AtomicU64>,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: u16, pace: Pace) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let forwarded = Arc::new(AtomicU64::new(0));
        let stalled = Arc::new(AtomicBool::new(false));
        let (fwd, stl) = (Arc::clone(&forwarded), Arc::clone(&stalled));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue; // dropping `client` closes it
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let (fwd, stl) = (Arc::clone(&fwd), Arc::clone(&stl));
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut sent = 0u64;
                    loop {
                        let max = match pace {
                            Pace::Throttle { chunk, .. } => chunk.min(buf.len()),
                            Pace::StallAfter(_) => buf.len(),
                        };
                        let n = match cr.read(&mut buf[..max]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n as u64;
                        fwd.fetch_add(n as u64, Ordering::SeqCst);
                        match pace {
                            Pace::Throttle { every, .. } => tokio::time::sleep(every).await,
                            Pace::StallAfter(limit) if sent >= limit => {
                                stl.store(true, Ordering::SeqCst);
                                // Keep both sockets open, send nothing more.
                                std::future::pending::<()>().await;
                            }
                            Pace::StallAfter(_) => {}
                        }
                    }
                    let _ = sw.shutdown().await;
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                });
            }
        });
        Relay {
            port,
            forwarded,
            stalled,
            task,
        }
    }

    fn url(&self, repo: &str) -> String {
        format!("https://127.0.0.1:{}/v1/repos/{repo}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends SIGTERM on another thread; the handle yields the exit status and
/// the time from SIGTERM to exit.
fn terminate_async(
    server: TestServer,
) -> std::thread::JoinHandle<(std::process::ExitStatus, Duration)> {
    std::thread::spawn(move || {
        let t = Instant::now();
        let status = server.terminate();
        (status, t.elapsed())
    })
}

fn join_within<T: Send + 'static>(
    what: &str,
    handle: std::thread::JoinHandle<T>,
    bound: Duration,
) -> T {
    common::wait_for(what, bound, || handle.is_finished());
    handle.join().unwrap()
}

// ---------------------------------------------------------------------------
// Slow request heads

#[test]
fn slow_request_heads_are_closed_after_header_read_timeout() {
    let e = env("header_read_timeout_secs = 3");
    let server = TestServer::start(&e.root);
    let rt = runtime();
    let tls = client_config(&server.cert());
    let port = server.port;

    let (dribble, silent, no_tls) = rt.block_on(async {
        // 1. Sends a header line every 200 ms, never the blank line.
        let mut s = tls_connect(port, &tls).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        let start = Instant::now();
        let (r, mut w) = tokio::io::split(s);
        tokio::spawn(async move {
            for i in 0u64.. {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let line = format!("X-Slow-{i}: 1\r\n");
                if w.write_all(line.as_bytes()).await.is_err() || w.flush().await.is_err() {
                    break;
                }
            }
        });
        let dribble = tokio::spawn(async move {
            until_closed(r).await;
            start.elapsed()
        });
        // 2. Completes the TLS handshake, then sends nothing.
        let s = tls_connect(port, &tls).await.unwrap();
        let start = Instant::now();
        let silent = tokio::spawn(async move {
            until_closed(s).await;
            start.elapsed()
        });
        // 3. Opens TCP and never starts TLS.
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let start = Instant::now();
        let no_tls = tokio::spawn(async move {
            until_closed(s).await;
            start.elapsed()
        });
        (dribble, silent, no_tls)
    });

    // Meanwhile other clients are served.
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("demo")]),
        BOUND,
    );
    out.check(out.succeeded(), "ls-remote failed");
    out.assert_stdout_contains("refs/heads/main");
    assert_eq!(server.request("GET", "/healthz", &[]).status, 200);
    assert!(
        !dribble.is_finished() && !silent.is_finished() && !no_tls.is_finished(),
        "a slow client was closed before the others were served"
    );

    let (dribble, silent, no_tls) = rt.block_on(async {
        let guard = |name: &'static str, h: tokio::task::JoinHandle<Duration>| async move {
            tokio::time::timeout(BOUND, h)
                .await
                .unwrap_or_else(|_| panic!("{name}: slow client still connected"))
                .unwrap()
        };
        (
            guard("dribbling head", dribble).await,
            guard("silent after TLS", silent).await,
            guard("no TLS handshake", no_tls).await,
        )
    });
    eprintln!(
        "FIGURE slowloris (header_read_timeout_secs = 3): dribbling head closed after {dribble:?}, \
         silent after TLS {silent:?}, no TLS handshake {no_tls:?}"
    );
    // Their slots are free again: only the /metrics request itself is open.
    common::wait_for("connections to close", BOUND, || {
        connections_open(&server) == 1
    });
    assert_eq!(server.request("GET", "/healthz", &[]).status, 200);
}

#[test]
fn oversized_request_heads_are_always_431() {
    let e = env("max_header_bytes = 65536");
    let server = TestServer::start(&e.root);
    // Whatever way the bytes arrive (hyper checks its buffer only between
    // reads), a head over the limit is refused.
    for size in [70 * 1024, 100 * 1024] {
        for _ in 0..10 {
            let big = "a".repeat(size);
            let r = server.request("GET", "/healthz", &[("x-padding", big.as_str())]);
            assert_eq!(r.status, 431, "{size} bytes of header: {r:?}");
        }
    }
    let big = "a".repeat(60 * 1024);
    let r = server.request("GET", "/healthz", &[("x-padding", big.as_str())]);
    assert_eq!(r.status, 200, "{r:?}");
}

// ---------------------------------------------------------------------------
// A push whose body stalls

#[test]
fn push_with_a_stalled_body_fails_after_body_idle_timeout() {
    let e = env("body_idle_timeout_secs = 1");
    let server = TestServer::start(&e.root);
    let (work, _head) = clone_with_big_commit(&server, &e.root, "work", 3 << 20);
    let before = refs(&e.bare);

    let rt = runtime();
    let relay = rt.block_on(Relay::start(server.port, Pace::StallAfter(512 * 1024)));
    let start = Instant::now();
    let out = run(
        server
            .git(&work, &alice_creds())
            .args(["push", &relay.url("demo"), "HEAD:refs/heads/big"]),
        BOUND,
    );
    let took = start.elapsed();
    assert!(
        relay.stalled.load(Ordering::SeqCst),
        "the relay never stalled"
    );
    out.check(!out.succeeded(), "stalled push succeeded");
    eprintln!(
        "FIGURE stalled push (body_idle_timeout_secs = 1): git push failed after {took:?}: {}",
        out.stderr.as_str().trim()
    );
    assert_eq!(
        refs(&e.bare),
        before,
        "a stalled push changed the repository"
    );
    assert_eq!(rev(&e.bare, "refs/heads/big"), None);
    // A large push starts with a 4-byte probe request; the push itself is
    // the other record, with what arrived before the stall.
    let record = server.wait_audit(|r| {
        r["method"] == "POST"
            && r["path"] == "/v1/repos/demo/git-receive-pack"
            && r["bytes_in"].as_u64().unwrap() > 4
    });
    eprintln!("stalled push audit record: {record}");
    assert!(record["bytes_in"].as_u64().unwrap() < 3 << 20, "{record}");
    // The backend was stopped, not handed a truncated request as if it were
    // complete: the audit line says why the push failed.
    assert!(
        record["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "stalled push audited without a reason: {record}"
    );
    let git_fsck = git_ok(&e.bare, &["fsck", "--no-progress"]);
    assert!(!git_fsck.contains("error"), "{git_fsck}");

    // The server keeps serving: the same push, not stalled, goes through.
    let out = run(
        server.git(&work, &alice_creds()).args([
            "push",
            &server.url("demo"),
            "HEAD:refs/heads/big",
        ]),
        BOUND,
    );
    out.check(out.succeeded(), "push after the stall failed");
    assert!(rev(&e.bare, "refs/heads/big").is_some());
}

#[test]
fn push_stalled_inside_its_command_section_fails_after_body_idle_timeout() {
    let e = env("body_idle_timeout_secs = 1");
    let server = TestServer::start(&e.root);
    let before = refs(&e.bare);
    let auth = basic_auth(&server, "demo");
    let main = rev(&e.bare, "refs/heads/main").unwrap();
    let rt = runtime();
    let tls = client_config(&server.cert());
    let port = server.port;
    let (answer, took) = rt.block_on(async {
        let mut s = tls_connect(port, &tls).await.unwrap();
        // Half a command line, then silence.
        let command = format!(
            "{main} {} refs/heads/main\0 report-status\n",
            "0".repeat(40)
        );
        let pkt = format!("{:04x}{command}", command.len() + 4);
        let head = format!(
            "POST /v1/repos/demo/git-receive-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Authorization: {auth}\r\nContent-Type: application/x-git-receive-pack-request\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n",
            pkt.len() / 2,
            &pkt[..pkt.len() / 2]
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let start = Instant::now();
        let answer = tokio::time::timeout(BOUND, until_closed(s))
            .await
            .expect("a stalled command section hung the request");
        (
            String::from_utf8_lossy(&answer).into_owned(),
            start.elapsed(),
        )
    });
    eprintln!("FIGURE stalled command section: answered after {took:?}: {answer:?}");
    let status_line = answer.lines().next().unwrap_or_default();
    assert!(
        status_line.starts_with("HTTP/1.1 4"),
        "expected a 4xx answer, got {answer:?}"
    );
    assert_eq!(refs(&e.bare), before);
    assert_eq!(server.request("GET", "/healthz", &[]).status, 200);
}

// ---------------------------------------------------------------------------
// Connection limit

#[test]
fn connections_beyond_max_connections_wait_until_a_slot_frees() {
    let e = env("max_connections = 2\nheader_read_timeout_secs = 10");
    let server = TestServer::start(&e.root);
    let rt = runtime();
    let tls = client_config(&server.cert());
    let port = server.port;

    let waited = rt.block_on(async {
        // Two connections hold both slots (each has sent half a head).
        let mut a = tls_connect(port, &tls).await.unwrap();
        a.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let mut b = tls_connect(port, &tls).await.unwrap();
        b.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();

        // A third one is accepted by the kernel but not served.
        let tls3 = Arc::clone(&tls);
        let third = tokio::spawn(async move {
            let start = Instant::now();
            let s = tls_connect(port, &tls3).await.unwrap();
            let answer = get_close(s, "/healthz").await;
            (start.elapsed(), answer)
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !third.is_finished(),
            "a third connection was served while max_connections = 2 were busy"
        );

        // Freeing a slot lets it in.
        let freed = Instant::now();
        drop(a);
        let (total, answer) = tokio::time::timeout(BOUND, third)
            .await
            .expect("the waiting connection was never served")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");

        // A burst of 20 short requests through the one remaining slot:
        // all served, none refused.
        let mut burst = Vec::new();
        for _ in 0..20 {
            let tls = Arc::clone(&tls);
            burst.push(tokio::spawn(async move {
                let s = tls_connect(port, &tls).await.unwrap();
                get_close(s, "/healthz").await
            }));
        }
        for h in burst {
            let answer = tokio::time::timeout(BOUND, h).await.unwrap().unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        }
        drop(b);
        (total, freed.elapsed())
    });
    eprintln!(
        "FIGURE connection limit (max 2): third connection served {:?} after it connected, \
         {:?} after a slot was freed",
        waited.0, waited.1
    );
    common::wait_for("connections to close", BOUND, || {
        connections_open(&server) == 1
    });
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("demo")]),
        BOUND,
    );
    out.assert_success();
}

// ---------------------------------------------------------------------------
// Graceful shutdown

#[test]
fn sigterm_when_idle_exits_0() {
    let e = env("shutdown_timeout_secs = 10");
    let server = TestServer::start(&e.root);
    assert_eq!(server.request("GET", "/healthz", &[]).status, 200);
    let (status, took) = join_within("exit", terminate_async(server), BOUND);
    assert_eq!(status.code(), Some(0), "{status}");
    eprintln!("FIGURE SIGTERM with nothing in flight: exit 0 after {took:?}");
}

#[test]
fn sigterm_lets_a_push_in_flight_finish_and_refuses_new_connections() {
    let e = env("shutdown_timeout_secs = 20");
    let server = TestServer::start(&e.root);
    let (work, head) = clone_with_big_commit(&server, &e.root, "work", 4 << 20);
    let rt = runtime();
    // About 1.3 MB/s: a 4 MiB push takes about 3 s.
    let relay = rt.block_on(Relay::start(
        server.port,
        Pace::Throttle {
            chunk: 64 * 1024,
            every: Duration::from_millis(50),
        },
    ));
    let mut push = server.git(&work, &alice_creds());
    push.args(["push", &relay.url("demo"), "HEAD:refs/heads/slow"]);
    let push = std::thread::spawn(move || run(&mut push, BOUND));
    common::wait_for("the push to be under way", BOUND, || {
        relay.forwarded.load(Ordering::SeqCst) > 700 * 1024
    });

    let port = server.port;
    let log = e.root.join("server.log");
    let term = terminate_async(server);
    // New connections are refused once the server has seen SIGTERM...
    common::wait_for("new connections to be refused", BOUND, || {
        StdTcpStream::connect(("127.0.0.1", port)).is_err()
    });
    // ...while the push is still going.
    assert!(
        !push.is_finished(),
        "the push ended before new connections were refused; slow it down"
    );
    let out = join_within("the push", push, BOUND);
    out.check(out.succeeded(), "push in flight failed");
    assert_eq!(
        rev(&e.bare, "refs/heads/slow").as_deref(),
        Some(head.as_str())
    );
    let (status, took) = join_within("exit", term, BOUND);
    assert_eq!(status.code(), Some(0), "{status}");
    eprintln!(
        "FIGURE SIGTERM during a throttled 4 MiB push: push completed, exit 0 after {took:?}"
    );
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("all connections closed"), "{log}");
}

#[test]
fn sigterm_with_a_stalled_request_exits_after_shutdown_timeout() {
    let e = env("shutdown_timeout_secs = 2\nbody_idle_timeout_secs = 60");
    let server = TestServer::start(&e.root);
    let (work, _head) = clone_with_big_commit(&server, &e.root, "work", 3 << 20);
    let before = refs(&e.bare);
    let rt = runtime();
    let relay = rt.block_on(Relay::start(server.port, Pace::StallAfter(512 * 1024)));
    let mut push = server.git(&work, &alice_creds());
    push.args(["push", &relay.url("demo"), "HEAD:refs/heads/stalled"]);
    let push = std::thread::spawn(move || run(&mut push, BOUND));
    common::wait_for("the push to stall", BOUND, || {
        relay.stalled.load(Ordering::SeqCst)
    });

    let log = e.root.join("server.log");
    let (status, took) = join_within("exit", terminate_async(server), BOUND);
    assert_eq!(status.code(), Some(0), "{status}");
    eprintln!(
        "FIGURE SIGTERM with a stalled push (shutdown_timeout_secs = 2): exit 0 after {took:?}"
    );
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("shutdown timeout"), "{log}");
    let out = join_within("the stalled push", push, BOUND);
    out.assert_failure();
    assert_eq!(refs(&e.bare), before);
}

// ---------------------------------------------------------------------------
// Backend failures

#[test]
fn missing_repository_is_404() {
    let e = env("");
    let server = TestServer::start(&e.root);
    let r = server.request(
        "GET",
        &info_refs("nosuch"),
        &[("authorization", &basic_auth(&server, "nosuch"))],
    );
    assert_eq!(r.status, 404, "{r:?}");
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("nosuch")]),
        BOUND,
    );
    let out = out.assert_failure();
    out.assert_stderr_contains("not found");
}

#[test]
fn failing_git_http_backend_is_502_with_a_message() {
    let e = env("");
    // A repository git cannot open: `git http-backend` fails on it.
    let broken = bare_repo_with_commit(&e.root, ACCOUNT, "broken");
    std::fs::write(broken.join("config"), "[core\n").unwrap();
    let server = TestServer::start(&e.root);
    let r = server.request(
        "GET",
        &info_refs("broken"),
        &[("authorization", &basic_auth(&server, "broken"))],
    );
    assert_eq!(r.status, 502, "{r:?}");
    assert!(r.body.starts_with("gitiam: "), "{r:?}");
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("broken")]),
        BOUND,
    );
    let out = out.assert_failure();
    out.assert_stderr_contains("502");
    let record =
        server.wait_audit(|r| r["path"] == "/v1/repos/broken/info/refs" && r["status"] == 502);
    assert!(record["reason"].is_string(), "{record}");

    // A repository whose objects are gone: upload-pack dies mid-answer.
    let gutted = bare_repo_with_commit(&e.root, ACCOUNT, "gutted");
    for entry in std::fs::read_dir(gutted.join("objects")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.len() == 2 || name == "pack" {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    let out = run(
        server.git(&e.root, &alice_creds()).args([
            "clone",
            "-q",
            &server.url("gutted"),
            "gutted-clone",
        ]),
        BOUND,
    );
    let out = out.assert_failure();
    eprintln!(
        "clone of a gutted repository: {}",
        out.stderr.as_str().trim()
    );

    // The server keeps serving.
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("demo")]),
        BOUND,
    );
    out.assert_success();
}

fn upstream_env(upstream_port: u16) -> Env {
    env_with_backend(
        "",
        &format!(
            "upstream = \"http://127.0.0.1:{upstream_port}/{{account}}/{{repo}}.git\"\n\
             response_timeout_secs = 1"
        ),
    )
}

#[test]
fn upstream_not_listening_is_502() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = upstream_env(port);
    let server = TestServer::start(&e.root);
    let start = Instant::now();
    let r = server.request(
        "GET",
        &info_refs("demo"),
        &[("authorization", &basic_auth(&server, "demo"))],
    );
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(r.body, "gitiam: the upstream Git server is unreachable\n");
    eprintln!(
        "FIGURE upstream not listening: 502 after {:?}",
        start.elapsed()
    );
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("demo")]),
        BOUND,
    );
    let out = out.assert_failure();
    out.assert_stderr_contains("502");
}

#[test]
fn upstream_that_never_answers_is_504() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and never answers (holds them open).
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let e = upstream_env(port);
    let server = TestServer::start(&e.root);
    let start = Instant::now();
    let r = server.request(
        "GET",
        &info_refs("demo"),
        &[("authorization", &basic_auth(&server, "demo"))],
    );
    let took = start.elapsed();
    assert_eq!(r.status, 504, "{r:?}");
    assert_eq!(r.body, "gitiam: the Git backend did not answer in time\n");
    eprintln!("FIGURE silent upstream (response_timeout_secs = 1): 504 after {took:?}");
    let out = run(
        server
            .git(&e.root, &alice_creds())
            .args(["ls-remote", &server.url("demo")]),
        BOUND,
    );
    let out = out.assert_failure();
    out.assert_stderr_contains("504");
    assert_eq!(server.request("GET", "/healthz", &[]).status, 200);
}

// ---------------------------------------------------------------------------
// Reload under load

#[test]
fn reload_under_load_never_fails_uncleanly() {
    // The loops fail authentication on purpose, hundreds of times, while the
    // key is inactive: throttling their source is not what is tested here.
    let no_throttle = "auth_failures_per_minute = 0";
    let e = env(no_throttle);
    let server = TestServer::start(&e.root);
    let good_allow = config(
        no_throttle,
        r#"repos = "repos""#,
        &alice("policies/pull-push.json", "Active"),
    );
    let good_deny = config(
        no_throttle,
        r#"repos = "repos""#,
        &alice("policies/push-only.json", "Active"),
    );
    let good_inactive = config(
        no_throttle,
        r#"repos = "repos""#,
        &alice("policies/pull-push.json", "Inactive"),
    );
    let broken_syntax = good_allow.replace("[[accounts.users]]", "[[accounts.users]");
    let broken_key = good_allow.replace("policies = [", "polices = [");
    let broken_policy = good_allow.replace("pull-push.json", "missing.json");
    let versions = [
        &good_allow,
        &broken_syntax,
        &good_deny,
        &broken_key,
        &good_inactive,
        &broken_policy,
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..2 {
        let stop = Arc::clone(&stop);
        let mut cmd = server.git(&e.root, &alice_creds());
        cmd.args(["ls-remote", &server.url("demo")]);
        loops.push(std::thread::spawn(move || {
            let (mut ok, mut e401, mut e403) = (0u32, 0u32, 0u32);
            let mut unclean = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let out = run(&mut cmd, BOUND);
                let err = out.stderr.as_str();
                // ls-remote is two requests (protocol v2: GET info/refs,
                // then POST git-upload-pack); a reload between them fails
                // the second one, as cleanly.
                if out.status.success() {
                    out.assert_stdout_contains("refs/heads/main");
                    ok += 1;
                } else if err.contains("The requested URL returned error: 403") {
                    e403 += 1;
                } else if err.contains("Authentication failed")
                    || err.contains("The requested URL returned error: 401")
                {
                    e401 += 1;
                } else {
                    unclean.push(format!("at {:?}: {}", SystemTime::now(), out));
                }
            }
            (ok, e401, e403, unclean)
        }));
    }
    let config_path = e.root.join("gitiam.toml");
    let rewrites = 40;
    for i in 0..rewrites {
        std::fs::write(&config_path, versions[i % versions.len()]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut e401, mut e403) = (0, 0, 0);
    for l in loops {
        let (a, b, c, unclean) = join_within("an ls-remote loop", l, BOUND);
        ok += a;
        e401 += b;
        e403 += c;
        assert!(
            unclean.is_empty(),
            "ls-remote failed uncleanly: {unclean:#?}\naudit: {:#?}\nlog: {}",
            server.audit(),
            server.log()
        );
    }

    // The last good configuration keeps serving after a broken edit.
    std::fs::write(&config_path, &good_allow).unwrap();
    let mut ls = server.git(&e.root, &alice_creds());
    ls.args(["ls-remote", &server.url("demo")]);
    common::wait_for("the allowing configuration", BOUND, || {
        run(&mut ls, BOUND).status.success()
    });
    std::fs::write(&config_path, &broken_syntax).unwrap();
    common::wait_for("the broken edit to be refused", BOUND, || {
        server.log().matches("configuration reload failed").count() > 0
    });
    std::thread::sleep(Duration::from_millis(1200));
    let out = run(&mut ls, BOUND);
    out.check(out.succeeded(), "last good configuration lost");

    let audit: Vec<_> = server
        .audit()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/v1/repos/demo/"))
        .collect();
    let count = |s: u64| audit.iter().filter(|r| r["status"] == s).count();
    let (a200, a401, a403) = (count(200), count(401), count(403));
    assert_eq!(
        a200 + a401 + a403,
        audit.len(),
        "statuses other than 200/401/403: {audit:#?}"
    );
    assert!(
        ok > 0 && e403 > 0 && e401 > 0,
        "ok {ok} 401 {e401} 403 {e403}"
    );
    let metrics = server.request("GET", "/metrics", &[]).body;
    let reloads = |result: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "gitiam_config_reloads_total{{result=\"{result}\"}} "
                ))
            })
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (reload_ok, reload_err) = (reloads("ok"), reloads("error"));
    assert!(reload_ok > 0 && reload_err > 0, "{metrics}");
    eprintln!(
        "FIGURE reload under load: {rewrites} rewrites ({reload_ok} reloads applied, {reload_err} refused); \
         {} ls-remote: {ok} ok, {e401} 401, {e403} 403; audit: {} Git requests, \
         {a200} x 200, {a401} x 401, {a403} x 403, 0 other",
        ok + e401 + e403,
        audit.len()
    );
}
