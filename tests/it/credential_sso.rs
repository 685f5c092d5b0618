//! IAM Identity Center (SSO) profiles in the real `git-credential-gitiam`:
//! the token cache written by botocore's own code (what `aws sso login`
//! runs), a local stand-in for the SSO portal and OIDC answering in AWS's
//! documented shape (checked with botocore's `aws sso` / `aws sso-oidc`
//! clients), and the resulting password accepted by a real `gitiam serve`
//! for a clone and a push. The role credentials the stand-in portal hands
//! out come from that server's STS, as AWS's portal gets them from STS.

use crate::common::server::{TestServer, bare_repo_with_commit, git_cmd, rev, write};
use crate::common::{self, CommandExt as _, Run};
use crate::credential_helper::{Fields as _, Sandbox, assert_valid, request};

use gitiam::client::Credentials;
use gitiam::client::sts_client::{AssumeRoleParams, StsClient};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ACCOUNT: &str = "111122223333";
const ALICE: (&str, &str) = ("AKIAALICESSO00000001", "alice-sso-secret-0123456789abcdef");
const START_URL: &str = "https://d-9067642ac7.awsapps.com/start";
const SESSION: &str = "my-sso";
const ROLE: &str = "Developer";

/// What the stand-in portal and OIDC know and what they were asked.
#[derive(Default)]
struct StandInState {
    /// Access tokens the portal accepts.
    tokens: Vec<String>,
    /// The role credentials handed out: (akid, secret, session token, expiry ms).
    role: Option<(String, String, String, u64)>,
    /// The registration and refresh token OIDC accepts, and the token it issues.
    refresh: Option<(String, String, String, String)>,
    portal_calls: usize,
    oidc_calls: usize,
}

struct StandIn {
    url: String,
    state: Arc<Mutex<StandInState>>,
}

impl StandIn {
    fn portal_calls(&self) -> usize {
        self.state.lock().unwrap().portal_calls
    }
    fn oidc_calls(&self) -> usize {
        self.state.lock().unwrap().oidc_calls
    }
}

fn json_response(status: u16, error_type: Option<&str>, body: &str) -> String {
    let error = error_type
        .map(|t| format!("x-amzn-ErrorType: {t}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{error}x-amzn-RequestId: r\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One HTTP/1.1 server on 127.0.0.1 answering both services as AWS
/// documents them: portal `GET /federation/credentials?role_name=&account_id=`
/// with `x-amz-sso_bearer_token`, OIDC `POST /token` (rest-json), errors
/// with `x-amzn-ErrorType` and `{"message": ...}`.
fn stand_in(state: StandInState) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(state));
    let shared = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
            let len: usize = headers
                .get("content-length")
                .map(|v| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let query: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let mut s = shared.lock().unwrap();
            let answer = match (method, path) {
                ("GET", "/federation/credentials") => {
                    s.portal_calls += 1;
                    let token_ok = headers
                        .get("x-amz-sso_bearer_token")
                        .is_some_and(|t| s.tokens.contains(t));
                    let asked = (query.get("role_name"), query.get("account_id"));
                    match (&s.role, token_ok) {
                        (_, false) => json_response(
                            401,
                            Some("UnauthorizedException"),
                            r#"{"message":"Session token not found or invalid"}"#,
                        ),
                        (Some((akid, secret, token, exp)), true)
                            if asked == (Some(&ROLE.to_owned()), Some(&ACCOUNT.to_owned())) =>
                        {
                            json_response(
                                200,
                                None,
                                &serde_json::json!({"roleCredentials": {
                                    "accessKeyId": akid, "secretAccessKey": secret,
                                    "sessionToken": token, "expiration": exp}})
                                .to_string(),
                            )
                        }
                        _ => json_response(
                            403,
                            Some("ForbiddenException"),
                            r#"{"message":"No access"}"#,
                        ),
                    }
                }
                ("POST", "/token") => {
                    s.oidc_calls += 1;
                    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let field = |k: &str| req.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                    match s.refresh.clone() {
                        Some((client_id, client_secret, refresh, new_token))
                            if field("grantType").as_deref() == Some("refresh_token")
                                && field("clientId").as_ref() == Some(&client_id)
                                && field("clientSecret").as_ref() == Some(&client_secret)
                                && field("refreshToken").as_ref() == Some(&refresh) =>
                        {
                            s.tokens.push(new_token.clone());
                            json_response(
                                200,
                                None,
                                &serde_json::json!({"accessToken": new_token, "tokenType": "Bearer",
                                    "expiresIn": 28800, "refreshToken": "refresh-2"})
                                .to_string(),
                            )
                        }
                        _ => json_response(
                            400,
                            Some("InvalidGrantException"),
                            r#"{"error":"invalid_grant","error_description":"Invalid grant provided"}"#,
                        ),
                    }
                }
                _ => json_response(404, Some("NotFound"), r#"{"message":"no such route"}"#),
            };
            drop(s);
            stream.write_all(answer.as_bytes()).unwrap();
        }
    });
    StandIn { url, state }
}

/// botocore's own token cache writer (what `aws sso login` uses):
/// `SSOTokenLoader.save_token` into a `JSONFileCache` of `~/.aws/sso/cache`.
const BOTOCORE_SAVE: &str = r#"
import sys, json, os
from botocore.utils import JSONFileCache, SSOTokenLoader
from botocore.tokens import _sso_json_dumps
home, start_url, session, token = sys.argv[1:5]
cache = JSONFileCache(os.path.join(home, ".aws", "sso", "cache"), dumps_func=_sso_json_dumps)
SSOTokenLoader(cache=cache).save_token(start_url, json.loads(token), session_name=session or None)
"#;

/// botocore's own token cache reader: prints the cached token's JSON.
const BOTOCORE_LOAD: &str = r#"
import sys, json, os
from botocore.utils import JSONFileCache, SSOTokenLoader
home, start_url, session = sys.argv[1:4]
cache = JSONFileCache(os.path.join(home, ".aws", "sso", "cache"))
print(json.dumps(SSOTokenLoader(cache=cache)(start_url, session_name=session or None)))
"#;

fn botocore_ready(test: &str) -> bool {
    common::require_tool(
        test,
        "python3",
        &["-c", "import botocore.tokens, botocore.utils"],
    )
}

fn iso(t: SystemTime) -> String {
    gitiam::shared::timestamp::utc_seconds(t)
}

/// Caches `token` for `session` (or, legacy, for `START_URL`) with botocore.
fn cache_token(sb: &Sandbox, session: Option<&str>, token: &serde_json::Value) {
    common::python3_ok(&[
        "-c",
        BOTOCORE_SAVE,
        sb.home().to_str().unwrap(),
        START_URL,
        session.unwrap_or(""),
        &token.to_string(),
    ]);
}

/// A token cache entry as the AWS CLI writes it after `aws sso login`.
fn token(access_token: &str, expires_at: SystemTime) -> serde_json::Value {
    serde_json::json!({"startUrl": START_URL, "region": "us-east-1",
        "accessToken": access_token, "expiresAt": iso(expires_at)})
}

fn sso_config(sb: &Sandbox, portal: &str) {
    sb.write(
        ".aws/config",
        &format!(
            "[profile dev]\nsso_session = {SESSION}\nsso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\nregion = us-east-1\nservices = local\n\
             [sso-session {SESSION}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\
             [services local]\nsso =\n  endpoint_url = {portal}\n\
             [profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\nregion = us-east-1\nservices = local\n"
        ),
    );
}

fn server_config(root: &Path) {
    write(
        root,
        "policies/alice.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{ACCOUNT}:role/{ROLE}"}}]}}"#
        ),
    );
    write(
        root,
        "policies/trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"sts:AssumeRole"}}]}}"#
        ),
    );
    write(
        root,
        "policies/developer.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"arn:aws:codecommit:us-east-1:{ACCOUNT}:demo"}}]}}"#
        ),
    );
    write(
        root,
        "gitiam.toml",
        &format!(
            r#"[server]
region = "us-east-1"
[backend]
repos = "repos"
[[accounts]]
id = "{ACCOUNT}"
[[accounts.users]]
name = "alice"
policies = ["policies/alice.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]
[[accounts.roles]]
name = "{ROLE}"
trust_policy = "policies/trust.json"
policies = ["policies/developer.json"]
"#,
            ALICE.0, ALICE.1
        ),
    );
}

/// Role credentials from the server's STS, for the stand-in portal to hand out.
fn role_credentials(server: &TestServer) -> Credentials {
    StsClient::new(&server.endpoint(), "us-east-1", Some(&server.cert()))
        .unwrap()
        .assume_role(
            &Credentials::new(ALICE.0, ALICE.1, None, None),
            &AssumeRoleParams {
                role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}"),
                role_session_name: "alice@example.com".into(),
                ..AssumeRoleParams::default()
            },
        )
        .unwrap()
}

fn portal_role(c: &Credentials) -> (String, String, String, u64) {
    let exp = c.expiration.unwrap().duration_since(UNIX_EPOCH).unwrap();
    (
        c.access_key_id.clone(),
        c.secret_access_key().to_owned(),
        c.session_token.clone().unwrap(),
        exp.as_millis() as u64,
    )
}

fn fake_role(expires_in: Duration) -> (String, String, String, u64) {
    let exp = (SystemTime::now() + expires_in)
        .duration_since(UNIX_EPOCH)
        .unwrap();
    (
        "ASIASSOSTANDIN000001".into(),
        "sso-role-secret".into(),
        "sso.session.token".into(),
        exp.as_millis() as u64,
    )
}

/// `git` in `cwd` trusting `server`, using the real helper with `--profile`.
fn git_with_helper(sb: &Sandbox, server: &TestServer, cwd: &Path, profile: &str) -> Command {
    let mut cmd = git_cmd(cwd);
    cmd.arg("-c")
        .arg(format!("http.sslCAInfo={}", server.cert().display()))
        .args([
            "-c",
            "credential.useHttpPath=true",
            "-c",
            "credential.helper=",
        ])
        .arg("-c")
        .arg(format!(
            "credential.helper={} --profile {profile}",
            common::bin("git-credential-gitiam").display()
        ))
        .env("HOME", sb.home())
        .env("XDG_CACHE_HOME", sb.dir.path().join("cache"))
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_SSO")
        .env_remove("AWS_REGION");
    cmd
}

#[test]
fn sso_session_profile_clones_and_pushes_through_gitiam() {
    if !botocore_ready("sso_session_profile_clones_and_pushes_through_gitiam") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    server_config(&root);
    let bare = bare_repo_with_commit(&root, ACCOUNT, "demo");
    let server = TestServer::start(&root);
    let role = role_credentials(&server);
    let portal = stand_in(StandInState {
        tokens: vec!["access-token-1".into()],
        role: Some(portal_role(&role)),
        ..StandInState::default()
    });
    let sb = Sandbox::new();
    sso_config(&sb, &portal.url);
    cache_token(
        &sb,
        Some(SESSION),
        &token(
            "access-token-1",
            SystemTime::now() + Duration::from_secs(8 * 3600),
        ),
    );

    // The helper alone: the role credentials, signed for the server's host.
    let out = sb
        .run(
            &["--profile", "dev", "get"],
            &[],
            &request("127.0.0.1:8443", "v1/repos/demo"),
        )
        .assert_success();
    assert_eq!(out.fields()["username"], role.git_username());
    assert_valid(
        &out.fields()["password"],
        role.secret_access_key(),
        "us-east-1",
        "127.0.0.1",
        "/v1/repos/demo",
    );
    assert_eq!(portal.portal_calls(), 1);
    out.check(
        !out.stderr.contains("access-token-1"),
        "stderr shows the SSO token",
    );

    // git through the server: clone and push, with the cached credentials
    // (the portal is not asked again).
    let clone = git_with_helper(&sb, &server, &root, "dev")
        .args(["clone", "-q", &server.url("demo"), "work"])
        .run()
        .context("server log", server.log())
        .assert_success();
    drop(clone);
    let work = root.join("work");
    std::fs::write(work.join("sso.txt"), "signed in with SSO\n").unwrap();
    common::server::git_ok(&work, &["add", "sso.txt"]);
    common::server::git_ok(&work, &["commit", "-q", "-m", "sso"]);
    git_with_helper(&sb, &server, &work, "dev")
        .args(["push", "-q", "origin", "HEAD:refs/heads/feature"])
        .run()
        .context("server log", server.log())
        .assert_success();
    assert_eq!(
        rev(&bare, "refs/heads/feature"),
        Some(
            common::server::git_ok(&work, &["rev-parse", "HEAD"])
                .trim()
                .to_owned()
        )
    );
    assert_eq!(portal.portal_calls(), 1, "cached role credentials reused");
    let record = server.wait_audit(|r| r.to_string().contains("refs/heads/feature"));
    let text = record.to_string();
    assert!(
        text.contains(&format!("assumed-role/{ROLE}/alice@example.com")),
        "{text}"
    );

    // `erase` drops the cached role credentials; the next get asks again.
    sb.run(
        &["--profile", "dev", "erase"],
        &[],
        &request("127.0.0.1", "v1/repos/demo"),
    )
    .assert_success();
    sb.run(
        &["--profile", "dev", "get"],
        &[],
        &request("127.0.0.1", "v1/repos/demo"),
    )
    .assert_success();
    assert_eq!(portal.portal_calls(), 2);
}

#[track_caller]
fn assert_sign_in_hint(out: &Run, profile: &str) {
    out.check(!out.succeeded(), "expected a failure");
    out.check(out.stdout.is_empty(), "expected no stdout");
    out.check(
        out.stderr.lines().count() == 1,
        "expected one line on stderr",
    );
    out.assert_stderr_contains(&format!("run `aws sso login --profile {profile}`"));
}

#[test]
fn missing_expired_and_refused_tokens_say_to_sign_in() {
    if !botocore_ready("missing_expired_and_refused_tokens_say_to_sign_in") {
        return;
    }
    let portal = stand_in(StandInState {
        tokens: vec!["good-token".into()],
        role: Some(fake_role(Duration::from_secs(3600))),
        ..StandInState::default()
    });
    let sb = Sandbox::new();
    sso_config(&sb, &portal.url);
    let get = |profile: &str| {
        sb.run(
            &["--profile", profile, "get"],
            &[],
            &request("git.example.com", "v1/repos/x"),
        )
    };
    // Never signed in.
    for profile in ["dev", "legacy"] {
        let out = get(profile);
        assert_sign_in_hint(&out, profile);
        out.assert_stderr_contains("no cached SSO token");
    }
    assert_eq!(portal.portal_calls(), 0);

    // The legacy form's file is named by the start URL: an expired token
    // there is reported as expired, without calling the portal (no
    // refresh for legacy profiles, as in botocore).
    cache_token(
        &sb,
        None,
        &token("good-token", SystemTime::now() - Duration::from_secs(60)),
    );
    let out = get("legacy");
    assert_sign_in_hint(&out, "legacy");
    out.assert_stderr_contains("the SSO token expired at");
    assert_eq!(portal.portal_calls(), 0);

    // A token the portal does not know: its 401 becomes the same hint.
    cache_token(
        &sb,
        Some(SESSION),
        &token(
            "revoked-token",
            SystemTime::now() + Duration::from_secs(3600),
        ),
    );
    let out = get("dev");
    assert_sign_in_hint(&out, "dev");
    out.assert_stderr_contains("UnauthorizedException");
    out.check(
        !out.stderr.contains("revoked-token"),
        "stderr shows the token",
    );
    assert_eq!(portal.portal_calls(), 1);

    // The legacy file, valid now: works, through AWS_ENDPOINT_URL_SSO
    // (the services section points nowhere useful).
    cache_token(
        &sb,
        None,
        &token("good-token", SystemTime::now() + Duration::from_secs(3600)),
    );
    let cfg = std::fs::read_to_string(sb.home().join(".aws/config"))
        .unwrap()
        .replace(&portal.url, "http://127.0.0.1:9");
    sb.write(".aws/config", &cfg);
    let out = sb
        .run(
            &["--profile", "legacy", "get"],
            &[("AWS_ENDPOINT_URL_SSO", &portal.url)],
            &request("git.example.com", "v1/repos/x"),
        )
        .assert_success();
    assert_eq!(
        out.fields()["username"],
        "ASIASSOSTANDIN000001%sso.session.token"
    );
    assert_eq!(portal.portal_calls(), 2);

    // A misconfigured profile names what is missing.
    sb.write(
        ".aws/config",
        "[profile half]\nsso_session = ghost\nsso_account_id = 1\nsso_role_name = r\nregion = us-east-1\n",
    );
    let out = get("half");
    out.assert_failure()
        .assert_stderr_contains("no [sso-session ghost] section");
}

#[test]
fn expiring_token_is_refreshed_and_written_back_as_the_cli_does() {
    if !botocore_ready("expiring_token_is_refreshed_and_written_back_as_the_cli_does") {
        return;
    }
    let registration_expires = iso(SystemTime::now() + Duration::from_secs(90 * 86400));
    let oidc = stand_in(StandInState {
        tokens: Vec::new(),
        role: Some(fake_role(Duration::from_secs(3600))),
        refresh: Some((
            "client-id-1".into(),
            "client-secret-1".into(),
            "refresh-1".into(),
            "refreshed-token".into(),
        )),
        ..StandInState::default()
    });
    let sb = Sandbox::new();
    sso_config(&sb, &oidc.url);
    cache_token(
        &sb,
        Some(SESSION),
        &serde_json::json!({"startUrl": START_URL, "region": "us-east-1",
            "accessToken": "old-token",
            "expiresAt": iso(SystemTime::now() + Duration::from_secs(300)),
            "clientId": "client-id-1", "clientSecret": "client-secret-1",
            "registrationExpiresAt": registration_expires, "refreshToken": "refresh-1"}),
    );
    let out = sb
        .run(
            &["--profile", "dev", "get"],
            &[("AWS_ENDPOINT_URL_SSO_OIDC", &oidc.url)],
            &request("git.example.com", "v1/repos/x"),
        )
        .assert_success();
    assert_eq!(
        out.fields()["username"],
        "ASIASSOSTANDIN000001%sso.session.token"
    );
    assert_eq!((oidc.oidc_calls(), oidc.portal_calls()), (1, 1));
    for secret in ["client-secret-1", "refresh-1", "refreshed-token"] {
        out.check(!out.stderr.contains(secret), "stderr shows a secret");
    }

    // botocore reads the written-back file: new token and refresh token,
    // the registration kept, 0600.
    let text = common::python3_ok(&[
        "-c",
        BOTOCORE_LOAD,
        sb.home().to_str().unwrap(),
        START_URL,
        SESSION,
    ]);
    let token: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(token["accessToken"], "refreshed-token");
    assert_eq!(token["refreshToken"], "refresh-2");
    assert_eq!(token["clientId"], "client-id-1");
    assert_eq!(
        token["registrationExpiresAt"],
        registration_expires.as_str()
    );
    assert_eq!(token["startUrl"], START_URL);
    let expires =
        gitiam::client::sso::parse_cache_time(token["expiresAt"].as_str().unwrap()).unwrap();
    assert!(expires > SystemTime::now() + Duration::from_secs(7 * 3600));
    let file = token_path(&sb, SESSION);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // A refused refresh of a still-valid token: the token is used as is.
    std::fs::remove_dir_all(sb.cache_dir()).unwrap();
    oidc.state.lock().unwrap().refresh = None;
    let mut t: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    t["expiresAt"] = iso(SystemTime::now() + Duration::from_secs(300)).into();
    std::fs::write(&file, t.to_string()).unwrap();
    sb.run(
        &["--profile", "dev", "get"],
        &[("AWS_ENDPOINT_URL_SSO_OIDC", &oidc.url)],
        &request("git.example.com", "v1/repos/x"),
    )
    .assert_success();
    assert_eq!((oidc.oidc_calls(), oidc.portal_calls()), (2, 2));
}

fn token_path(sb: &Sandbox, key: &str) -> PathBuf {
    gitiam::client::sso::token_file(&sb.home().join(".aws/sso/cache"), key)
}

/// The stand-in answers as AWS's service models say: botocore's own `sso`
/// and `sso-oidc` clients (the AWS CLI) parse its answers and errors.
#[test]
fn stand_in_speaks_the_shape_botocore_expects() {
    if !common::require_tool(
        "stand_in_speaks_the_shape_botocore_expects",
        "aws",
        &["--version"],
    ) {
        return;
    }
    let s = stand_in(StandInState {
        tokens: vec!["good-token".into()],
        role: Some(fake_role(Duration::from_secs(3600))),
        refresh: Some(("cid".into(), "csecret".into(), "r1".into(), "new".into())),
        ..StandInState::default()
    });
    let home = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| {
        let mut cmd = Command::new("aws");
        cmd.args(args)
            .args([
                "--endpoint-url",
                &s.url,
                "--region",
                "us-east-1",
                "--output",
                "json",
            ])
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_PROFILE");
        cmd.run()
    };
    let out = aws(&[
        "sso",
        "get-role-credentials",
        "--role-name",
        ROLE,
        "--account-id",
        ACCOUNT,
        "--access-token",
        "good-token",
    ])
    .assert_success();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout_bytes).unwrap();
    assert_eq!(v["roleCredentials"]["accessKeyId"], "ASIASSOSTANDIN000001");
    assert!(v["roleCredentials"]["expiration"].as_u64().unwrap() > 1_700_000_000_000);
    let out = aws(&[
        "sso",
        "get-role-credentials",
        "--role-name",
        ROLE,
        "--account-id",
        ACCOUNT,
        "--access-token",
        "bad-token",
    ]);
    out.assert_failure()
        .assert_stderr_contains("(UnauthorizedException)");
    let out = aws(&[
        "sso-oidc",
        "create-token",
        "--client-id",
        "cid",
        "--client-secret",
        "csecret",
        "--grant-type",
        "refresh_token",
        "--refresh-token",
        "r1",
    ])
    .assert_success();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout_bytes).unwrap();
    assert_eq!(
        (v["accessToken"].as_str(), v["expiresIn"].as_u64()),
        (Some("new"), Some(28800))
    );
    let out = aws(&[
        "sso-oidc",
        "create-token",
        "--client-id",
        "cid",
        "--client-secret",
        "csecret",
        "--grant-type",
        "refresh_token",
        "--refresh-token",
        "wrong",
    ]);
    out.assert_failure()
        .assert_stderr_contains("(InvalidGrantException)");
}
