//! Throttling of failed authentications per source address, against the
//! real `gitiam serve`: the real `git` over TLS and the AWS CLI fail from
//! 127.0.0.1 until the source is refused (`429` with `Retry-After`; STS:
//! `Throttling`), while 127.0.0.2 (also loopback on Linux; git cannot choose
//! its source address, so a small hyper client bound to it speaks for that
//! source) is served as usual; once the short block is over, 127.0.0.1 is
//! served again.

use crate::common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;

use crate::common::server::{
    ACCOUNT, HttpResponse, REGION, TestServer, bare_repo_with_commit, write,
};
use crate::common::{CommandExt as _, Run};

const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-0123456789abcdef");
const WRONG_SECRET: &str = "not-alices-secret-0123456789abcd";
/// The source that fails (every client's default on loopback).
const FAILING: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// Another source, on the same machine.
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// `auth_block_secs` of the Git test.
const BLOCK_SECS: u64 = 8;

const PULL: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Pull","Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#;

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    server: TestServer,
}

/// A server allowing `burst` failures in a row (then about none: one a
/// minute), blocking for `block_secs`.
fn setup(burst: u32, block_secs: u64) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    write(
        &root,
        "gitiam.toml",
        &format!(
            r#"[server]
region = "{REGION}"
auth_failures_per_minute = 1
auth_failure_burst = {burst}
auth_block_secs = {block_secs}

[backend]
repos = "repos"

[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "alice"
policies = ["policies/pull.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]
"#,
            ALICE.0, ALICE.1
        ),
    );
    write(&root, "policies/pull.json", PULL);
    bare_repo_with_commit(&root, ACCOUNT, "demo");
    let server = TestServer::start(&root);
    Setup {
        _tmp: tmp,
        root,
        server,
    }
}

/// The ref advertisement of `demo` from `source`, signed with `secret`.
fn advertisement(s: &Setup, source: IpAddr, secret: &str) -> HttpResponse {
    let password = s.server.password(secret, "demo", SystemTime::now());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", ALICE.0));
    s.server.request_from(
        source,
        "GET",
        "/v1/repos/demo/info/refs?service=git-upload-pack",
        &[("authorization", &format!("Basic {basic}"))],
        "",
    )
}

fn clone(s: &Setup, secret: &str, into: &str) -> Run {
    s.server
        .git_fixed(
            &s.root,
            ALICE.0,
            &s.server.password(secret, "demo", SystemTime::now()),
        )
        .args(["clone", "-q", &s.server.url("demo"), into])
        .run()
        .context("server log", s.server.log())
}

/// Whether this machine has 127.0.0.2 (Linux: all of 127/8 is loopback);
/// outside CI a missing one skips the test.
fn other_source_available(test: &str) -> bool {
    let ok = std::net::TcpListener::bind(SocketAddr::new(OTHER, 0)).is_ok();
    if !ok {
        assert!(
            !common::in_ci(),
            "{test}: 127.0.0.2 is not usable under CI=true"
        );
        common::skip(test, "127.0.0.2 is not a local address on this machine");
    }
    ok
}

fn retry_after(r: &HttpResponse) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {r:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn metric(server: &TestServer, name: &str) -> u64 {
    let text = server.request("GET", "/metrics", &[]).body;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn git_failures_block_their_source_only_and_the_block_expires() {
    if !other_source_available("git_failures_block_their_source_only_and_the_block_expires") {
        return;
    }
    // The block is long enough for the checks made while it lasts (a few
    // requests and one clone), however loaded the machine.
    let s = setup(3, BLOCK_SECS);
    // Three wrong passwords: refused as usual (git's first, credential-less
    // request of each run is not a failure).
    for i in 0..3 {
        clone(&s, WRONG_SECRET, &format!("bad{i}"))
            .assert_failure()
            .assert_stderr_contains("Authentication failed");
    }
    let ok = advertisement(&s, FAILING, ALICE.1);
    assert_eq!(ok.status, 200, "still under the burst: {ok:?}");
    // The fourth goes over the rate: this source is now refused.
    clone(&s, WRONG_SECRET, "bad3")
        .assert_failure()
        .assert_stderr_contains("Authentication failed");
    let refused = advertisement(&s, FAILING, ALICE.1);
    let block_end = Instant::now();
    assert_eq!(refused.status, 429, "{refused:?}");
    let wait = retry_after(&refused);
    assert!((1..=BLOCK_SECS).contains(&wait), "Retry-After {wait}");
    let block_end = block_end + Duration::from_secs(wait);
    assert!(
        refused.body.contains("too many failed authentications"),
        "{refused:?}"
    );
    assert_eq!(metric(&s.server, "gitiam_auth_sources_blocked"), 1);
    // Good credentials do not help: the source is refused before they are
    // looked at. git says 429.
    clone(&s, ALICE.1, "refused")
        .assert_failure()
        .assert_stderr_contains("429");
    assert!(
        Instant::now() < block_end,
        "the checks above took the whole block"
    );

    // Another source is served, and its own failures are its own.
    let other = advertisement(&s, OTHER, ALICE.1);
    assert_eq!(other.status, 200, "{other:?}");
    assert!(other.body.contains("refs/heads/main"), "{other:?}");
    let other_bad = advertisement(&s, OTHER, WRONG_SECRET);
    assert_eq!(other_bad.status, 401, "{other_bad:?}");

    let throttled = s.server.wait_audit(|r| r["status"] == 429);
    assert_eq!(throttled["source_ip"], "127.0.0.1");
    assert_eq!(throttled["decision"], "throttled");
    let reason = throttled["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("throttled: too many failed authentications from 127.0.0.1"),
        "{reason}"
    );
    let blocking = s.server.wait_audit(|r| {
        r["reason"].as_str().is_some_and(|r| {
            r.ends_with(&format!(
                "source 127.0.0.1 blocked for {BLOCK_SECS} seconds"
            ))
        })
    });
    assert_eq!(blocking["status"], 401);
    assert!(
        s.server
            .log()
            .contains("refusing requests from a source blocked after failed authentications"),
        "{}",
        s.server.log()
    );
    assert!(metric(&s.server, "gitiam_auth_throttled_total") >= 2);
    assert_eq!(metric(&s.server, "gitiam_auth_blocks_total"), 1);
    assert_eq!(metric(&s.server, "gitiam_auth_failures_total"), 5);

    // After the block, the source is served again.
    std::thread::sleep(
        block_end.saturating_duration_since(Instant::now()) + Duration::from_millis(200),
    );
    clone(&s, ALICE.1, "after").assert_success();
    assert_eq!(metric(&s.server, "gitiam_auth_sources_blocked"), 0);
}

/// `aws sts get-caller-identity` with `secret`, from 127.0.0.1.
fn caller_identity(server: &TestServer, home: &Path, secret: &str) -> Run {
    let mut cmd = Command::new("aws");
    cmd.args(["sts", "get-caller-identity"])
        .args(["--endpoint-url", &server.endpoint(), "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CA_BUNDLE", server.cert())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Throttling is retried by the SDKs; one attempt shows it here.
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "")
        .env("AWS_ACCESS_KEY_ID", ALICE.0)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    for var in ["PYENV_ROOT", "PYENV_VERSION", "LANG", "LC_ALL"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.run().context("server log", server.log())
}

#[test]
fn sts_failures_get_awss_throttling_error() {
    let test = "sts_failures_get_awss_throttling_error";
    if !common::require_tool(test, "aws", &["--version"]) || !other_source_available(test) {
        return;
    }
    let s = setup(2, 300);
    let home = s.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    for _ in 0..3 {
        caller_identity(&s.server, &home, WRONG_SECRET)
            .assert_failure()
            .assert_stderr_contains("An error occurred (SignatureDoesNotMatch)");
    }
    let out = caller_identity(&s.server, &home, WRONG_SECRET).assert_failure();
    out.assert_stderr_contains("An error occurred (Throttling)");
    out.assert_stderr_contains("Rate exceeded");
    // The source is refused, whatever the key: the right secret too.
    caller_identity(&s.server, &home, ALICE.1)
        .assert_failure()
        .assert_stderr_contains("An error occurred (Throttling)");

    // AWS's shape: 400, plus a Retry-After.
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    let content_type = [("content-type", "application/x-www-form-urlencoded")];
    let r = s
        .server
        .request_from(FAILING, "POST", "/", &content_type, form);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("<Code>Throttling</Code>"), "{r:?}");
    assert!((1..=300).contains(&retry_after(&r)), "{r:?}");
    // Another source is not throttled (unsigned, so refused as usual).
    let r = s
        .server
        .request_from(OTHER, "POST", "/", &content_type, form);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{r:?}"
    );

    let throttled = s.server.wait_audit(|r| {
        r["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("Throttling: too many failed authentications"))
    });
    assert_eq!(throttled["status"], 400);
    assert_eq!(throttled["decision"], "throttled");
    assert_eq!(throttled["source_ip"], "127.0.0.1");
    assert_eq!(metric(&s.server, "gitiam_auth_failures_total"), 3);
}
