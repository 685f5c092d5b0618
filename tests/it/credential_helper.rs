//! Runs the real `git-credential-gitiam` binary through stdin/stdout, as git
//! does, with a clean environment (temporary HOME, cache and AWS files).

use crate::common::{self, CommandExt as _, Run};

use gitiam::shared::sigv4::codecommit;
use gitiam::shared::sigv4::{SigningKeyCache, format_amz_date};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AKID: &str = "AKIAEXAMPLEHELPER01";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
}

/// The `key=value` lines of the helper's answer.
pub(crate) trait Fields {
    fn fields(&self) -> HashMap<String, String>;
}

impl Fields for Run {
    fn fields(&self) -> HashMap<String, String> {
        self.stdout
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('=').expect("key=value");
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home/.aws")).unwrap();
        Self { dir }
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache/gitiam")
    }

    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.home().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub(crate) fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let mut cmd = Command::new(common::bin("git-credential-gitiam"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.run_stdin(stdin.as_bytes());
        out.check(
            std::str::from_utf8(&out.stdout_bytes).is_ok(),
            "stdout is not UTF-8",
        );
        out
    }
}

const ENV_CREDS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", AKID),
    ("AWS_SECRET_ACCESS_KEY", SECRET),
];

pub(crate) fn request(host: &str, path: &str) -> String {
    format!("protocol=https\nhost={host}\npath={path}\n\n")
}

/// Checks that `password` is the signature the library computes for the
/// timestamp it carries, and that the server-side verifier accepts it.
pub(crate) fn assert_valid(password: &str, secret: &str, region: &str, host: &str, path: &str) {
    let parsed = codecommit::parse_password(password).unwrap();
    assert_eq!(
        codecommit::password(secret, region, host, path, parsed.timestamp),
        password
    );
    let now = SystemTime::now();
    let _proof = codecommit::verify(
        &SigningKeyCache::default(),
        secret,
        region,
        host,
        path,
        password,
        now,
        codecommit::DEFAULT_MAX_SKEW,
    )
    .expect("verifies");
}

fn no_secrets(out: &Run, extra: &[&str]) {
    for s in [SECRET].iter().chain(extra) {
        out.check(!out.stderr.contains(s), "stderr leaks a secret");
    }
}

#[test]
fn get_with_environment_credentials() {
    let sb = Sandbox::new();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = sb.run(
        &["get"],
        ENV_CREDS,
        &request("git-codecommit.eu-west-1.amazonaws.com", "v1/repos/demo"),
    );
    let out = out.assert_success();
    out.check(out.stderr.is_empty(), "expected no stderr");
    let f = out.fields();
    assert_eq!(f["username"], AKID);
    assert_valid(
        &f["password"],
        SECRET,
        "eu-west-1",
        "git-codecommit.eu-west-1.amazonaws.com",
        "/v1/repos/demo",
    );
    let expiry: u64 = f["password_expiry_utc"].parse().unwrap();
    assert!(
        expiry >= before + 540 && expiry <= before + 700,
        "expiry {expiry} vs now {before}"
    );
    out.check(
        out.stdout.lines().count() == 3,
        "expected 3 lines on stdout",
    );
}

#[test]
fn session_token_goes_into_the_username_and_port_is_not_signed() {
    let sb = Sandbox::new();
    let env = [
        ENV_CREDS,
        &[
            ("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLE/token+value=="),
            ("AWS_REGION", "us-west-2"),
        ],
    ]
    .concat();
    let out = sb.run(
        &["get"],
        &env,
        &request("git.example.com:8443", "v1/repos/team-repo"),
    );
    let out = out.assert_success();
    let f = out.fields();
    assert_eq!(
        f["username"],
        format!("{AKID}%FwoGZXIvYXdzEXAMPLE/token+value==")
    );
    assert_valid(
        &f["password"],
        SECRET,
        "us-west-2",
        "git.example.com",
        "/v1/repos/team-repo",
    );
}

#[test]
fn protocol_edge_cases() {
    let sb = Sandbox::new();
    let env = [ENV_CREDS, &[("AWS_REGION", "us-east-1")]].concat();
    // Attributes the helper does not use, CRLF line ends, EOF without a
    // blank line.
    let input = "capability[]=authtype\r\ncapability[]=state\r\nprotocol=https\r\nhost=localhost:9443\r\nwwwauth[]=Basic realm=\"gitiam\"\r\nurl=https://localhost:9443/v1/repos/x\r\nstate[]=a=b\r\npath=v1/repos/x";
    let out = sb.run(&["get"], &env, input);
    let out = out.assert_success();
    assert_valid(
        &out.fields()["password"],
        SECRET,
        "us-east-1",
        "localhost",
        "/v1/repos/x",
    );

    // Malformed line: one-line error, nothing on stdout.
    let out = sb.run(
        &["get"],
        &env,
        "protocol=https\nthis is not an attribute\n\n",
    );
    let out = out.assert_failure();
    out.check(out.stdout.is_empty(), "expected no stdout");
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
    out.assert_stderr_contains("line 2");

    // Questions about other protocols (a certificate passphrase) are left
    // to other helpers.
    let out = sb.run(&["get"], &env, "protocol=cert\npath=/home/u/cert.p12\n\n");
    let out = out.assert_success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

    // store and unknown operations are silent no-ops; erase without cache too.
    for op in ["store", "erase", "frobnicate"] {
        let out = sb.run(
            &[op],
            &env,
            &format!("{}username=u\npassword=p\n\n", request("h", "p").trim_end()),
        );
        out.check(
            out.succeeded(),
            format_args!("{op}: expected exit status 0"),
        );
        out.check(
            out.stdout.is_empty(),
            format_args!("{op}: expected no stdout"),
        );
        out.check(
            out.stderr.is_empty(),
            format_args!("{op}: expected no stderr"),
        );
    }
}

#[test]
fn missing_path_says_how_to_fix_it() {
    let sb = Sandbox::new();
    let out = sb.run(
        &["get"],
        ENV_CREDS,
        "protocol=https\nhost=git-codecommit.us-east-1.amazonaws.com\n\n",
    );
    let out = out.assert_failure();
    out.check(out.stdout.is_empty(), "expected no stdout");
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
    out.assert_stderr_contains("set credential.useHttpPath true");

    let out = sb.run(&["get"], ENV_CREDS, "protocol=https\npath=v1/repos/x\n\n");
    let out = out.assert_failure();
    out.assert_stderr_contains("host");
}

#[test]
fn no_credentials_unknown_profile_no_region() {
    let sb = Sandbox::new();
    let out = sb.run(
        &["get"],
        &[],
        &request("git-codecommit.us-east-1.amazonaws.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
    out.check(
        out.stderr.contains("no AWS credentials found") && out.stderr.contains("AWS_ACCESS_KEY_ID"),
        "unexpected output",
    );

    sb.write(
        ".aws/credentials",
        "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = devsecret\n",
    );
    let out = sb.run(
        &["--profile", "nope", "get"],
        &[],
        &request("git-codecommit.us-east-1.amazonaws.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.check(
        out.stderr.contains("profile `nope` not found")
            && out.stderr.contains("known profiles: dev"),
        "unexpected output",
    );
    // With a host that names no region (a gitiam server), the missing
    // profile is still what is reported, not the region.
    let out = sb.run(
        &["--profile", "nope", "get"],
        &[],
        &request("git.example.com:8443", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.check(
        out.stderr
            .starts_with("git-credential-gitiam: profile `nope` not found")
            && out.stderr.contains("known profiles: dev")
            && !out.stderr.contains("region"),
        "expected the unknown profile, not the region",
    );
    let out = sb.run(
        &["get"],
        &[("AWS_PROFILE", "nope2")],
        &request("git-codecommit.us-east-1.amazonaws.com", "v1/repos/x"),
    );
    out.assert_stderr_contains("profile `nope2` not found");

    let out = sb.run(
        &["--profile", "dev", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.check(
        out.stderr.contains("no region for host git.example.com")
            && out.stderr.contains("--region"),
        "unexpected output",
    );

    let out = sb.run(
        &["get"],
        &[("AWS_ACCESS_KEY_ID", AKID)],
        &request("git-codecommit.us-east-1.amazonaws.com", "v1/repos/x"),
    );
    out.assert_stderr_contains("AWS_SECRET_ACCESS_KEY is not");
}

#[test]
fn shared_files_profiles_and_region() {
    let sb = Sandbox::new();
    sb.write(".aws/credentials", "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = defaultsecret\n[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = devsecret\n");
    sb.write(
        ".aws/config",
        "[default]\nregion = eu-north-1\n[profile dev]\nregion = ap-southeast-2\n",
    );
    // (args, env, host, key id and secret used, region signed for): the
    // default profile; --profile over the environment's keys; --region
    // over the profile's region; a CodeCommit host name over both.
    let dev_region = ["--profile", "dev", "--region", "sa-east-1", "get"];
    /// Arguments, environment, host, key id and secret used, region.
    type Case<'a> = (
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
        &'a str,
        (&'a str, &'a str),
        &'a str,
    );
    let cases: [Case; 4] = [
        (
            &["get"],
            &[],
            "git.example.com",
            ("AKIADEFAULT", "defaultsecret"),
            "eu-north-1",
        ),
        (
            &["--profile", "dev", "get"],
            ENV_CREDS,
            "git.example.com",
            ("AKIADEV", "devsecret"),
            "ap-southeast-2",
        ),
        (
            &dev_region,
            &[],
            "git.example.com",
            ("AKIADEV", "devsecret"),
            "sa-east-1",
        ),
        (
            &dev_region,
            &[],
            "git-codecommit.us-east-2.amazonaws.com",
            ("AKIADEV", "devsecret"),
            "us-east-2",
        ),
    ];
    for (args, env, host, (akid, secret), region) in cases {
        let out = sb
            .run(args, env, &request(host, "v1/repos/x"))
            .assert_success();
        assert_eq!(out.fields()["username"], akid, "{args:?}");
        assert_valid(
            &out.fields()["password"],
            secret,
            region,
            host,
            "/v1/repos/x",
        );
    }

    // AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE elsewhere.
    let other = sb.write(
        "elsewhere/creds",
        "[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = cisecret\n",
    );
    let cfg = sb.write("elsewhere/cfg", "[profile ci]\nregion = us-west-1\n");
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", other.to_str().unwrap()),
        ("AWS_CONFIG_FILE", cfg.to_str().unwrap()),
        ("AWS_PROFILE", "ci"),
    ];
    let out = sb.run(&["get"], &env, &request("git.example.com", "v1/repos/x"));
    let out = out.assert_success();
    assert_valid(
        &out.fields()["password"],
        "cisecret",
        "us-west-1",
        "git.example.com",
        "/v1/repos/x",
    );

    // A syntax error names file and line.
    sb.write(".aws/config", "[default]\nregion\n");
    let out = sb.run(&["get"], &[], &request("git.example.com", "v1/repos/x"));
    let out = out.assert_failure();
    out.assert_stderr_contains(".aws/config:2:");
}

#[test]
fn credential_process_profile() {
    let sb = Sandbox::new();
    let script = sb.write(
        "bin/creds.sh",
        "#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"procsecret\", \"SessionToken\": \"proctoken\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    sb.write(".aws/config", &format!("[profile proc]\nregion = us-east-1\ncredential_process = \"{}\" --flag\n[profile broken]\nregion = us-east-1\ncredential_process = /bin/false\n", script.display()));
    let out = sb.run(
        &["--profile", "proc", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_success();
    assert_eq!(out.fields()["username"], "ASIAPROCESS%proctoken");
    assert_valid(
        &out.fields()["password"],
        "procsecret",
        "us-east-1",
        "git.example.com",
        "/v1/repos/x",
    );
    let out = sb.run(
        &["--profile", "broken", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.assert_stderr_contains("credential_process of profile `broken` failed");
}

#[test]
fn debug_log_shows_canonical_request_but_no_secrets() {
    let sb = Sandbox::new();
    let env = [
        ENV_CREDS,
        &[
            ("GITIAM_LOG", "debug"),
            ("AWS_SESSION_TOKEN", "TOKENVALUE123"),
        ],
    ]
    .concat();
    let out = sb.run(
        &["get"],
        &env,
        &request(
            "git-codecommit.us-east-1.amazonaws.com:443",
            "v1/repos/demo",
        ),
    );
    let out = out.assert_success();
    out.assert_stderr_contains(
        "GIT\n/v1/repos/demo\n\nhost:git-codecommit.us-east-1.amazonaws.com\n\nhost\n",
    );
    out.assert_stderr_contains("AWS4-HMAC-SHA256\n");
    let password = out.fields()["password"].clone();
    no_secrets(&out, &[&password[16..], "TOKENVALUE123"]);
}

#[test]
fn help_describes_every_flag() {
    let out = Command::new(common::bin("git-credential-gitiam"))
        .arg("--help")
        .ok();
    let help = String::from_utf8(out.stdout_bytes).unwrap();
    for needle in [
        "--profile",
        "--region",
        "OPERATION",
        "get",
        "erase",
        "useHttpPath",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}

/// A minimal STS endpoint on 127.0.0.1 for the client side: it checks the
/// request's SigV4 signature with gitiam's own verifier and answers with
/// the given status and XML. It counts requests.
struct TinySts {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn tiny_sts(status: u16, body: String, secret: Option<&'static str>) -> TinySts {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = http::HeaderMap::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.append(
                    http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes()).unwrap(),
                    v.trim().parse().unwrap(),
                );
            }
            let len: usize = headers
                .get("content-length")
                .map(|v| v.to_str().unwrap().parse().unwrap())
                .unwrap_or(0);
            let mut body_in = vec![0; len];
            reader.read_exact(&mut body_in).unwrap();
            let verified = match secret {
                Some(secret) => gitiam::shared::sigv4::request::parse_authorization(&headers)
                    .and_then(|auth| {
                        let req = gitiam::shared::sigv4::request::SignedRequest {
                            method: "POST",
                            path: "/",
                            query: "",
                            headers: &headers,
                            body: &body_in,
                        };
                        let scope = gitiam::shared::sigv4::request::ExpectedScope {
                            region: "us-east-1",
                            service: "sts",
                        };
                        gitiam::shared::sigv4::request::verify(
                            &auth,
                            &req,
                            secret,
                            scope,
                            SystemTime::now(),
                            Duration::from_secs(900),
                            &SigningKeyCache::default(),
                        )
                        .map(|_| ())
                    }),
                // AssumeRoleWithWebIdentity is unsigned; it carries the token.
                None => {
                    let form: HashMap<String, String> =
                        form_urlencoded::parse(&body_in).into_owned().collect();
                    if !headers.contains_key("authorization")
                        && form.get("Action").map(String::as_str)
                            == Some("AssumeRoleWithWebIdentity")
                        && form.get("WebIdentityToken").map(String::as_str)
                            == Some("header.payload.signature")
                        && form.get("RoleArn").is_some_and(|r| r.ends_with(":role/ci"))
                    {
                        Ok(())
                    } else {
                        Err(gitiam::shared::sigv4::VerifyError::SignatureMismatch)
                    }
                }
            };
            let (status, body) = if verified.is_ok() {
                (status, body.clone())
            } else {
                (
                    403,
                    format!(
                        "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>{:?}</Message></Error></ErrorResponse>",
                        verified.err()
                    ),
                )
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(resp.as_bytes()).unwrap();
        }
    });
    TinySts { url, hits }
}

fn assume_role_xml(expiration: SystemTime) -> String {
    let exp = format_amz_date(expiration);
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &exp[0..4],
        &exp[4..6],
        &exp[6..8],
        &exp[9..11],
        &exp[11..13],
        &exp[13..15]
    );
    format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials>\
         <AccessKeyId>ASIATEMPORARY01</AccessKeyId><SecretAccessKey>tempsecret</SecretAccessKey>\
         <SessionToken>temp.session.token</SessionToken><Expiration>{iso}</Expiration></Credentials>\
         <AssumedRoleUser><Arn>arn:aws:sts::444455556666:assumed-role/deployer/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"
    )
}

fn role_config(sb: &Sandbox, endpoint: &str) {
    sb.write(
        ".aws/credentials",
        "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = basesecret\n",
    );
    sb.write(
        ".aws/config",
        &format!(
            "[profile deploy]\nregion = us-east-1\nrole_arn = arn:aws:iam::444455556666:role/deployer\nsource_profile = base\nservices = local\n\
             [services local]\nsts =\n  endpoint_url = {endpoint}\n"
        ),
    );
}

#[test]
fn assume_role_profile_calls_sts_once_then_uses_the_cache() {
    let sb = Sandbox::new();
    let sts = tiny_sts(
        200,
        assume_role_xml(SystemTime::now() + Duration::from_secs(3600)),
        Some("basesecret"),
    );
    role_config(&sb, &sts.url);
    let out = sb.run(
        &["--profile", "deploy", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_success();
    assert_eq!(
        out.fields()["username"],
        "ASIATEMPORARY01%temp.session.token"
    );
    assert_valid(
        &out.fields()["password"],
        "tempsecret",
        "us-east-1",
        "git.example.com",
        "/v1/repos/x",
    );
    assert_eq!(sts.hits.load(Ordering::SeqCst), 1);
    let files: Vec<_> = std::fs::read_dir(sb.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Second get: from the cache, no STS call.
    let out = sb.run(
        &["--profile", "deploy", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_success();
    assert_eq!(
        out.fields()["username"],
        "ASIATEMPORARY01%temp.session.token"
    );
    assert_eq!(sts.hits.load(Ordering::SeqCst), 1);

    // erase drops it; the next get calls STS again.
    let out = sb.run(
        &["--profile", "deploy", "erase"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    out.assert_success();
    assert_eq!(std::fs::read_dir(sb.cache_dir()).unwrap().count(), 0);
    let out = sb.run(
        &["--profile", "deploy", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    out.assert_success();
    assert_eq!(sts.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn sts_refusal_reports_the_aws_error_code() {
    let sb = Sandbox::new();
    let body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                <Message>User: arn:aws:iam::111122223333:user/base is not authorized to perform: sts:AssumeRole</Message></Error>\
                <RequestId>r</RequestId></ErrorResponse>"
        .to_owned();
    let sts = tiny_sts(403, body, Some("basesecret"));
    role_config(&sb, &sts.url);
    let out = sb.run(
        &["--profile", "deploy", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.check(out.stdout.is_empty(), "expected no stdout");
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
    out.check(
        out.stderr.contains("AccessDenied") && out.stderr.contains("not authorized"),
        "unexpected output",
    );
    no_secrets(&out, &["basesecret"]);

    // Unreachable endpoint: a clear transport error, no hang.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    role_config(&sb, &dead);
    let out = sb.run(
        &["--profile", "deploy", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.check(
        out.stderr.contains("STS AssumeRole at") && out.stderr.contains("failed"),
        "unexpected output",
    );
}

#[test]
fn wrong_source_secret_is_refused_by_the_verifier() {
    // The client signs with the source profile's secret; a verifier holding
    // another secret refuses it. This checks the client's SigV4 signing end
    // to end rather than trusting it.
    let sb = Sandbox::new();
    let sts = tiny_sts(
        200,
        assume_role_xml(SystemTime::now() + Duration::from_secs(3600)),
        Some("not-the-base-secret"),
    );
    role_config(&sb, &sts.url);
    let out = sb.run(
        &["--profile", "deploy", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_failure();
    out.assert_stderr_contains("SignatureDoesNotMatch");
}

#[test]
fn web_identity_from_profile_and_from_environment() {
    let sb = Sandbox::new();
    let sts = tiny_sts(
        200,
        assume_role_xml(SystemTime::now() + Duration::from_secs(3600)),
        None,
    );
    let token = sb.write("ci/token", "header.payload.signature\n");
    sb.write(
        ".aws/config",
        &format!(
            "[profile ci]\nregion = us-east-1\nrole_arn = arn:aws:iam::444455556666:role/ci\nweb_identity_token_file = {}\nendpoint_url = {}\n",
            token.display(),
            sts.url
        ),
    );
    let out = sb.run(
        &["--profile", "ci", "get"],
        &[],
        &request("git.example.com", "v1/repos/x"),
    );
    let out = out.assert_success();
    assert_eq!(
        out.fields()["username"],
        "ASIATEMPORARY01%temp.session.token"
    );
    assert_eq!(sts.hits.load(Ordering::SeqCst), 1);

    // The CI form: everything in the environment, no shared files.
    std::fs::remove_file(sb.home().join(".aws/config")).unwrap();
    let env = [
        ("AWS_ROLE_ARN", "arn:aws:iam::444455556666:role/ci"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ENDPOINT_URL_STS", sts.url.as_str()),
        ("AWS_REGION", "us-east-1"),
    ];
    let out = sb.run(&["get"], &env, &request("git.example.com", "v1/repos/x"));
    let out = out.assert_success();
    assert_eq!(
        out.fields()["username"],
        "ASIATEMPORARY01%temp.session.token"
    );
    assert_eq!(sts.hits.load(Ordering::SeqCst), 2);
    no_secrets(&out, &["header.payload.signature", "tempsecret"]);
}
