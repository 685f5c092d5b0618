//! One authorization decision, in the shapes the proxy meets:
//! - `one_statement`: a single policy with one statement;
//! - `typical_user`: 5 policies, 30 statements (wildcards, a variable, a
//!   multi-valued condition, branch protection);
//! - `store_*_indexed`: 1,000 and 10,000 per-repository policies behind a
//!   `PolicyIndex`, where only a few statements could apply;
//! - `store_10000_linear`: the same 10,000 without the index, for scale.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use gitiam::shared::policy::{Context, Policy, PolicyIndex, PolicyLayer, Request, evaluate};

const ACCOUNT: &str = "111122223333";

fn policy(name: &str, statements: &[String]) -> Arc<Policy> {
    let text = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        statements.join(",")
    );
    Arc::new(Policy::parse(name, &text).unwrap())
}

fn allow(sid: &str, actions: &str, resource: &str) -> String {
    format!(
        r#"{{"Sid": "{sid}", "Effect": "Allow", "Action": {actions}, "Resource": "{resource}"}}"#
    )
}

fn repo(name: &str) -> String {
    format!("arn:aws:codecommit:us-east-1:{ACCOUNT}:{name}")
}

/// 5 policies, 30 statements: what a developer in a few groups carries.
fn typical_user() -> Vec<Arc<Policy>> {
    let mut policies = Vec::new();
    // 1. read-only access to everything (3 statements)
    policies.push(policy(
        "read-only.json",
        &[
            allow(
                "Read",
                r#"["codecommit:GitPull", "codecommit:Get*", "codecommit:List*", "codecommit:BatchGet*", "codecommit:Describe*"]"#,
                &format!("arn:aws:codecommit:*:{ACCOUNT}:*"),
            ),
            allow("Who", r#""sts:GetCallerIdentity""#, "*"),
            r#"{"Sid": "DenyPlainHttp", "Effect": "Deny", "Action": "codecommit:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}"#.to_string(),
        ],
    ));
    // 2. team repositories: 10 statements, one per team repository prefix
    let team: Vec<String> = (0..10)
        .map(|i| {
            allow(
                &format!("Team{i}"),
                r#"["codecommit:GitPush", "codecommit:CreateBranch", "codecommit:DeleteBranch"]"#,
                &repo(&format!("team{i}-*")),
            )
        })
        .collect();
    policies.push(policy("team.json", &team));
    // 3. branch protection on 8 repositories
    let protect: Vec<String> = (0..8)
        .map(|i| {
            format!(
                r#"{{"Sid": "Protect{i}", "Effect": "Deny", "Action": ["codecommit:GitPush", "codecommit:DeleteBranch", "codecommit:Merge*"], "Resource": "{}",
                   "Condition": {{"StringEqualsIfExists": {{"codecommit:References": ["refs/heads/main", "refs/heads/release"]}}, "Null": {{"codecommit:References": "false"}}}}}}"#,
                repo(&format!("team{i}-service"))
            )
        })
        .collect();
    policies.push(policy("protect.json", &protect));
    // 4. personal repositories with a variable, plus IP restriction (5)
    policies.push(policy(
        "personal.json",
        &[
            allow("Own", r#""codecommit:*""#, &format!("arn:aws:codecommit:*:{ACCOUNT}:${{aws:username}}-*")),
            r#"{"Sid": "OfficeOnly", "Effect": "Deny", "Action": "codecommit:GitPush", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}}"#.to_string(),
            r#"{"Sid": "NoDeleteRepo", "Effect": "Deny", "Action": "codecommit:DeleteRepository", "Resource": "*"}"#.to_string(),
            allow("Sandbox", r#""codecommit:*""#, &repo("sandbox")),
            r#"{"Sid": "TaggedOnly", "Effect": "Allow", "Action": "codecommit:TagResource", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "owner"]}, "Null": {"aws:TagKeys": "false"}}}"#.to_string(),
        ],
    ));
    // 5. misc grants (4)
    policies.push(policy(
        "misc.json",
        &[
            allow("Triggers", r#""codecommit:*RepositoryTriggers""#, &repo("*")),
            allow("Approvals", r#""codecommit:*ApprovalRule*""#, &repo("*")),
            allow("Comments", r#"["codecommit:PostComment*", "codecommit:UpdateComment"]"#, &repo("*")),
            r#"{"Sid": "Tokens", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::111122223333:role/ci-*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}"#.to_string(),
        ],
    ));
    let count: usize = policies.iter().map(|p| p.statements().len()).sum();
    assert_eq!(count, 30);
    policies
}

/// `n` per-repository policies (3 statements each) plus a few broad ones.
fn store(n: usize) -> Vec<Arc<Policy>> {
    let mut policies: Vec<Arc<Policy>> = (0..n)
        .map(|i| {
            let r = repo(&format!("repo-{i}"));
            policy(
                &format!("repo-{i}.json"),
                &[
                    allow("Pull", r#""codecommit:GitPull""#, &r),
                    allow("Push", r#"["codecommit:GitPush", "codecommit:CreateBranch"]"#, &format!("{r}*")),
                    format!(
                        r#"{{"Sid": "Protect", "Effect": "Deny", "Action": "codecommit:GitPush", "Resource": "{r}", "Condition": {{"StringEqualsIfExists": {{"codecommit:References": "refs/heads/main"}}, "Null": {{"codecommit:References": "false"}}}}}}"#
                    ),
                ],
            )
        })
        .collect();
    policies.push(policy(
        "global.json",
        &[
            r#"{"Sid": "DenyPlainHttp", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}"#.to_string(),
            allow("Who", r#""sts:GetCallerIdentity""#, "*"),
        ],
    ));
    policies
}

fn context() -> Context {
    let mut c = Context::new();
    c.insert("aws:username", "alice");
    c.insert("aws:userid", "AIDAEXAMPLE");
    c.insert("aws:PrincipalArn", "arn:aws:iam::111122223333:user/alice");
    c.insert("aws:PrincipalAccount", ACCOUNT);
    c.insert("aws:SourceIp", "203.0.113.10");
    c.insert("aws:SecureTransport", "true");
    c.insert("aws:CurrentTime", "2026-01-01T00:00:00Z");
    c.insert("codecommit:References", "refs/heads/feature/x");
    c
}

fn bench(c: &mut Criterion) {
    let ctx = context();

    let one = vec![policy(
        "one.json",
        &[allow(
            "Pull",
            r#""codecommit:GitPull""#,
            &repo("MyDemoRepo"),
        )],
    )];
    let layers = [PolicyLayer::new(&one)];
    let resource = repo("MyDemoRepo");
    let request = Request {
        action: "codecommit:GitPull",
        resource: &resource,
        principal: None,
        context: &ctx,
    };
    assert!(evaluate(&layers, &request).decision.is_allowed());
    c.bench_function("one_statement", |b| {
        b.iter(|| evaluate(black_box(&layers), black_box(&request)))
    });

    let user = typical_user();
    let layers = [PolicyLayer::new(&user)];
    let resource = repo("team3-service");
    let request = Request {
        action: "codecommit:GitPush",
        resource: &resource,
        principal: None,
        context: &ctx,
    };
    assert!(evaluate(&layers, &request).decision.is_allowed());
    c.bench_function("typical_user", |b| {
        b.iter(|| evaluate(black_box(&layers), black_box(&request)))
    });

    for n in [1_000usize, 10_000] {
        let index = PolicyIndex::new(store(n));
        let layers = [PolicyLayer::from(&index)];
        let resource = repo(&format!("repo-{}", n / 2));
        let request = Request {
            action: "codecommit:GitPush",
            resource: &resource,
            principal: None,
            context: &ctx,
        };
        let e = evaluate(&layers, &request);
        assert!(e.decision.is_allowed(), "{e:?}");
        eprintln!(
            "store of {n} policies ({} statements): {} candidates for this request",
            index.statement_count(),
            index.candidate_count(request.action, request.resource)
        );
        c.bench_function(&format!("store_{n}_indexed"), |b| {
            b.iter(|| evaluate(black_box(&layers), black_box(&request)))
        });
        if n == 10_000 {
            let linear = [PolicyLayer::new(index.policies())];
            assert_eq!(evaluate(&linear, &request).decision, e.decision);
            c.bench_function("store_10000_linear", |b| {
                b.iter(|| evaluate(black_box(&linear), black_box(&request)))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
