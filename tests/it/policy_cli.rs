//! `gitiam policy validate` and `gitiam policy simulate`, run as the real
//! binary: stdout and exit codes.

use crate::common::{self, CommandExt as _, Run};

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the real `gitiam ARGS` from the package root.
fn gitiam(args: &[&str]) -> Run {
    let run = Command::new(env!("CARGO_BIN_EXE_gitiam"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .run();
    run.check(run.status.code().is_some(), "killed by a signal");
    run.check(
        std::str::from_utf8(&run.stdout_bytes).is_ok(),
        "stdout is not UTF-8",
    );
    run
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn example_policies() -> Vec<PathBuf> {
    common::json_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
}

#[test]
fn every_example_policy_is_valid() {
    let files = example_policies();
    assert!(files.len() >= 7, "policies/ is missing examples");
    let args: Vec<&str> = ["policy", "validate"]
        .into_iter()
        .chain(files.iter().map(|f| f.to_str().unwrap()))
        .collect();
    let run = gitiam(&args);
    let run = run.assert_code(0);
    for f in &files {
        let line = format!("{}: ok (", f.display());
        assert!(
            run.stdout.contains(&line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
    run.check(!run.stdout.contains(": error:"), "unexpected stdout");
    run.check(!run.stdout.contains(": warning:"), "unexpected stdout");
    run.check(
        run.stdout.contains("ci-oidc-trust.json: ok (trust policy)"),
        "unexpected stdout",
    );
    run.check(
        run.stdout
            .contains("push-not-main.json: ok (identity policy)"),
        "unexpected stdout",
    );
}

#[test]
fn syntax_error_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "broken.json",
        "{\n  \"Version\": \"2012-10-17\"\n  \"Statement\": []\n}\n",
    );
    let run = gitiam(&["policy", "validate", &f]);
    let run = run.assert_code(1);
    let first = run.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!("{f}:3:3: JSON syntax error: expected `,` or `}}`")
    );
}

#[test]
fn findings_name_statement_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad.json",
        r#"{
  "Version": "2012-10-17",
  "Statment": [],
  "Statement": [
    {"Sid": "A", "Effect": "allow", "Action": "codecommit:GitPull", "Resources": "*"},
    {"Sid": "A", "Effect": "Deny", "Action": "codecommit:GitPush", "Resource": "arn:aws:codecommit:us-east-1:repo"},
    {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "codecommit:GitPull", "Resource": "*",
     "Condition": {"StringEqual": {"aws:username": "alice"}}},
    {"Sid": "Both", "Effect": "Allow", "Action": "codecommit:GitPull", "NotAction": "codecommit:GitPush", "Resource": "*"},
    {"Sid": "NoAction", "Effect": "Allow", "Resource": "*"}
  ]
}"#,
    );
    let run = gitiam(&["policy", "validate", &f]);
    let run = run.assert_code(1);
    let expected = [
        "error: Statment: unknown top-level key \"Statment\" (did you mean \"Statement\"?)",
        "error: statement A: Resources: unknown statement key \"Resources\" (did you mean \"Resource\"?)",
        "error: statement A: Effect: Effect must be exactly \"Allow\" or \"Deny\", found \"allow\" (did you mean \"Allow\"?)",
        "error: statement A: Resource: missing Resource (or NotResource)",
        "error: statement A: Sid: duplicate Sid \"A\" (statement #0 has it too)",
        "error: statement A: Resource: \"arn:aws:codecommit:us-east-1:repo\" is not an ARN",
        "error: statement #2: Principal: Principal is not allowed in an identity policy",
        "error: statement #2: Condition.StringEqual: unknown condition operator \"StringEqual\" (did you mean \"StringEquals\"?)",
        "error: statement Both: Action: a statement cannot have both Action and NotAction",
        "error: statement NoAction: Action: missing Action (or NotAction)",
    ];
    for e in expected {
        let line = format!("{f}: {e}");
        assert!(
            run.stdout.lines().any(|l| l.starts_with(&line)),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
    run.check(
        run.stdout
            .contains("1 file checked: 0 valid, 1 invalid (10 errors, 0 warnings)"),
        "unexpected stdout",
    );
}

#[test]
fn unknown_actions_are_warnings_with_the_closest_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "typo.json",
        r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "Push", "Effect": "Allow", "Action": ["codecommit:GitPsh", "sts:AssumeRol", "codecommit:Frobnicate*"], "Resource": "*"}
        ]}"#,
    );
    let run = gitiam(&["policy", "validate", &f]);
    run.check(
        run.status.code() == Some(0),
        "warnings alone keep a file valid",
    );
    for w in [
        "warning: statement Push: Action: unknown action \"codecommit:GitPsh\" (did you mean \"codecommit:GitPush\"?)",
        "warning: statement Push: Action: unknown action \"sts:AssumeRol\" (did you mean \"sts:AssumeRole\"?)",
        "warning: statement Push: Action: \"codecommit:Frobnicate*\" matches no known codecommit action",
    ] {
        assert!(
            run.stdout.contains(&format!("{f}: {w}")),
            "missing {w:?} in\n{}",
            run.stdout
        );
    }
    run.assert_stdout_contains(&format!("{f}: ok (identity policy)"));
}

#[test]
fn validate_checks_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad1 = write(dir.path(), "a.json", "{\"Version\": }");
    let good = write(
        dir.path(),
        "b.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*"}}"#,
    );
    let bad2 = write(
        dir.path(),
        "c.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Permit", "Action": "codecommit:GitPull", "Resource": "*"}}"#,
    );
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    let run = gitiam(&["policy", "validate", &bad1, &good, &bad2, missing]);
    let run = run.assert_code(1);
    run.check(
        run.stdout
            .contains(&format!("{bad1}:1:13: JSON syntax error: expected value")),
        "unexpected stdout",
    );
    run.check(
        run.stdout.contains(&format!("{good}: ok")),
        "unexpected stdout",
    );
    run.check(
        run.stdout
            .contains(&format!("{bad2}: error: statement #0: Effect:")),
        "unexpected stdout",
    );
    run.check(
        run.stdout
            .contains(&format!("{missing}: error: cannot read")),
        "unexpected stdout",
    );
    run.check(
        run.stdout.contains("4 files checked: 1 valid, 3 invalid"),
        "unexpected stdout",
    );
}

#[test]
fn trust_policy_kind_is_guessed_or_forced() {
    let dir = tempfile::tempdir().unwrap();
    let trust = write(
        dir.path(),
        "trust.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole"}}"#,
    );
    let run = gitiam(&["policy", "validate", &trust]);
    let run = run.assert_code(0);
    run.assert_stdout_contains("ok (trust policy)");
    let run = gitiam(&["policy", "validate", "--kind", "identity", &trust]);
    let run = run.assert_code(1);
    assert!(
        run.stdout
            .contains("Principal is not allowed in an identity policy")
    );
    run.assert_stdout_contains("missing Resource");
}

const REPO: &str = "arn:aws:codecommit:us-east-1:111122223333:MyDemoRepo";

#[test]
fn simulate_allowed() {
    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        "policies/push-not-main.json",
        "--action",
        "codecommit:GitPush",
        "--resource",
        REPO,
        "--context",
        "codecommit:References=refs/heads/feature",
    ]);
    let run = run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "allowed");
    assert_eq!(
        lines[1],
        "allowed by policies/push-not-main.json statement PullAndPush (Allow)"
    );
}

#[test]
fn simulate_explicit_deny_with_multi_valued_context() {
    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        "policies/read-only-developer.json",
        "--policy",
        "policies/push-not-main.json",
        "--action",
        "codecommit:GitPush",
        "--resource",
        REPO,
        "--context",
        "codecommit:References=refs/heads/feature",
        "--context",
        "codecommit:References=refs/heads/main",
    ]);
    let run = run.assert_code(2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "explicitDeny");
    assert_eq!(
        lines[1],
        "denied by policies/push-not-main.json statement DenyChangesToMain (Deny)"
    );
    run.check(run.stdout.contains(
            "condition StringEqualsIfExists {\"codecommit:References\": \"refs/heads/main\"}: true (codecommit:References = [\"refs/heads/feature\", \"refs/heads/main\"])"
        ), "unexpected stdout");
}

#[test]
fn simulate_implicit_deny_explains_near_misses() {
    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        "policies/deployer-trust.json",
        "--action",
        "sts:AssumeRole",
        "--resource",
        "arn:aws:iam::111122223333:role/deployer",
        "--principal",
        "arn:aws:sts::444455556666:assumed-role/pipeline/run-1",
    ]);
    let run = run.assert_code(2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "implicitDeny");
    assert_eq!(
        lines[1],
        "no statement allows sts:AssumeRole on arn:aws:iam::111122223333:role/deployer"
    );
    run.check(run.stdout
            .contains("condition StringEquals {\"sts:ExternalId\": \"deploy-7f3a9c2e\"}: false (sts:ExternalId is absent)"), "unexpected stdout");

    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        "policies/deployer-trust.json",
        "--action",
        "sts:AssumeRole",
        "--resource",
        "arn:aws:iam::111122223333:role/deployer",
        "--principal",
        "arn:aws:sts::444455556666:assumed-role/pipeline/run-1",
        "--context",
        "sts:ExternalId=deploy-7f3a9c2e",
    ]);
    let run = run.assert_code(0);
    assert_eq!(run.stdout.lines().next(), Some("allowed"));
}

#[test]
fn simulate_json() {
    let run = gitiam(&[
        "policy",
        "simulate",
        "--json",
        "--policy",
        "policies/push-not-main.json",
        "--action",
        "codecommit:GitPush",
        "--resource",
        REPO,
        "--context",
        "codecommit:References=refs/heads/main",
    ]);
    let run = run.assert_code(2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(v["decision"], "explicitDeny");
    assert_eq!(v["deciding"][0]["policy"], "policies/push-not-main.json");
    assert_eq!(v["deciding"][0]["statement"], "DenyChangesToMain");
    assert_eq!(v["context"]["codecommit:References"][0], "refs/heads/main");
    assert!(v["statements"].as_array().unwrap().len() == 2);
}

#[test]
fn simulate_rejects_invalid_policies_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*", "Condition": {"StringEqual": {"a:b": "c"}}}}"#,
    );
    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        &bad,
        "--action",
        "codecommit:GitPull",
        "--resource",
        REPO,
    ]);
    let run = run.assert_code(3);
    run.check(run.stdout.is_empty(), "unexpected stdout");
    assert!(
        run.stderr.contains("unknown condition operator"),
        "{}",
        run.stderr
    );

    let syntax = write(dir.path(), "syntax.json", "{\n\"Version\" 1}");
    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        &syntax,
        "--action",
        "codecommit:GitPull",
        "--resource",
        REPO,
    ]);
    let run = run.assert_code(3);
    assert!(
        run.stderr
            .contains(&format!("{syntax}:2:11: JSON syntax error")),
        "{}",
        run.stderr
    );

    let good = "policies/admin.json";
    for args in [
        vec!["--action", "GitPull", "--resource", REPO],
        vec!["--action", "codecommit:GitPull", "--resource", "MyDemoRepo"],
        vec![
            "--action",
            "codecommit:GitPull",
            "--resource",
            REPO,
            "--context",
            "novalue",
        ],
        vec![
            "--action",
            "codecommit:GitPull",
            "--resource",
            REPO,
            "--principal",
            "alice",
        ],
        vec!["--resource", REPO],
        vec!["--action", "codecommit:GitPull"],
    ] {
        let mut all = vec!["policy", "simulate", "--policy", good];
        all.extend(args.iter());
        let run = gitiam(&all);
        run.check(
            run.status.code() == Some(3),
            format_args!("{args:?}: expected exit code 3"),
        );
    }
    let run = gitiam(&[
        "policy",
        "simulate",
        "--action",
        "codecommit:GitPull",
        "--resource",
        REPO,
    ]);
    let run = run.assert_code(3);
    assert!(run.stderr.contains("--policy FILE is required"));

    // A typo in a flag is a usage error (3), never read as a deny (2).
    let run = gitiam(&[
        "policy",
        "simulate",
        "--policy",
        good,
        "--actoin",
        "codecommit:GitPull",
    ]);
    let run = run.assert_code(3);
    assert!(run.stderr.contains("--actoin"), "{}", run.stderr);
    let run = gitiam(&["policy", "simulate", "--help"]);
    run.assert_code(0);
}

#[test]
fn simulate_session_policy_and_boundary_layers() {
    let dir = tempfile::tempdir().unwrap();
    let session = write(
        dir.path(),
        "session.json",
        r#"{"Version": "2012-10-17", "Statement": {"Sid": "OnlyPull", "Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*"}}"#,
    );
    let base = [
        "policy",
        "simulate",
        "--policy",
        "policies/admin.json",
        "--session-policy",
        &session,
        "--resource",
        REPO,
    ];
    let mut pull = base.to_vec();
    pull.extend(["--action", "codecommit:GitPull"]);
    let run = gitiam(&pull);
    run.assert_code(0);
    let mut push = base.to_vec();
    push.extend(["--action", "codecommit:GitPush"]);
    let run = gitiam(&push);
    let run = run.assert_code(2);
    run.check(
        run.stdout
            .contains("no statement in the session policies allows codecommit:GitPush"),
        "unexpected stdout",
    );
}

#[test]
fn help_documents_every_flag() {
    let run = gitiam(&["policy", "simulate", "--help"]);
    let run = run.assert_code(0);
    for flag in [
        "--policy",
        "--session-policy",
        "--boundary",
        "--action",
        "--resource",
        "--principal",
        "--context",
        "--json",
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} missing from help:\n{}", run.stdout));
        assert!(
            line.trim().len() > flag.len() + 10,
            "{flag} has no help text: {line:?}"
        );
    }
    let run = gitiam(&["policy", "validate", "--help"]);
    let run = run.assert_code(0);
    run.assert_stdout_contains("--kind");
}
