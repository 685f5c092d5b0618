//! `gitiam policy simulate --config`, `gitiam access who-can` and `gitiam
//! access diff`, run as the real binary on one configuration with users,
//! a group, cross-account and chained roles, an OIDC provider and branch
//! protection. Simulate is checked against the running server: the same
//! requests made with real `git` through the credential helper (and, when
//! the AWS CLI is installed, with a role session it obtained from the
//! server's STS API) must get the same answers.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::server::{
    ACCOUNT, Creds, DEVELOPERS, TestServer, bare_repo_with_commit, git_ok, write,
};
use crate::common::{self, CommandExt as _, Run};

const PARTNER_ACCOUNT: &str = "444455556666";
const ALICE: (&str, &str) = ("AKIAALICE00000000001", "alice-secret-0123456789abcdef");
const BOB: (&str, &str) = ("AKIABOB0000000000001", "bob-secret-0123456789abcdefgh");
const CAROL: (&str, &str) = ("AKIACAROL00000000001", "carol-secret-0123456789abcdef");
const REPO: &str = "arn:aws:codecommit:us-east-1:111122223333:demo";
const OIDC: &str = "arn:aws:iam::111122223333:oidc-provider/token.example.test";

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}")
}

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
groups = ["developers"]
access_keys = [{{ id = "{}", secret = "{}" }}]

[[accounts.users]]
name = "bob"
policies = ["policies/release.json"]
access_keys = [{{ id = "{}", secret = "{}" }}]

[[accounts.users]]
name = "carol"
access_keys = [{{ id = "{}", secret = "{}" }}]

[[accounts.groups]]
name = "developers"
policies = ["policies/developers.json"]

[[accounts.roles]]
name = "deployer"
trust_policy = "policies/deployer-trust.json"
policies = ["policies/deployer.json"]

[[accounts.roles]]
name = "ci"
trust_policy = "policies/ci-trust.json"
policies = ["policies/ci.json"]

[[accounts.oidc_providers]]
url = "https://token.example.test"
client_ids = ["sts.amazonaws.com"]
jwks_url = "https://token.example.test/.well-known/jwks"

[[accounts]]
id = "{PARTNER_ACCOUNT}"

[[accounts.users]]
name = "partner"
policies = ["policies/partner.json"]
"#,
        ALICE.0, ALICE.1, BOB.0, BOB.1, CAROL.0, CAROL.1
    )
}

/// The same policy, reformatted: other order of keys, one line, a string
/// for a one-element list.
const DEVELOPERS_REFORMATTED: &str = r#"{"Statement":[{"Resource":["arn:aws:codecommit:us-east-1:111122223333:*"],"Action":["codecommit:GitPull","codecommit:GitPush"],"Effect":"Allow","Sid":"PullAndPush"},{"Condition":{"Null":{"codecommit:References":["false"]},"StringEqualsIfExists":{"codecommit:References":"refs/heads/main"}},"Resource":"arn:aws:codecommit:us-east-1:111122223333:*","Action":["codecommit:GitPush"],"Effect":"Deny","Sid":"DenyPushToMain"}],"Version":"2012-10-17"}"#;

const RELEASE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "Pull", "Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "arn:aws:codecommit:us-east-1:111122223333:demo" },
    {
      "Sid": "PushReleases",
      "Effect": "Allow",
      "Action": "codecommit:GitPush",
      "Resource": "arn:aws:codecommit:us-east-1:111122223333:demo",
      "Condition": { "StringLikeIfExists": { "codecommit:References": ["refs/heads/release/*"] } }
    }
  ]
}"#;

const DEPLOYER_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "Carol", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:user/carol" }, "Action": "sts:AssumeRole" },
    {
      "Sid": "Partner",
      "Effect": "Allow",
      "Principal": { "AWS": "444455556666" },
      "Action": "sts:AssumeRole",
      "Condition": { "StringEquals": { "sts:ExternalId": "partner-7" } }
    },
    { "Sid": "FromCi", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:role/ci" }, "Action": "sts:AssumeRole" }
  ]
}"#;

const DEPLOYER: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "Deploy", "Effect": "Allow", "Action": ["codecommit:GitPull", "codecommit:GitPush"], "Resource": "arn:aws:codecommit:us-east-1:111122223333:demo" }
  ]
}"#;

const CI_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "GithubApp",
      "Effect": "Allow",
      "Principal": { "Federated": "arn:aws:iam::111122223333:oidc-provider/token.example.test" },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": { "token.example.test:aud": "sts.amazonaws.com" },
        "StringLike": { "token.example.test:sub": "repo:org/app:*" }
      }
    }
  ]
}"#;

const CI: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "Pull", "Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*" },
    { "Sid": "BecomeDeployer", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::111122223333:role/deployer" }
  ]
}"#;

const PARTNER: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Sid": "AssumeDeployer", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::111122223333:role/*" }
  ]
}"#;

/// Writes the configuration and its policies into `dir`.
fn write_config(dir: &Path) {
    write(dir, "gitiam.toml", &config());
    for (name, text) in [
        ("developers", DEVELOPERS),
        ("release", RELEASE),
        ("deployer-trust", DEPLOYER_TRUST),
        ("deployer", DEPLOYER),
        ("ci-trust", CI_TRUST),
        ("ci", CI),
        ("partner", PARTNER),
    ] {
        write(dir, &format!("policies/{name}.json"), text);
    }
}

fn gitiam(cwd: &Path, args: &[&str]) -> Run {
    let run = Command::new(common::bin("gitiam"))
        .args(args)
        .current_dir(cwd)
        .run();
    run.check(run.status.code().is_some(), "killed by a signal");
    run
}

/// `gitiam policy simulate --config gitiam.toml ...`: its exit code.
fn simulate(
    dir: &Path,
    principal: &str,
    action: &str,
    reference: Option<&str>,
    extra: &[&str],
) -> i32 {
    let mut args = vec![
        "policy",
        "simulate",
        "--config",
        "gitiam.toml",
        "--principal",
        principal,
        "--action",
        action,
        "--resource",
        REPO,
    ];
    let context;
    if let Some(r) = reference {
        context = format!("codecommit:References={r}");
        args.extend(["--context", &context]);
    }
    args.extend_from_slice(extra);
    let run = gitiam(dir, &args);
    let code = run.status.code().unwrap();
    run.check(code == 0 || code == 2, "simulate did not decide");
    let first = run.stdout.lines().next().unwrap_or_default().to_string();
    run.check(
        (code == 0) == (first == "allowed"),
        "the first line and the exit code disagree",
    );
    code
}

/// Would the push of `reference` be allowed, by `simulate`: the push's
/// advertisement (no ref) and the ref itself must both be.
fn simulate_push(dir: &Path, principal: &str, reference: &str, extra: &[&str]) -> bool {
    simulate(dir, principal, "codecommit:GitPush", None, extra) == 0
        && simulate(dir, principal, "codecommit:GitPush", Some(reference), extra) == 0
}

const REFS: [&str; 5] = [
    "refs/heads/main",
    "refs/heads/feature",
    "refs/heads/release/1.0",
    "refs/heads/releases",
    "refs/tags/v1",
];

/// Pushes a new commit from `work` to `reference` with `git`; true when
/// the server accepted it.
fn push(server: &TestServer, work: &Path, git: impl Fn(&Path) -> Command, reference: &str) -> bool {
    let file = format!("f-{}", reference.replace('/', "-"));
    let n = std::fs::read_to_string(work.join(&file)).map_or(0, |s| s.len());
    std::fs::write(work.join(&file), "x".repeat(n + 1)).unwrap();
    git_ok(work, &["add", &file]);
    // The work tree's name in the message: every user commits as the same
    // test identity, so two users' commits made in the same second would
    // otherwise be the same commit, and the second push would be "Everything
    // up-to-date", a success that the server never decided.
    let who = work.file_name().unwrap().to_string_lossy();
    git_ok(
        work,
        &["commit", "-q", "-m", &format!("{who}: change {reference}")],
    );
    let out = git(work)
        .args([
            "push",
            "-q",
            "--force",
            &server.url("demo"),
            &format!("HEAD:{reference}"),
        ])
        .run();
    if std::env::var_os("ACCESS_REVIEW_DEBUG").is_some() {
        eprintln!("push {reference}: {}\n{}", out.succeeded(), out.stderr);
    }
    if !out.succeeded() {
        return false;
    }
    // Accepted means the server's ref is now this commit: a push that sent
    // nothing proves nothing about the decision.
    let head = git_ok(work, &["rev-parse", "HEAD"]);
    let remote = git(work)
        .args(["ls-remote", &server.url("demo"), reference])
        .run();
    out.check(
        remote.stdout.split_whitespace().next() == Some(head.trim()),
        "git push succeeded but the server's ref is not the pushed commit",
    );
    true
}

#[test]
fn simulate_agrees_with_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_config(root);
    bare_repo_with_commit(root, ACCOUNT, "demo");
    let server = TestServer::start(root);

    let users = [("alice", ALICE), ("bob", BOB), ("carol", CAROL)];
    for (name, (akid, secret)) in users {
        let creds = Creds::new(akid, secret);
        let principal = arn("user", name);
        let work = root.join(format!("work-{name}"));
        let cloned = server
            .git(root, &creds)
            .args(["clone", "-q", &server.url("demo"), work.to_str().unwrap()])
            .run()
            .succeeded();
        let simulated = simulate(root, &principal, "codecommit:GitPull", None, &[]) == 0;
        assert_eq!(cloned, simulated, "{name}: clone vs simulate GitPull");
        if !cloned {
            continue;
        }
        for reference in REFS {
            let pushed = push(&server, &work, |cwd| server.git(cwd, &creds), reference);
            let simulated = simulate_push(root, &principal, reference, &[]);
            assert_eq!(
                pushed,
                simulated,
                "{name} pushing {reference}: server vs simulate\n{}\n{:#?}",
                server.log(),
                server.audit()
            );
        }
    }
    // Some of each: the comparison is not vacuous.
    for (user, reference, allowed) in [
        ("alice", "refs/heads/feature", true),
        ("alice", "refs/heads/main", false),
        ("bob", "refs/heads/release/1.0", true),
        ("bob", "refs/heads/feature", false),
    ] {
        assert_eq!(
            simulate_push(root, &arn("user", user), reference, &[]),
            allowed,
            "{user} pushing {reference}"
        );
    }

    role_session_agrees(root, &server);
}

/// Carol assumes the deployer role through the server's STS API (the AWS
/// CLI), with and without a session policy, and pushes with the session;
/// simulate decides for `assumed-role/deployer/SESSION` the same way.
fn role_session_agrees(root: &Path, server: &TestServer) {
    if !common::require_tool("access_review::role_session_agrees", "aws", &["--version"]) {
        return;
    }
    let session_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"*","Condition":{"StringLikeIfExists":{"codecommit:References":["refs/heads/hotfix/*"]}}}]}"#;
    write(root, "session.json", session_policy);
    for (session, policy) in [("plain", None), ("limited", Some("session.json"))] {
        let mut args = vec![
            "sts".to_string(),
            "assume-role".into(),
            "--role-arn".into(),
            arn("role", "deployer"),
            "--role-session-name".into(),
            session.into(),
            "--endpoint-url".into(),
            server.endpoint(),
            "--output".into(),
            "json".into(),
        ];
        if let Some(p) = policy {
            args.push("--policy".into());
            args.push(format!("file://{}", root.join(p).display()));
        }
        let out = Command::new("aws")
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", CAROL.0)
            .env("AWS_SECRET_ACCESS_KEY", CAROL.1)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", root.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                root.join("no-aws-credentials"),
            )
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CA_BUNDLE", server.cert())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .run()
            .assert_success();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout_bytes).unwrap();
        let c = &json["Credentials"];
        let (akid, secret, token) = (
            c["AccessKeyId"].as_str().unwrap().to_string(),
            c["SecretAccessKey"].as_str().unwrap().to_string(),
            c["SessionToken"].as_str().unwrap().to_string(),
        );
        let creds = Creds::new(&akid, &secret);
        let git = |cwd: &Path| {
            let mut cmd = server.git(cwd, &creds);
            cmd.env("AWS_SESSION_TOKEN", &token);
            cmd
        };
        let work = root.join(format!("work-session-{session}"));
        git(root)
            .args(["clone", "-q", &server.url("demo"), work.to_str().unwrap()])
            .ok();
        let principal = format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/{session}");
        let extra: Vec<&str> = match policy {
            Some(p) => vec!["--session-policy", p],
            None => vec![],
        };
        let mut allowed = 0;
        for reference in ["refs/heads/main", "refs/heads/hotfix/1", "refs/tags/v2"] {
            let pushed = push(server, &work, git, reference);
            let simulated = simulate_push(root, &principal, reference, &extra);
            assert_eq!(
                pushed,
                simulated,
                "session {session} pushing {reference}: server vs simulate\n{}",
                server.log()
            );
            allowed += usize::from(pushed);
        }
        // Without a session policy everything; with it, only the hotfix.
        assert_eq!(allowed, if policy.is_some() { 1 } else { 3 }, "{session}");
    }
}

#[test]
fn simulate_config_output_and_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_config(root);
    std::fs::create_dir_all(root.join("repos")).unwrap();
    let alice = arn("user", "alice");
    let base = [
        "policy",
        "simulate",
        "--config",
        "gitiam.toml",
        "--principal",
        &alice,
        "--action",
        "codecommit:GitPush",
        "--resource",
        REPO,
        "--context",
        "codecommit:References=refs/heads/main",
    ];
    let run = gitiam(root, &base).assert_code(2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "explicitDeny");
    assert_eq!(
        lines[1],
        "denied by policies/developers.json statement DenyPushToMain (Deny)"
    );
    // The statement's place in its file.
    assert_eq!(lines[2], "  at policies/developers.json:10:5-19:5");

    let mut json_args = base.to_vec();
    json_args.push("--json");
    let run = gitiam(root, &json_args).assert_code(2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let r = &v["EvaluationResults"][0];
    assert_eq!(r["EvalDecision"], "explicitDeny");
    assert_eq!(r["EvalActionName"], "codecommit:GitPush");
    assert_eq!(r["EvalResourceName"], REPO);
    let m = &r["MatchedStatements"][0];
    assert_eq!(m["SourcePolicyId"], "policies/developers.json");
    assert_eq!(m["Sid"], "DenyPushToMain");
    assert_eq!(m["StartPosition"]["Line"], 10);
    assert_eq!(m["EndPosition"]["Line"], 19);
    // The server's keys for a user are in the context.
    let keys: Vec<&str> = r["ContextEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ContextKeyName"].as_str().unwrap())
        .collect();
    for k in [
        "aws:username",
        "aws:userid",
        "aws:PrincipalType",
        "aws:CurrentTime",
        "aws:RequestedRegion",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }

    // Without the ref, bob's push condition key is missing.
    let bob = arn("user", "bob");
    let run = gitiam(
        root,
        &[
            "policy",
            "simulate",
            "--config",
            "gitiam.toml",
            "--principal",
            &bob,
            "--action",
            "codecommit:GitPush",
            "--resource",
            REPO,
            "--json",
        ],
    )
    .assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["EvaluationResults"][0]["MissingContextValues"],
        serde_json::json!(["codecommit:References"])
    );

    // A role: a session of it.
    let run = gitiam(
        root,
        &[
            "policy",
            "simulate",
            "--config",
            "gitiam.toml",
            "--principal",
            &arn("role", "deployer"),
            "--action",
            "codecommit:GitPush",
            "--resource",
            REPO,
        ],
    )
    .assert_code(0);
    run.assert_stdout_contains("allowed by policies/deployer.json statement Deploy (Allow)");
    // With a session policy (parsed as one: a `Principal` in it is an
    // error): its statements are reported as the session policy's.
    write(
        root,
        "session.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"OnlyPull","Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#,
    );
    let deployer = arn("role", "deployer");
    let session_args = [
        "policy",
        "simulate",
        "--config",
        "gitiam.toml",
        "--principal",
        &deployer,
        "--action",
        "codecommit:GitPull",
        "--resource",
        REPO,
        "--session-policy",
        "session.json",
        "--json",
    ];
    let run = gitiam(root, &session_args).assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let types: Vec<(&str, &str)> = v["EvaluationResults"][0]["MatchedStatements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["SourcePolicyId"].as_str().unwrap(),
                m["SourcePolicyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        types.contains(&("session.json", "SESSION POLICY"))
            && types.contains(&("policies/deployer.json", "IAM Policy")),
        "{types:?}"
    );
    write(
        root,
        "session.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"codecommit:GitPull","Resource":"*"}]}"#,
    );
    gitiam(root, &session_args)
        .assert_code(3)
        .assert_stderr_contains("not allowed in a session policy");

    // Usage and configuration errors: 3.
    let mut with_policy = base.to_vec();
    with_policy.extend(["--policy", "policies/developers.json"]);
    gitiam(root, &with_policy)
        .assert_code(3)
        .assert_stderr_contains("cannot be combined with --policy");
    let ghost = arn("user", "ghost");
    // (config, principal, resource, what stderr says)
    let cases = [
        (
            "gitiam.toml",
            ghost.as_str(),
            REPO,
            "is not defined in the configuration",
        ),
        // A repository name where an ARN belongs: a usage error, not a deny.
        (
            "gitiam.toml",
            alice.as_str(),
            "demo",
            "--resource \"demo\": expected an ARN",
        ),
        ("missing.toml", alice.as_str(), REPO, "missing.toml"),
    ];
    for (config, principal, resource, says) in cases {
        gitiam(
            root,
            &[
                "policy",
                "simulate",
                "--config",
                config,
                "--principal",
                principal,
                "--action",
                "codecommit:GitPull",
                "--resource",
                resource,
            ],
        )
        .assert_code(3)
        .assert_stderr_contains(says);
    }
    let mut user_session = base.to_vec();
    user_session.extend(["--session-policy", "policies/deployer.json"]);
    gitiam(root, &user_session)
        .assert_code(3)
        .assert_stderr_contains("role sessions only");
}

fn who_can(dir: &Path, action: &str, resource: &str, context: &[&str], json: bool) -> Run {
    let mut args = vec![
        "access",
        "who-can",
        "--config",
        "gitiam.toml",
        "--action",
        action,
        "--resource",
        resource,
    ];
    for c in context {
        args.extend(["--context", c]);
    }
    if json {
        args.push("--json");
    }
    gitiam(dir, &args).assert_code(0)
}

#[test]
fn who_can_lists_principals_and_chains() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_config(root);
    std::fs::create_dir_all(root.join("repos")).unwrap();
    let (carol, partner) = (
        arn("user", "carol"),
        format!("arn:aws:iam::{PARTNER_ACCOUNT}:user/partner"),
    );
    let (deployer, ci) = (arn("role", "deployer"), arn("role", "ci"));

    // Push to main: only the deployer role, reached three ways.
    let run = who_can(
        root,
        "codecommit:GitPush",
        REPO,
        &["codecommit:References=refs/heads/main"],
        false,
    );
    let expected = format!(
        "{deployer}
  via {carol} -> {deployer}
  via {partner} -> {deployer} [when StringEquals {{\"sts:ExternalId\": \"partner-7\"}}]
  via {OIDC} -> {ci} [when StringEquals {{\"token.example.test:aud\": \"sts.amazonaws.com\"}}; StringLike {{\"token.example.test:sub\": \"repo:org/app:*\"}}] -> {deployer}
"
    );
    assert_eq!(run.stdout, expected);

    // Push to a feature branch: alice through her group, and the deployer.
    let run = who_can(
        root,
        "codecommit:GitPush",
        REPO,
        &["codecommit:References=refs/heads/feature"],
        true,
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let principals: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["principal"].as_str().unwrap())
        .collect();
    assert_eq!(principals, [arn("user", "alice"), deployer.clone()]);
    assert_eq!(
        v[0]["statements"],
        serde_json::json!([{"policy": "policies/developers.json", "sid": "PullAndPush"}])
    );
    assert_eq!(v[0]["via"], serde_json::json!([]));
    assert_eq!(
        v[1]["via"],
        serde_json::json!([[carol, deployer], [partner, deployer], [OIDC, ci, deployer]])
    );

    // A release branch: bob too; pulls: everyone with a Git policy.
    let run = who_can(
        root,
        "codecommit:GitPush",
        REPO,
        &["codecommit:References=refs/heads/release/2.0"],
        false,
    );
    let tops: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        tops,
        [arn("user", "alice"), arn("user", "bob"), deployer.clone()]
    );
    let run = who_can(root, "codecommit:GitPull", REPO, &[], false);
    let tops: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        tops,
        [
            arn("user", "alice"),
            arn("user", "bob"),
            ci.clone(),
            deployer.clone()
        ]
    );

    // Who can assume the deployer role: the edges into it.
    let run = who_can(root, "sts:AssumeRole", &deployer, &[], false);
    let tops: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(tops, [carol.as_str(), partner.as_str(), ci.as_str()]);
    // A role caller's `via` starts where its sessions come from: the
    // identity provider, then the CI role, then the deployer.
    let ci_via: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != ci)
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .collect();
    assert_eq!(ci_via.len(), 1, "{}", run.stdout);
    assert!(
        ci_via[0].starts_with(&format!("  via {OIDC} -> {ci} [when "))
            && ci_via[0].ends_with(&format!("] -> {deployer}")),
        "{}",
        run.stdout
    );
    // And the CI role through web identity.
    let run = who_can(root, "sts:AssumeRoleWithWebIdentity", &ci, &[], false);
    assert!(
        run.stdout
            .starts_with(&format!("{OIDC}\n  via {OIDC} -> {ci} [when ")),
        "{}",
        run.stdout
    );

    // A resource that is not an ARN is a usage error, not an empty answer.
    gitiam(
        root,
        &[
            "access",
            "who-can",
            "--config",
            "gitiam.toml",
            "--action",
            "codecommit:GitPull",
            "--resource",
            "demo",
        ],
    )
    .assert_code(3)
    .assert_stderr_contains("--resource \"demo\": expected an ARN");

    // A bad configuration: 3, with the place.
    write(root, "bad.toml", "[[accounts]]\nid = \"12\"\n");
    gitiam(
        root,
        &[
            "access",
            "who-can",
            "--config",
            "bad.toml",
            "--action",
            "codecommit:GitPull",
            "--resource",
            REPO,
        ],
    )
    .assert_code(3)
    .assert_stderr_contains("bad.toml:2:");
}

/// Copies the configuration folder `from` into a new folder `to`.
fn copy_config(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("policies")).unwrap();
    std::fs::create_dir_all(to.join("repos")).unwrap();
    std::fs::copy(from.join("gitiam.toml"), to.join("gitiam.toml")).unwrap();
    for entry in std::fs::read_dir(from.join("policies")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("policies").join(entry.file_name())).unwrap();
    }
}

/// `gitiam access diff --config new/gitiam.toml --against old/gitiam.toml`.
fn diff(root: &Path, new: &str, old: &str) -> Run {
    let (new, old) = (format!("{new}/gitiam.toml"), format!("{old}/gitiam.toml"));
    gitiam(
        root,
        &["access", "diff", "--config", &new, "--against", &old],
    )
}

/// Replaces `from` with `to` in `dir/file`; `from` must be there.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    write(dir, file, &text.replace(from, to));
}

fn lines(run: &Run) -> Vec<String> {
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn diff_reports_gains_and_removals() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let old = root.join("old");
    write_config(&old);
    std::fs::create_dir_all(old.join("repos")).unwrap();
    let variant = |name: &str, edit: &dyn Fn(&Path)| -> PathBuf {
        let dir = root.join(name);
        copy_config(&old, &dir);
        edit(&dir);
        dir
    };
    let (alice, bob) = (arn("user", "alice"), arn("user", "bob"));
    let partner = format!("arn:aws:iam::{PARTNER_ACCOUNT}:user/partner");
    let deployer = arn("role", "deployer");

    // Unchanged, and reformatted but equivalent: quiet, 0.
    let same = diff(root, "old", "old").assert_code(0);
    assert_eq!(same.stdout, "");
    variant("reformatted", &|d| {
        write(d, "policies/developers.json", DEVELOPERS_REFORMATTED)
    });
    let run = diff(root, "reformatted", "old").assert_code(0);
    assert_eq!(run.stdout, "");

    // A new grant hidden in a group policy: pushing to main.
    variant("group", &|d| {
        let text = DEVELOPERS.replace("\"refs/heads/main\"", "\"refs/heads/master\"");
        write(d, "policies/developers.json", &text);
    });
    let run = diff(root, "group", "old").assert_code(1);
    let got = lines(&run);
    assert!(
        got.contains(&format!(
            "+ {alice} codecommit:GitPush {REPO} refs/heads/main"
        )),
        "{got:#?}"
    );
    // ... and master, named by the new policy, is now protected.
    assert!(
        got.contains(&format!(
            "- {alice} codecommit:GitPush {REPO} refs/heads/master"
        )),
        "{got:#?}"
    );

    // A loosened condition: bob may push any branch.
    variant("loosened", &|d| {
        write(
            d,
            "policies/release.json",
            &RELEASE.replace("refs/heads/release/*", "refs/heads/*"),
        );
    });
    let run = diff(root, "loosened", "old").assert_code(1);
    let got = lines(&run);
    assert!(
        got.contains(&format!(
            "+ {bob} codecommit:GitPush {REPO} refs/heads/feature"
        )) || got
            .iter()
            .any(|l| l.starts_with(&format!("+ {bob} codecommit:GitPush {REPO} refs/heads/"))),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .all(|l| l.starts_with(&format!("+ {bob} codecommit:GitPush {REPO} refs/heads/"))),
        "{got:#?}"
    );
    assert!(!got.iter().any(|l| l.contains("refs/tags/")), "{got:#?}");

    // A widened trust policy: the partner no longer needs the external id.
    variant("trust", &|d| {
        let text = DEPLOYER_TRUST.replace(
            r#",
      "Condition": { "StringEquals": { "sts:ExternalId": "partner-7" } }"#,
            "",
        );
        assert_ne!(text, DEPLOYER_TRUST);
        write(d, "policies/deployer-trust.json", &text);
    });
    let run = diff(root, "trust", "old").assert_code(1);
    assert_eq!(
        lines(&run),
        [
            format!("+ {partner} sts:AssumeRole {deployer}"),
            format!(
                "- {partner} sts:AssumeRole {deployer} [when StringEquals {{\"sts:ExternalId\": \"partner-7\"}}]"
            ),
        ]
    );
    // The reverse tightens: nothing gained.
    let run = diff(root, "old", "trust").assert_code(0);
    assert_eq!(
        lines(&run),
        [format!(
            "~ {partner} sts:AssumeRole {deployer} [when StringEquals {{\"sts:ExternalId\": \"partner-7\"}}]"
        )]
    );

    // A second way in, added beside the first: the partner may also come
    // with another external id. Nothing was loosened, yet more callers get
    // in: a gain.
    let other_partner_statement = r#"{
      "Sid": "PartnerOther",
      "Effect": "Allow",
      "Principal": { "AWS": "444455556666" },
      "Action": "sts:AssumeRole",
      "Condition": { "StringEquals": { "sts:ExternalId": "other-9" } }
    },"#;
    let two_ways = DEPLOYER_TRUST.replace(
        r#""Statement": ["#,
        &format!("\"Statement\": [\n    {other_partner_statement}"),
    );
    assert_ne!(two_ways, DEPLOYER_TRUST);
    variant("second-way", &|d| {
        write(d, "policies/deployer-trust.json", &two_ways)
    });
    let run = diff(root, "second-way", "old").assert_code(1);
    let partner_7 = r#"[when StringEquals {"sts:ExternalId": "partner-7"}]"#;
    let other_9 = r#"[when StringEquals {"sts:ExternalId": "other-9"}]"#;
    assert_eq!(
        lines(&run),
        [
            format!("+ {partner} sts:AssumeRole {deployer} {other_9} or {partner_7}"),
            format!("- {partner} sts:AssumeRole {deployer} {partner_7}"),
        ]
    );
    // The same two statements in the other order: the same access, quiet.
    let reordered = DEPLOYER_TRUST.replace(
        r#"
    { "Sid": "FromCi","#,
        &format!(
            "\n    {}\n    {{ \"Sid\": \"FromCi\",",
            other_partner_statement
        ),
    );
    assert_ne!(reordered, DEPLOYER_TRUST);
    variant("second-way-reordered", &|d| {
        write(d, "policies/deployer-trust.json", &reordered)
    });
    let run = diff(root, "second-way-reordered", "second-way").assert_code(0);
    assert_eq!(run.stdout, "");

    // Refs come from string conditions only: alice losing her group loses
    // every representative ref, and no ref named "false" (the value of the
    // group policy's `Null` condition).
    variant("no-group", &|d| {
        edit(d, "gitiam.toml", "groups = [\"developers\"]\n", "")
    });
    let run = diff(root, "no-group", "old").assert_code(0);
    let got = lines(&run);
    assert!(
        got.contains(&format!(
            "- {alice} codecommit:GitPush {REPO} refs/heads/gitiam-review-other"
        )),
        "{got:#?}"
    );
    assert!(!got.iter().any(|l| l.ends_with(" false")), "{got:#?}");

    // A new role chain: the deployer may become a new admin role.
    variant("chain", &|d| {
        edit(
            d,
            "gitiam.toml",
            "[[accounts.oidc_providers]]",
            "[[accounts.roles]]\nname = \"admin\"\ntrust_policy = \"policies/admin-trust.json\"\n\n[[accounts.oidc_providers]]",
        );
        write(
            d,
            "policies/admin-trust.json",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/deployer"},"Action":"sts:AssumeRole"}]}"#,
        );
        // The deployer's own policy must allow it too (the trust policy
        // names the role, not its sessions).
        let text = DEPLOYER.replace(
            r#"}
  ]"#,
            r#"},
    { "Sid": "BecomeAdmin", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::111122223333:role/admin" }
  ]"#,
        );
        assert_ne!(text, DEPLOYER);
        write(d, "policies/deployer.json", &text);
    });
    let run = diff(root, "chain", "old").assert_code(1);
    assert_eq!(
        lines(&run),
        [format!(
            "+ {deployer} sts:AssumeRole {}",
            arn("role", "admin")
        )]
    );

    // Removals only: 0, every line `-`.
    variant("removed", &|d| {
        edit(
            d,
            "gitiam.toml",
            "policies = [\"policies/release.json\"]\n",
            "",
        )
    });
    let run = diff(root, "removed", "old").assert_code(0);
    let got = lines(&run);
    assert!(!got.is_empty());
    assert!(
        got.iter()
            .all(|l| l.starts_with(&format!("- {bob} codecommit:Git"))),
        "{got:#?}"
    );
    assert!(
        got.contains(&format!("- {bob} codecommit:GitPull {REPO}")),
        "{got:#?}"
    );

    // JSON.
    let run = gitiam(
        root,
        &[
            "access",
            "diff",
            "--config",
            "trust/gitiam.toml",
            "--against",
            "old/gitiam.toml",
            "--json",
        ],
    )
    .assert_code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["change"], "+");
    assert_eq!(v[0]["action"], "sts:AssumeRole");
    // Conditions are alternatives, each a list that must all hold.
    assert_eq!(
        v[1]["conditions"],
        serde_json::json!([["StringEquals {\"sts:ExternalId\": \"partner-7\"}"]])
    );

    // Usage: neither --against nor --against-git.
    gitiam(root, &["access", "diff", "--config", "old/gitiam.toml"]).assert_code(3);
}

#[test]
fn diff_against_a_git_revision() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_config(root);
    std::fs::create_dir_all(root.join("repos")).unwrap();
    git_ok(root, &["init", "-q", "-b", "main"]);
    git_ok(root, &["add", "gitiam.toml", "policies"]);
    git_ok(root, &["commit", "-q", "-m", "policies"]);
    let against = [
        "access",
        "diff",
        "--config",
        "gitiam.toml",
        "--against-git",
        "HEAD",
    ];
    assert_eq!(gitiam(root, &against).assert_code(0).stdout, "");
    write(
        root,
        "policies/release.json",
        &RELEASE.replace("refs/heads/release/*", "refs/*"),
    );
    let run = gitiam(root, &against).assert_code(1);
    assert!(
        run.stdout.lines().any(|l| l.starts_with(&format!(
            "+ {} codecommit:GitPush {REPO} refs/tags/",
            arn("user", "bob")
        ))),
        "{}",
        run.stdout
    );
    gitiam(
        root,
        &[
            "access",
            "diff",
            "--config",
            "gitiam.toml",
            "--against-git",
            "no-such-rev",
        ],
    )
    .assert_code(3)
    .assert_stderr_contains("--against-git no-such-rev");
}
