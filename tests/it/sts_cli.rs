//! The STS API of `gitiam serve` driven by the real AWS CLI v1 (botocore):
//! GetCallerIdentity, cross-account AssumeRole, refusals, role chaining,
//! expired and tampered tokens, two servers sharing a key file, and
//! AssumeRoleWithWebIdentity with a locally generated RSA key pair.
//!
//! Each test starts its own `gitiam serve` on 127.0.0.1 (self-signed TLS,
//! trusted by the CLI through `AWS_CA_BUNDLE`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::common::server::{TestServer, bare_repo_with_commit, rev};
use crate::common::{CommandExt as _, Run};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const DEV: &str = "111122223333";
const PROD: &str = "444455556666";
const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-key-0123456789abcdef");
const BOB: (&str, &str) = ("AKIABOB0000000000001", "bob-secret-key-0123456789abcdef00");
const OPS: (&str, &str) = ("AKIAOPS0000000000001", "ops-secret-key-0123456789abcdef00");
const OIDC_HOST: &str = "token.example.test";
const JWKS_FILE: &str = "jwks_file = \"jwks.json\"";

/// Credentials as the AWS CLI takes them from the environment.
#[derive(Clone, Debug)]
struct Creds {
    akid: String,
    secret: String,
    token: Option<String>,
}

impl Creds {
    fn long_term((akid, secret): (&str, &str)) -> Self {
        Self {
            akid: akid.into(),
            secret: secret.into(),
            token: None,
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Writes the two accounts' configuration and policies into `dir`.
/// `state` names the state folder (two servers use two); the key file is
/// shared at `shared/sts-keys.json`. `jwks` (a `jwks_file = ...` or
/// `jwks_url = ...` line) adds the OIDC provider.
fn write_config(dir: &Path, state: &str, jwks: Option<&str>) -> PathBuf {
    write(
        dir,
        "policies/alice.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"AssumeProdRoles","Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Resource":"arn:aws:iam::{PROD}:role/*"}},
  {{"Sid":"OwnRepos","Effect":"Allow","Action":"codecommit:*","Resource":"arn:aws:codecommit:us-east-1:{DEV}:*"}}]}}"#
        ),
    );
    write(
        dir,
        "policies/deployer.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"App","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"arn:aws:codecommit:us-east-1:{PROD}:app"}},
  {{"Sid":"Chain","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{PROD}:role/chained"}}]}}"#
        ),
    );
    let trust = |principal: &str, condition: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Trust","Effect":"Allow","Principal":{principal},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]{condition}}}]}}"#
        )
    };
    write(
        dir,
        "policies/deployer-trust.json",
        &trust(&format!(r#"{{"AWS":"{DEV}"}}"#), ""),
    );
    write(
        dir,
        "policies/partner-trust.json",
        &trust(
            &format!(r#"{{"AWS":"arn:aws:iam::{DEV}:root"}}"#),
            r#","Condition":{"StringEquals":{"sts:ExternalId":"ext-123"}}"#,
        ),
    );
    write(
        dir,
        "policies/bob-only-trust.json",
        &trust(&format!(r#"{{"AWS":"arn:aws:iam::{DEV}:user/bob"}}"#), ""),
    );
    write(
        dir,
        "policies/chained-trust.json",
        &trust(
            &format!(r#"{{"AWS":"arn:aws:iam::{PROD}:role/deployer"}}"#),
            "",
        ),
    );
    write(
        dir,
        "policies/ops-direct-trust.json",
        &trust(&format!(r#"{{"AWS":"arn:aws:iam::{PROD}:user/ops"}}"#), ""),
    );
    write(
        dir,
        "policies/ops-account-trust.json",
        &trust(&format!(r#"{{"AWS":"{PROD}"}}"#), ""),
    );
    write(
        dir,
        "policies/ci-trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"GitHubMain","Effect":"Allow",
  "Principal":{{"Federated":"arn:aws:iam::{PROD}:oidc-provider/{OIDC_HOST}"}},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{{"StringEquals":{{"{OIDC_HOST}:aud":"sts.amazonaws.com"}},
               "StringLike":{{"{OIDC_HOST}:sub":"repo:org/app:ref:refs/heads/*"}}}}}}]}}"#
        ),
    );
    // Pull only the repository named by the session's `project` tag.
    write(
        dir,
        "policies/by-project-tag.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"OwnProject","Effect":"Allow","Action":"codecommit:GitPull","Resource":"arn:aws:codecommit:us-east-1:{PROD}:${{aws:PrincipalTag/project}}"}}]}}"#
        ),
    );
    let provider = match jwks {
        Some(jwks) => format!(
            "[[accounts.oidc_providers]]\nurl = \"https://{OIDC_HOST}\"\nclient_ids = [\"sts.amazonaws.com\"]\n{jwks}\n"
        ),
        None => String::new(),
    };
    let config = format!(
        r#"[server]
region = "us-east-1"
state_dir = "{state}"
[backend]
repos = "repos"
[sts]
signing_keys = "shared/sts-keys.json"

[[accounts]]
id = "{DEV}"
[[accounts.users]]
name = "alice"
policies = ["policies/alice.json"]
tags = {{ team = "web" }}
access_keys = [{{ id = "{}", secret = "{}" }}]
[[accounts.users]]
name = "bob"
access_keys = [{{ id = "{}", secret = "{}" }}]

[[accounts]]
id = "{PROD}"
{provider}
[[accounts.users]]
name = "ops"
access_keys = [{{ id = "{}", secret = "{}" }}]
[[accounts.roles]]
name = "deployer"
trust_policy = "policies/deployer-trust.json"
policies = ["policies/deployer.json"]
max_session_duration = 7200
[[accounts.roles]]
name = "partner"
trust_policy = "policies/partner-trust.json"
policies = ["policies/deployer.json"]
[[accounts.roles]]
name = "bob-only"
trust_policy = "policies/bob-only-trust.json"
policies = ["policies/deployer.json"]
[[accounts.roles]]
name = "chained"
trust_policy = "policies/chained-trust.json"
policies = ["policies/deployer.json"]
max_session_duration = 43200
[[accounts.roles]]
name = "ops-direct"
trust_policy = "policies/ops-direct-trust.json"
[[accounts.roles]]
name = "ops-account"
trust_policy = "policies/ops-account-trust.json"
[[accounts.roles]]
name = "ci"
trust_policy = "policies/ci-trust.json"
policies = ["policies/deployer.json"]
[[accounts.roles]]
name = "tagged"
trust_policy = "policies/deployer-trust.json"
policies = ["policies/by-project-tag.json"]
"#,
        ALICE.0, ALICE.1, BOB.0, BOB.1, OPS.0, OPS.1
    );
    std::fs::create_dir_all(dir.join("repos")).unwrap();
    let path = dir.join(format!("gitiam-{state}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

/// Runs `aws ARGS --endpoint-url ...` against `server` with `creds` (or
/// none), with `home` as HOME and no AWS configuration files.
fn aws(server: &TestServer, home: &Path, creds: Option<&Creds>, args: &[&str]) -> Run {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .args(["--endpoint-url", &server.endpoint(), "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CA_BUNDLE", server.cert())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "");
    for var in ["PYENV_ROOT", "PYENV_VERSION", "LANG", "LC_ALL"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    if let Some(c) = creds {
        cmd.env("AWS_ACCESS_KEY_ID", &c.akid)
            .env("AWS_SECRET_ACCESS_KEY", &c.secret);
        if let Some(t) = &c.token {
            cmd.env("AWS_SESSION_TOKEN", t);
        }
    }
    cmd.run()
}

#[track_caller]
fn json(out: &Run) -> serde_json::Value {
    out.check(out.succeeded(), "aws failed");
    serde_json::from_slice(&out.stdout_bytes).unwrap()
}

/// Asserts the CLI failed with AWS error `code` (its usual
/// `An error occurred (CODE) when calling ...` line).
#[track_caller]
fn assert_error(out: &Run, code: &str) -> String {
    out.check(
        !out.succeeded(),
        format_args!("expected {code}, got success"),
    );
    out.assert_stderr_contains(&format!("An error occurred ({code})"));
    out.stderr.clone()
}

fn creds_of(response: &serde_json::Value) -> Creds {
    let c = &response["Credentials"];
    Creds {
        akid: c["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: c["SecretAccessKey"].as_str().unwrap().to_owned(),
        token: Some(c["SessionToken"].as_str().unwrap().to_owned()),
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    server: TestServer,
}

impl Fixture {
    fn new(test: &str, jwks: Option<&str>) -> Option<Fixture> {
        Self::with_dir(test, tempfile::tempdir().unwrap(), jwks)
    }

    fn with_dir(test: &str, dir: tempfile::TempDir, jwks: Option<&str>) -> Option<Fixture> {
        if !common::require_tool(test, "aws", &["--version"]) {
            return None;
        }
        let config = write_config(dir.path(), "state", jwks);
        let server = TestServer::start_config(dir.path(), &config, "state");
        Some(Fixture { dir, server })
    }

    fn aws(&self, creds: Option<&Creds>, args: &[&str]) -> Run {
        aws(&self.server, self.dir.path(), creds, args)
    }

    fn assume(&self, creds: &Creds, role: &str, extra: &[&str]) -> Run {
        let arn = format!("arn:aws:iam::{PROD}:role/{role}");
        let mut args = vec![
            "sts",
            "assume-role",
            "--role-arn",
            &arn,
            "--role-session-name",
            "ci-run",
        ];
        args.extend_from_slice(extra);
        self.aws(Some(creds), &args)
    }
}

#[test]
fn get_caller_identity_as_user() {
    let Some(f) = Fixture::new("get_caller_identity_as_user", None) else {
        return;
    };
    let who = json(&f.aws(
        Some(&Creds::long_term(ALICE)),
        &["sts", "get-caller-identity"],
    ));
    assert_eq!(who["Account"], DEV);
    assert_eq!(who["Arn"], format!("arn:aws:iam::{DEV}:user/alice"));
    assert!(who["UserId"].as_str().unwrap().starts_with("AIDA"), "{who}");

    let wrong = Creds {
        secret: "not-alice-secret-0123456789abcdef".into(),
        ..Creds::long_term(ALICE)
    };
    assert_error(
        &f.aws(Some(&wrong), &["sts", "get-caller-identity"]),
        "SignatureDoesNotMatch",
    );
    let unknown = Creds::long_term(("AKIAUNKNOWN000000001", "whatever-secret-0123456789"));
    assert_error(
        &f.aws(Some(&unknown), &["sts", "get-caller-identity"]),
        "InvalidClientTokenId",
    );
    assert_error(
        &f.aws(None, &["sts", "get-caller-identity", "--no-sign-request"]),
        "MissingAuthenticationToken",
    );
    // An operation gitiam does not serve.
    assert_error(
        &f.aws(
            Some(&Creds::long_term(ALICE)),
            &["sts", "get-session-token"],
        ),
        "InvalidAction",
    );
}

#[test]
fn assume_role_cross_account_and_use_the_session() {
    let Some(f) = Fixture::new("assume_role_cross_account_and_use_the_session", None) else {
        return;
    };
    let alice = Creds::long_term(ALICE);
    let out = json(&f.assume(
        &alice,
        "deployer",
        &[
            "--duration-seconds",
            "900",
            "--source-identity",
            "alice",
            "--tags",
            "Key=project,Value=app",
            "Key=team,Value=web",
            "--transitive-tag-keys",
            "project",
        ],
    ));
    let creds = creds_of(&out);
    assert!(
        creds.akid.starts_with("ASIA") && creds.akid.len() == 20,
        "{out}"
    );
    assert_eq!(creds.secret.len(), 40);
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/deployer/ci-run")
    );
    assert!(
        out["AssumedRoleUser"]["AssumedRoleId"]
            .as_str()
            .unwrap()
            .ends_with(":ci-run")
    );
    assert_eq!(out["SourceIdentity"], "alice");
    assert!(out["PackedPolicySize"].as_u64().is_some(), "{out}");
    // The token does not carry the secret.
    assert!(!creds.token.as_ref().unwrap().contains(&creds.secret));

    let who = json(&f.aws(Some(&creds), &["sts", "get-caller-identity"]));
    assert_eq!(who["Account"], PROD);
    assert_eq!(
        who["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/deployer/ci-run")
    );
    assert_eq!(who["UserId"], out["AssumedRoleUser"]["AssumedRoleId"]);

    // Role chaining: allowed by both the trust policy (role ARN) and the
    // deployer's own policy, but capped at one hour.
    let chained_arn = format!("arn:aws:iam::{PROD}:role/chained");
    let too_long = f.aws(
        Some(&creds),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &chained_arn,
            "--role-session-name",
            "hop",
            "--duration-seconds",
            "7200",
        ],
    );
    let err = assert_error(&too_long, "ValidationError");
    assert!(err.contains("1 hour session limit"), "{err}");
    let hop = json(&f.aws(
        Some(&creds),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &chained_arn,
            "--role-session-name",
            "hop",
        ],
    ));
    assert_eq!(
        hop["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/chained/hop")
    );
    // The source identity follows the chain and cannot be changed.
    assert_eq!(hop["SourceIdentity"], "alice");
    // Transitive tags follow the chain too (the token is readable; only
    // its signature and the secret are not forgeable).
    let hop_claims = token_claims(hop["Credentials"]["SessionToken"].as_str().unwrap());
    assert_eq!(hop_claims["tags"]["project"], "app", "{hop_claims}");
    assert!(hop_claims["tags"].get("team").is_none(), "{hop_claims}");
    assert_eq!(hop_claims["chained"], true);
    let overridden = f.aws(
        Some(&creds),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &chained_arn,
            "--role-session-name",
            "hop",
            "--tags",
            "Key=Project,Value=other",
        ],
    );
    let err = assert_error(&overridden, "ValidationError");
    assert!(err.contains("transitive"), "{err}");
    let changed = f.aws(
        Some(&creds),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &chained_arn,
            "--role-session-name",
            "hop",
            "--source-identity",
            "mallory",
        ],
    );
    assert_error(&changed, "AccessDenied");

    // Longer than the role allows.
    let err = assert_error(
        &f.assume(&alice, "deployer", &["--duration-seconds", "7201"]),
        "ValidationError",
    );
    assert!(err.contains("MaxSessionDuration"), "{err}");
}

#[test]
fn refused_assume_role() {
    let Some(f) = Fixture::new("refused_assume_role", None) else {
        return;
    };
    let alice = Creds::long_term(ALICE);
    // The trust policy names only bob.
    let err = assert_error(&f.assume(&alice, "bob-only", &[]), "AccessDenied");
    assert!(
        err.contains(&format!("User: arn:aws:iam::{DEV}:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{PROD}:role/bob-only")),
        "{err}"
    );
    // The trust policy wants an ExternalId.
    assert_error(&f.assume(&alice, "partner", &[]), "AccessDenied");
    assert_error(
        &f.assume(&alice, "partner", &["--external-id", "wrong-id"]),
        "AccessDenied",
    );
    json(&f.assume(&alice, "partner", &["--external-id", "ext-123"]));
    // Trusted by account, but bob's own policies do not allow sts:AssumeRole
    // (always needed across accounts), even for the role naming him.
    let bob = Creds::long_term(BOB);
    let err = assert_error(&f.assume(&bob, "deployer", &[]), "AccessDenied");
    assert!(err.contains("no identity-based policy allows"), "{err}");
    assert_error(&f.assume(&bob, "bob-only", &[]), "AccessDenied");
    // Same account: a trust policy naming the user is enough on its own; one
    // naming the account needs the user's own policies too.
    let ops = Creds::long_term(OPS);
    json(&f.assume(&ops, "ops-direct", &[]));
    assert_error(&f.assume(&ops, "ops-account", &[]), "AccessDenied");
    // Unknown roles look like forbidden ones.
    assert_error(&f.assume(&alice, "no-such-role", &[]), "AccessDenied");
    // Validation, with AWS's messages.
    let err = assert_error(
        &f.aws(
            Some(&alice),
            &[
                "sts",
                "assume-role",
                "--role-arn",
                &format!("arn:aws:iam::{PROD}:role/deployer"),
                "--role-session-name",
                "bad name",
            ],
        ),
        "ValidationError",
    );
    assert!(err.contains("roleSessionName"), "{err}");
    let err = assert_error(
        &f.assume(&alice, "deployer", &["--policy", "{\"Statement\": 3}"]),
        "MalformedPolicyDocument",
    );
    assert!(err.contains("policy"), "{err}");
    // A session policy narrows the session; it is accepted when valid.
    let narrowed = json(&f.assume(
        &alice,
        "deployer",
        &["--policy", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#],
    ));
    assert!(narrowed["PackedPolicySize"].as_u64().unwrap() > 0);
}

/// The claims of a JWT, read without verification.
fn token_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Re-encodes a JWT payload with `edit` applied, keeping the old signature.
fn tamper(token: &str, edit: impl Fn(&str) -> String) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    let edited = edit(&payload);
    assert_ne!(edited, payload);
    parts[1] = URL_SAFE_NO_PAD.encode(edited);
    parts.join(".")
}

#[test]
fn expired_tampered_and_foreign_tokens() {
    let Some(f) = Fixture::new("expired_tampered_and_foreign_tokens", None) else {
        return;
    };
    let out = json(&f.assume(&Creds::long_term(ALICE), "deployer", &[]));
    let creds = creds_of(&out);
    let token = creds.token.clone().unwrap();

    // Same token with another role in it: the signature no longer matches.
    let forged = Creds {
        token: Some(tamper(&token, |p| p.replace("deployer", "chained"))),
        ..creds.clone()
    };
    assert_error(
        &f.aws(Some(&forged), &["sts", "get-caller-identity"]),
        "InvalidClientTokenId",
    );
    // A token for another access key id.
    let swapped = Creds {
        akid: gitiam::server::session::token::new_access_key_id(),
        ..creds.clone()
    };
    assert_error(
        &f.aws(Some(&swapped), &["sts", "get-caller-identity"]),
        "InvalidClientTokenId",
    );

    // A genuine token from the server's own key file, issued two hours ago
    // for 15 minutes: expired.
    let keys =
        gitiam::server::session::keys::KeySet::load(&f.dir.path().join("shared/sts-keys.json"))
            .unwrap();
    let grant = gitiam::server::session::token::SessionGrant {
        account: PROD.into(),
        role_arn: format!("arn:aws:iam::{PROD}:role/deployer"),
        role_name: "deployer".into(),
        role_id: "AROAOLDSESSION".into(),
        session_name: "old".into(),
        source_identity: None,
        tags: Default::default(),
        policy: None,
        federated_provider: None,
        chained: false,
        duration: Duration::from_secs(900),
    };
    let old = gitiam::server::session::token::issue(
        &keys,
        grant.clone(),
        SystemTime::now() - Duration::from_secs(7200),
    )
    .unwrap();
    let expired = Creds {
        akid: old.claims.akid.clone(),
        secret: old.secret.expose().to_owned(),
        token: Some(old.session_token.clone()),
    };
    let err = assert_error(
        &f.aws(Some(&expired), &["sts", "get-caller-identity"]),
        "ExpiredToken",
    );
    assert!(err.contains("expired"), "{err}");

    // Signed with a key this server does not have.
    let foreign_keys = gitiam::server::session::keys::KeySet::generate();
    let foreign =
        gitiam::server::session::token::issue(&foreign_keys, grant, SystemTime::now()).unwrap();
    let foreign = Creds {
        akid: foreign.claims.akid.clone(),
        secret: foreign.secret.expose().to_owned(),
        token: Some(foreign.session_token.clone()),
    };
    assert_error(
        &f.aws(Some(&foreign), &["sts", "get-caller-identity"]),
        "InvalidClientTokenId",
    );

    // The right token with a guessed secret.
    let guessed = Creds {
        secret: "A".repeat(40),
        ..creds
    };
    assert_error(
        &f.aws(Some(&guessed), &["sts", "get-caller-identity"]),
        "SignatureDoesNotMatch",
    );
    assert!(
        !f.server.log().contains(&token),
        "the session token must not be logged"
    );
}

#[test]
fn two_servers_share_the_key_file() {
    if !common::require_tool("two_servers_share_the_key_file", "aws", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config_a = write_config(dir.path(), "a", None);
    let config_b = write_config(dir.path(), "b", None);
    let a = TestServer::start_config(dir.path(), &config_a, "a");
    let b = TestServer::start_config(dir.path(), &config_b, "b");
    assert_ne!(a.endpoint(), b.endpoint());
    let out = json(&aws(
        &a,
        dir.path(),
        Some(&Creds::long_term(ALICE)),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &format!("arn:aws:iam::{PROD}:role/deployer"),
            "--role-session-name",
            "replica",
        ],
    ));
    let creds = creds_of(&out);
    let who = json(&aws(
        &b,
        dir.path(),
        Some(&creds),
        &["sts", "get-caller-identity"],
    ));
    assert_eq!(
        who["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/deployer/replica")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("shared/sts-keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// An RSA key pair made with the openssl CLI, and its JWKS.
struct RsaIdp {
    pem: Vec<u8>,
    jwks: String,
}

fn rsa_idp(dir: &Path) -> RsaIdp {
    let key = dir.join("idp-key.pem");
    Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .ok();
    let modulus = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&key)
        .ok();
    let hex_n = String::from_utf8(modulus.stdout_bytes)
        .unwrap()
        .trim()
        .strip_prefix("Modulus=")
        .unwrap()
        .to_owned();
    let n = URL_SAFE_NO_PAD.encode(hex::decode(hex_n).unwrap());
    RsaIdp {
        pem: std::fs::read(&key).unwrap(),
        jwks: format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"ci-key-1","use":"sig","alg":"RS256","n":"{n}","e":"AQAB"}}]}}"#
        ),
    }
}

fn id_token(idp: &RsaIdp, sub: &str, aud: &str, exp_from_now: i64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({
        "iss": format!("https://{OIDC_HOST}"),
        "sub": sub,
        "aud": aud,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + exp_from_now,
        "repository": "org/app",
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("ci-key-1".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&idp.pem).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[test]
fn web_identity_with_local_idp() {
    if !common::require_tool("web_identity_with_local_idp", "openssl", &["version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let idp = rsa_idp(dir.path());
    write(dir.path(), "jwks.json", &idp.jwks);
    let Some(f) = Fixture::with_dir("web_identity_with_local_idp", dir, Some(JWKS_FILE)) else {
        return;
    };

    let role = format!("arn:aws:iam::{PROD}:role/ci");
    let call = |token: &str| {
        f.aws(
            None,
            &[
                "sts",
                "assume-role-with-web-identity",
                "--role-arn",
                &role,
                "--role-session-name",
                "gh-run-1",
                "--web-identity-token",
                token,
            ],
        )
    };
    let good = id_token(
        &idp,
        "repo:org/app:ref:refs/heads/main",
        "sts.amazonaws.com",
        300,
    );
    let out = json(&call(&good));
    assert_eq!(
        out["SubjectFromWebIdentityToken"],
        "repo:org/app:ref:refs/heads/main"
    );
    assert_eq!(out["Audience"], "sts.amazonaws.com");
    assert_eq!(out["Provider"], format!("https://{OIDC_HOST}"));
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/ci/gh-run-1")
    );
    let who = json(&f.aws(Some(&creds_of(&out)), &["sts", "get-caller-identity"]));
    assert_eq!(
        who["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/ci/gh-run-1")
    );

    let err = assert_error(
        &call(&id_token(
            &idp,
            "repo:org/other:ref:refs/heads/main",
            "sts.amazonaws.com",
            300,
        )),
        "AccessDenied",
    );
    assert!(
        err.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{err}"
    );
    assert_error(
        &call(&id_token(
            &idp,
            "repo:org/app:pull_request",
            "sts.amazonaws.com",
            300,
        )),
        "AccessDenied",
    );
    let err = assert_error(
        &call(&id_token(
            &idp,
            "repo:org/app:ref:refs/heads/main",
            "someone-else",
            300,
        )),
        "InvalidIdentityToken",
    );
    assert!(err.contains("audience"), "{err}");
    assert_error(
        &call(&id_token(
            &idp,
            "repo:org/app:ref:refs/heads/main",
            "sts.amazonaws.com",
            -600,
        )),
        "ExpiredTokenException",
    );
    assert_error(
        &call(&tamper(&good, |p| p.replace("org/app", "org/evil"))),
        "InvalidIdentityToken",
    );
    // A token from an issuer the account does not trust.
    let other = tamper(&good, |p| p.replace(OIDC_HOST, "evil.example.test"));
    let err = assert_error(&call(&other), "InvalidIdentityToken");
    assert!(err.contains("No OpenIDConnect provider"), "{err}");
}

/// `git` with an isolated configuration, trusting `server`'s certificate.
fn git(server: &TestServer, cwd: &Path, home: &Path) -> Command {
    let mut cmd = common::isolated_git(cwd);
    cmd.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env_remove("GIT_SSL_CAINFO")
        .env_remove("GIT_ASKPASS")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_STS")
        .env_remove("AWS_CA_BUNDLE")
        .args(["-c", "credential.useHttpPath=true", "-c"])
        .arg(format!("http.sslCAInfo={}", server.cert().display()))
        .args(["-c", "credential.helper="]);
    cmd
}

#[track_caller]
fn run_ok(cmd: &mut Command, what: &str, server: &TestServer) -> String {
    let out = cmd.run().context("server log", server.log());
    out.check(out.succeeded(), format_args!("{what} failed"));
    out.stdout
}

#[test]
fn git_clone_and_push_with_temporary_credentials() {
    let test = "git_clone_and_push_with_temporary_credentials";
    if !common::require_tool(test, "git", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bare = bare_repo_with_commit(dir.path(), PROD, "app");
    let Some(f) = Fixture::with_dir(test, dir, None) else {
        return;
    };
    let root = f.dir.path();
    let url = format!("{}/v1/repos/app", f.server.endpoint());

    // 1. git-credential-gitiam with an AWS profile that assumes the other
    //    account's role through gitiam's STS endpoint.
    let home = root.join("home-helper");
    std::fs::create_dir_all(&home).unwrap();
    write(
        &home,
        "aws-credentials",
        &format!(
            "[dev]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            ALICE.0, ALICE.1
        ),
    );
    write(
        &home,
        "aws-config",
        &format!(
            "[profile dev]\nregion = us-east-1\n\n[profile prod-deployer]\nrole_arn = arn:aws:iam::{PROD}:role/deployer\nsource_profile = dev\nrole_session_name = laptop\nregion = us-east-1\nendpoint_url = {}\nca_bundle = {}\n",
            f.server.endpoint(),
            f.server.cert().display()
        ),
    );
    let helper = format!(
        "credential.helper={} --profile prod-deployer",
        common::bin("git-credential-gitiam").display()
    );
    run_ok(
        git(&f.server, root, &home).args(["-c", &helper, "clone", "-q", &url, "via-helper"]),
        "clone via git-credential-gitiam",
        &f.server,
    );
    let work = root.join("via-helper");
    assert!(work.join("README.md").is_file());
    std::fs::write(work.join("deploy.txt"), "from the dev account\n").unwrap();
    run_ok(
        git(&f.server, &work, &home).args(["add", "deploy.txt"]),
        "add",
        &f.server,
    );
    run_ok(
        git(&f.server, &work, &home).args(["commit", "-q", "-m", "cross-account push"]),
        "commit",
        &f.server,
    );
    run_ok(
        git(&f.server, &work, &home).args([
            "-c",
            &helper,
            "push",
            "-q",
            "origin",
            "HEAD:refs/heads/from-dev",
        ]),
        "push via git-credential-gitiam",
        &f.server,
    );
    let pushed = run_ok(
        git(&f.server, &work, &home).args(["rev-parse", "HEAD"]),
        "rev-parse",
        &f.server,
    );
    assert_eq!(
        rev(&bare, "refs/heads/from-dev").as_deref(),
        Some(pushed.trim())
    );

    // 2. AWS's own helper with the temporary credentials in the environment.
    let out = json(&f.assume(&Creds::long_term(ALICE), "deployer", &[]));
    let creds = creds_of(&out);
    let home2 = root.join("home-aws");
    std::fs::create_dir_all(&home2).unwrap();
    let with_env = |cmd: &mut Command| {
        cmd.env("AWS_ACCESS_KEY_ID", &creds.akid)
            .env("AWS_SECRET_ACCESS_KEY", &creds.secret)
            .env("AWS_SESSION_TOKEN", creds.token.as_deref().unwrap())
            .env("AWS_DEFAULT_REGION", "us-east-1");
    };
    let aws_helper = "credential.helper=!aws codecommit credential-helper --ignore-host-check $@";
    let mut clone = git(&f.server, root, &home2);
    clone.args(["-c", aws_helper, "clone", "-q", &url, "via-aws"]);
    with_env(&mut clone);
    run_ok(
        &mut clone,
        "clone via aws codecommit credential-helper",
        &f.server,
    );
    let work2 = root.join("via-aws");
    std::fs::write(work2.join("aws.txt"), "pushed with AWS's helper\n").unwrap();
    run_ok(
        git(&f.server, &work2, &home2).args(["add", "aws.txt"]),
        "add",
        &f.server,
    );
    run_ok(
        git(&f.server, &work2, &home2).args(["commit", "-q", "-m", "aws helper push"]),
        "commit",
        &f.server,
    );
    let mut push = git(&f.server, &work2, &home2);
    push.args([
        "-c",
        aws_helper,
        "push",
        "-q",
        "origin",
        "HEAD:refs/heads/from-aws-helper",
    ]);
    with_env(&mut push);
    run_ok(
        &mut push,
        "push via aws codecommit credential-helper",
        &f.server,
    );
    assert!(rev(&bare, "refs/heads/from-aws-helper").is_some());

    // The same session cannot reach a repository its role's policies do not
    // cover.
    bare_repo_with_commit(root, PROD, "secret");
    let mut denied = git(&f.server, root, &home2);
    denied.args([
        "-c",
        aws_helper,
        "clone",
        "-q",
        &format!("{}/v1/repos/secret", f.server.endpoint()),
        "denied",
    ]);
    with_env(&mut denied);
    let out = denied.run();
    out.check(
        !out.succeeded(),
        "clone of an unauthorized repository succeeded",
    );

    // The audit log shows who did what: the helper's AssumeRole, then Git
    // requests by the assumed-role principal.
    let audit = audit_records(root);
    let laptop = format!("arn:aws:sts::{PROD}:assumed-role/deployer/laptop");
    assert!(
        audit.iter().any(|r| r["action"] == "sts:AssumeRole"
            && r["principal"] == format!("arn:aws:iam::{DEV}:user/alice")
            && r["status"] == 200),
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(|r| r["principal"] == laptop.as_str()
            && r["action"] == "codecommit:GitPush"
            && r["decision"] == "allowed"),
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(|r| r["resource"]
            == format!("arn:aws:codecommit:us-east-1:{PROD}:secret")
            && r["decision"] == "implicitDeny"),
        "{audit:#?}"
    );
}

/// Audit records written so far (one JSON object per line).
fn audit_records(root: &Path) -> Vec<serde_json::Value> {
    // Records are written when responses end, which may be just after the
    // client exits; wait briefly for the file to settle.
    let path = root.join("state/audit.jsonl");
    let mut last = 0;
    for _ in 0..40 {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > 0 && len == last {
            break;
        }
        last = len;
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `kid` in a session token's header.
fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Retries `check` until it holds (the server reloads files it watches
/// shortly after they change); panics after 20 seconds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

fn sts_keys(args: &[&str], file: &Path) -> String {
    let out = Command::new(common::bin("gitiam"))
        .arg("sts-keys")
        .args(args)
        .arg("--file")
        .arg(file)
        .ok();
    out.stdout.trim().to_owned()
}

#[test]
fn key_rotation_keeps_sessions_until_the_old_key_is_removed() {
    let Some(f) = Fixture::new(
        "key_rotation_keeps_sessions_until_the_old_key_is_removed",
        None,
    ) else {
        return;
    };
    let key_file = f.dir.path().join("shared/sts-keys.json");
    let alice = Creds::long_term(ALICE);
    let old = creds_of(&json(&f.assume(&alice, "deployer", &[])));
    let old_kid = kid_of(old.token.as_deref().unwrap());
    let listed = sts_keys(&["list"], &key_file);
    assert!(
        listed.starts_with(&format!("{old_kid}\tactive\t")),
        "{listed}"
    );

    let new_kid = sts_keys(&["rotate"], &key_file);
    assert_ne!(new_kid, old_kid);
    eventually("new sessions signed with the rotated key", || {
        let fresh = creds_of(&json(&f.assume(&alice, "deployer", &[])));
        kid_of(fresh.token.as_deref().unwrap()) == new_kid
    });
    // Sessions signed by the retired key keep working...
    json(&f.aws(Some(&old), &["sts", "get-caller-identity"]));
    // ...until it is removed.
    let listed = sts_keys(&["list"], &key_file);
    assert!(
        listed.starts_with(&format!("{new_kid}\tactive\t")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{old_kid}\tverify-only\t")),
        "{listed}"
    );
    sts_keys(&["remove", &old_kid], &key_file);
    eventually("sessions of the removed key refused", || {
        let out = f.aws(Some(&old), &["sts", "get-caller-identity"]);
        out.stderr.contains("(InvalidClientTokenId)")
    });
}

#[test]
fn token_issue_time_deny_revokes_older_sessions() {
    let Some(f) = Fixture::new("token_issue_time_deny_revokes_older_sessions", None) else {
        return;
    };
    let alice = Creds::long_term(ALICE);
    let old = creds_of(&json(&f.assume(&alice, "deployer", &[])));
    let chained = format!("arn:aws:iam::{PROD}:role/chained");
    let hop = |c: &Creds| {
        f.aws(
            Some(c),
            &[
                "sts",
                "assume-role",
                "--role-arn",
                &chained,
                "--role-session-name",
                "hop",
            ],
        )
    };
    json(&hop(&old));

    // AWS's "revoke active sessions": deny everything to sessions issued
    // before now. Wait past the old session's issue second first.
    std::thread::sleep(Duration::from_millis(1100));
    let cutoff = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    write(
        f.dir.path(),
        "policies/deployer.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"App","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"arn:aws:codecommit:us-east-1:{PROD}:app"}},
  {{"Sid":"Chain","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{PROD}:role/chained"}},
  {{"Sid":"RevokeOlderSessions","Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{cutoff}"}}}}}}]}}"#
        ),
    );
    eventually("the old session is revoked", || {
        hop(&old).stderr.contains("(AccessDenied)")
    });
    let err = assert_error(&hop(&old), "AccessDenied");
    assert!(err.contains("explicit deny"), "{err}");
    // A session issued after the cutoff is not affected.
    let fresh = creds_of(&json(&f.assume(&alice, "deployer", &[])));
    json(&hop(&fresh));
}

/// A plain-HTTP server answering every request with `body`, counting them.
struct JwksServer {
    url: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    fn start(body: String) -> JwksServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/.well-known/jwks", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer { url, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn ci_job_clones_with_web_identity_through_the_helper() {
    let test = "ci_job_clones_with_web_identity_through_the_helper";
    if !common::require_tool(test, "openssl", &["version"])
        || !common::require_tool(test, "git", &["--version"])
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let idp = rsa_idp(dir.path());
    let jwks = JwksServer::start(idp.jwks.clone());
    let bare = bare_repo_with_commit(dir.path(), PROD, "app");
    let jwks_line = format!("jwks_url = \"{}\"", jwks.url);
    let Some(f) = Fixture::with_dir(test, dir, Some(&jwks_line)) else {
        return;
    };
    let root = f.dir.path();
    assert_eq!(
        jwks.hits(),
        0,
        "keys are fetched on first use, not at start"
    );

    // What a CI job does: write its OIDC token to a file and let the helper
    // exchange it (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, the STS
    // endpoint and CA bundle the AWS way).
    let token_file = root.join("oidc-token");
    std::fs::write(
        &token_file,
        id_token(
            &idp,
            "repo:org/app:ref:refs/heads/main",
            "sts.amazonaws.com",
            300,
        ),
    )
    .unwrap();
    let home = root.join("home-ci");
    std::fs::create_dir_all(&home).unwrap();
    let helper = format!(
        "credential.helper={}",
        common::bin("git-credential-gitiam").display()
    );
    let url = format!("{}/v1/repos/app", f.server.endpoint());
    let ci_env = |cmd: &mut Command| {
        cmd.env("AWS_ROLE_ARN", format!("arn:aws:iam::{PROD}:role/ci"))
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
            .env("AWS_ROLE_SESSION_NAME", "gh-run-42")
            .env("AWS_ENDPOINT_URL_STS", f.server.endpoint())
            .env("AWS_CA_BUNDLE", f.server.cert())
            .env("AWS_REGION", "us-east-1");
    };
    let mut clone = git(&f.server, root, &home);
    clone.args(["-c", &helper, "clone", "-q", &url, "ci-clone"]);
    ci_env(&mut clone);
    run_ok(
        &mut clone,
        "clone with web identity via git-credential-gitiam",
        &f.server,
    );
    let work = root.join("ci-clone");
    std::fs::write(work.join("ci.txt"), "built\n").unwrap();
    run_ok(
        git(&f.server, &work, &home).args(["add", "ci.txt"]),
        "add",
        &f.server,
    );
    run_ok(
        git(&f.server, &work, &home).args(["commit", "-q", "-m", "ci"]),
        "commit",
        &f.server,
    );
    let mut push = git(&f.server, &work, &home);
    push.args(["-c", &helper, "push", "-q", "origin", "HEAD:refs/heads/ci"]);
    ci_env(&mut push);
    run_ok(
        &mut push,
        "push with web identity via git-credential-gitiam",
        &f.server,
    );
    assert!(rev(&bare, "refs/heads/ci").is_some());
    assert_eq!(jwks.hits(), 1);

    // The keys stay cached: another exchange does not fetch them again.
    let token = std::fs::read_to_string(&token_file).unwrap();
    let out = json(&f.aws(
        None,
        &[
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &format!("arn:aws:iam::{PROD}:role/ci"),
            "--role-session-name",
            "again",
            "--web-identity-token",
            &token,
        ],
    ));
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{PROD}:assumed-role/ci/again")
    );
    assert_eq!(jwks.hits(), 1);
    let audit = audit_records(root);
    assert!(
        audit.iter().any(|r| r["principal"]
            == format!("arn:aws:sts::{PROD}:assumed-role/ci/gh-run-42").as_str()
            && r["action"] == "codecommit:GitPush"),
        "{audit:#?}"
    );
}

#[test]
fn session_tags_become_principal_tags_on_git_requests() {
    let test = "session_tags_become_principal_tags_on_git_requests";
    if !common::require_tool(test, "git", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    bare_repo_with_commit(dir.path(), PROD, "app");
    let Some(f) = Fixture::with_dir(test, dir, None) else {
        return;
    };
    let root = f.dir.path();
    let url = format!("{}/v1/repos/app", f.server.endpoint());
    let alice = Creds::long_term(ALICE);
    let aws_helper = "credential.helper=!aws codecommit credential-helper --ignore-host-check $@";
    let clone = |project: &str, into: &str| {
        let creds = creds_of(&json(&f.assume(
            &alice,
            "tagged",
            &["--tags", &format!("Key=project,Value={project}")],
        )));
        let home = root.join(format!("home-{into}"));
        std::fs::create_dir_all(&home).unwrap();
        git(&f.server, root, &home)
            .args(["-c", aws_helper, "clone", "-q", &url, into])
            .env("AWS_ACCESS_KEY_ID", &creds.akid)
            .env("AWS_SECRET_ACCESS_KEY", &creds.secret)
            .env("AWS_SESSION_TOKEN", creds.token.as_deref().unwrap())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .run()
    };
    clone("app", "tagged-app")
        .context("server log", f.server.log())
        .assert_success();
    assert!(root.join("tagged-app/README.md").is_file());
    let denied = clone("other", "tagged-other");
    denied.check(
        !denied.succeeded(),
        "a session tagged project=other cloned app",
    );
    let audit = audit_records(root);
    let tagged = format!("arn:aws:sts::{PROD}:assumed-role/tagged/ci-run");
    assert!(
        audit.iter().any(|r| r["principal"] == tagged.as_str()
            && r["action"] == "codecommit:GitPull"
            && r["decision"] == "implicitDeny"),
        "{audit:#?}"
    );
}
