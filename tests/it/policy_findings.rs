//! `gitiam policy validate` findings with IAM Access Analyzer's finding
//! types and issue codes, on purpose-built bad policies: text, `--json`,
//! and `--config` (every referenced policy, checked as what it is used
//! as there). Exit 1 only on errors.

use std::path::Path;
use std::process::Command;

use crate::common::server::write;
use crate::common::{self, CommandExt as _, Run};

fn gitiam(cwd: &Path, args: &[&str]) -> Run {
    Command::new(common::bin("gitiam"))
        .args(args)
        .current_dir(cwd)
        .run()
}

/// `(findingType, issueCode, statement)` of every finding of the one file.
fn findings(run: &Run) -> Vec<(String, String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    v[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["findingType"].as_str().unwrap().to_string(),
                f["issueCode"].as_str().unwrap().to_string(),
                f["statement"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn has(
    all: &[(String, String, Option<String>)],
    t: &str,
    code: &str,
    statement: Option<&str>,
) -> bool {
    all.iter()
        .any(|(ft, c, s)| ft == t && c == code && s.as_deref() == statement)
}

#[test]
fn identity_policy_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // No Version; a redundant action and resource; a wildcard compared with
    // StringEquals; a numeric operator on a string key; ForAllValues
    // without a Null check; a statement repeated under another Sid.
    write(
        dir,
        "sloppy.json",
        r#"{
  "Statement": [
    {
      "Sid": "Push",
      "Effect": "Allow",
      "Action": ["codecommit:Git*", "codecommit:GitPush"],
      "Resource": ["arn:aws:codecommit:us-east-1:111122223333:*", "arn:aws:codecommit:us-east-1:111122223333:web"],
      "Condition": { "StringEquals": { "codecommit:References": "refs/heads/feature/*" } }
    },
    {
      "Sid": "Tags",
      "Effect": "Allow",
      "Action": "codecommit:GitPull",
      "Resource": "*",
      "Condition": {
        "NumericLessThan": { "aws:username": "5" },
        "ForAllValues:StringEquals": { "aws:TagKeys": ["team"] }
      }
    },
    {
      "Sid": "PushAgain",
      "Effect": "Allow",
      "Action": ["codecommit:Git*", "codecommit:GitPush"],
      "Resource": ["arn:aws:codecommit:us-east-1:111122223333:*", "arn:aws:codecommit:us-east-1:111122223333:web"],
      "Condition": { "StringEquals": { "codecommit:References": "refs/heads/feature/*" } }
    }
  ]
}"#,
    );
    let run = gitiam(dir, &["policy", "validate", "--json", "sloppy.json"]);
    // Warnings and suggestions alone: valid.
    let run = run.assert_code(0);
    let all = findings(&run);
    for (t, code, statement) in [
        ("WARNING", "MISSING_VERSION", None),
        ("SUGGESTION", "REDUNDANT_ACTION", Some("Push")),
        ("SUGGESTION", "REDUNDANT_RESOURCE", Some("Push")),
        ("WARNING", "WILDCARD_WITHOUT_LIKE_OPERATOR", Some("Push")),
        ("WARNING", "TYPE_MISMATCH", Some("Tags")),
        (
            "SECURITY_WARNING",
            "FOR_ALL_VALUES_WITHOUT_NULL",
            Some("Tags"),
        ),
        ("SUGGESTION", "REDUNDANT_STATEMENT", Some("PushAgain")),
    ] {
        assert!(
            has(&all, t, code, statement),
            "{t} {code} {statement:?} missing: {all:#?}"
        );
    }
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let redundant = v[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["issueCode"] == "REDUNDANT_ACTION")
        .unwrap();
    assert_eq!(
        redundant["findingDetails"],
        "\"codecommit:GitPush\" is already covered by \"codecommit:Git*\": remove it"
    );
    // The statement's place in the file.
    assert_eq!(
        redundant["location"],
        serde_json::json!({"line": 3, "column": 5})
    );

    // Text: one line per finding with its code.
    let run = gitiam(dir, &["policy", "validate", "sloppy.json"]).assert_code(0);
    run.assert_stdout_contains(
        "sloppy.json: suggestion: statement Push: Action: \"codecommit:GitPush\" is already covered by \"codecommit:Git*\": remove it [REDUNDANT_ACTION]",
    );
    run.assert_stdout_contains("sloppy.json: security warning: statement Tags: ");
    run.assert_stdout_contains("sloppy.json: ok (identity policy)");

    // Errors have codes too, and make the file invalid.
    write(
        dir,
        "broken.json",
        r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Permit", "Action": "codecommit:GitPull", "Resource": "*"},
            {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "codecommit:GitPull", "Resource": "*"},
            {"Sid": "C", "Effect": "Allow", "Action": [], "Resource": "*"}
        ]}"#,
    );
    let run = gitiam(dir, &["policy", "validate", "--json", "broken.json"]).assert_code(1);
    let all = findings(&run);
    assert!(
        has(&all, "ERROR", "DATA_TYPE_MISMATCH", Some("A"))
            || has(&all, "ERROR", "INVALID_EFFECT", Some("A")),
        "{all:#?}"
    );
    assert!(
        has(&all, "ERROR", "UNIQUE_SIDS_REQUIRED", Some("A")),
        "{all:#?}"
    );
    assert!(
        has(&all, "ERROR", "UNSUPPORTED_PRINCIPAL", Some("A")),
        "{all:#?}"
    );
    assert!(
        has(&all, "ERROR", "EMPTY_ARRAY_ACTION", Some("C")),
        "{all:#?}"
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[0]["kind"], "identity");
}

const OPEN_OIDC_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AnyRepository",
      "Effect": "Allow",
      "Principal": { "Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" },
      "Action": "sts:AssumeRoleWithWebIdentity"
    }
  ]
}"#;

/// Access Analyzer's security warning; an error for gitiam.
const NOT_PRINCIPAL_TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllButOne",
      "Effect": "Allow",
      "NotPrincipal": { "AWS": "arn:aws:iam::111122223333:user/mallory" },
      "Action": "sts:AssumeRole"
    }
  ]
}"#;

#[test]
fn trust_policy_findings_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "policies/open-trust.json", OPEN_OIDC_TRUST);
    write(
        dir,
        "policies/pull.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Pull", "Effect": "Allow", "Action": "codecommit:GitPull", "Resource": "*"}]}"#,
    );
    let run = gitiam(
        dir,
        &[
            "policy",
            "validate",
            "--json",
            "--kind",
            "trust",
            "policies/open-trust.json",
        ],
    )
    .assert_code(0);
    let all = findings(&run);
    assert!(
        has(
            &all,
            "SECURITY_WARNING",
            "MISSING_OIDC_SUB_CONDITION",
            Some("AnyRepository")
        ),
        "{all:#?}"
    );
    assert!(
        has(
            &all,
            "SECURITY_WARNING",
            "MISSING_AUDIENCE_CONDITION",
            Some("AnyRepository")
        ),
        "{all:#?}"
    );
    write(dir, "policies/not-principal.json", NOT_PRINCIPAL_TRUST);
    let run = gitiam(
        dir,
        &[
            "policy",
            "validate",
            "--json",
            "--kind",
            "trust",
            "policies/not-principal.json",
        ],
    )
    .assert_code(1);
    let all = findings(&run);
    assert!(
        has(&all, "ERROR", "ALLOW_WITH_NOT_PRINCIPAL", Some("AllButOne")),
        "{all:#?}"
    );

    // --config: each file as what the configuration uses it as. The pull
    // policy as a role's trust policy is an error (no Principal).
    write(
        dir,
        "gitiam.toml",
        r#"[[accounts]]
id = "111122223333"

[[accounts.users]]
name = "alice"
policies = ["policies/pull.json"]

[[accounts.roles]]
name = "ci"
trust_policy = "policies/open-trust.json"
policies = ["policies/pull.json"]

[[accounts.roles]]
name = "odd"
trust_policy = "policies/pull.json"
"#,
    );
    let run = gitiam(dir, &["policy", "validate", "--config", "gitiam.toml"]).assert_code(1);
    run.assert_stdout_contains("policies/pull.json: ok (identity policy)");
    run.assert_stdout_contains(
        "policies/open-trust.json: security warning: statement AnyRepository: Condition: ",
    );
    run.assert_stdout_contains("[MISSING_OIDC_SUB_CONDITION]");
    run.assert_stdout_contains("policies/open-trust.json: ok (trust policy)");
    run.assert_stdout_contains(
        "policies/pull.json: error: statement Pull: Principal: missing Principal",
    );
    run.assert_stdout_contains("3 files checked: 2 valid, 1 invalid");
    // A configuration that does not parse: 1, with the reason.
    write(dir, "bad.toml", "[[accounts]]\nid = 12\n");
    gitiam(dir, &["policy", "validate", "--config", "bad.toml"])
        .assert_code(1)
        .assert_stdout_contains("bad.toml:");
}
