//! Policy JSON (`gitiam::shared::policy::Policy::parse`, `parse_as` for
//! each kind, `validate`, `PolicyKind::guess`): identity policies from
//! configuration, trust policies, and session policies from the STS
//! `Policy` parameter (network input).
//!
//! Checked: a document accepted for a kind is accepted without one;
//! `validate` reports an error exactly when `parse_as` refuses; and an
//! accepted policy decides a few fixed requests the same way whether its
//! statements are scanned or looked up through the `PolicyIndex`.
#![no_main]

use std::sync::Arc;

use gitiam::shared::policy::{
    Context, Policy, PolicyIndex, PolicyKind, PolicyLayer, PrincipalInfo, Request, Severity,
    evaluate, trace, validate,
};
use libfuzzer_sys::fuzz_target;

const SOURCE: &str = "fuzz.json";

fn requests() -> Vec<(&'static str, &'static str, Option<PrincipalInfo>, Context)> {
    let mut push = Context::new();
    push.insert("aws:username", "alice");
    push.insert("aws:SourceIp", "10.1.2.3");
    push.insert("aws:CurrentTime", "2026-12-03T10:00:00Z");
    push.insert("aws:EpochTime", "1796292000");
    push.insert("aws:SecureTransport", "true");
    push.insert("aws:PrincipalTag/team", "web");
    push.insert("codecommit:References", "refs/heads/main");
    push.insert("codecommit:References", "refs/heads/feature/x");
    let mut assume = Context::new();
    assume.insert("aws:PrincipalAccount", "111122223333");
    assume.insert("sts:ExternalId", "ext-1");
    assume.insert("token.example.com:sub", "repo:org/app:ref:refs/heads/main");
    vec![
        (
            "codecommit:GitPush",
            "arn:aws:codecommit:us-east-1:111122223333:my-repo",
            None,
            push.clone(),
        ),
        (
            "codecommit:GitPull",
            "arn:aws:codecommit:us-east-1:444455556666:other",
            None,
            push,
        ),
        (
            "sts:AssumeRole",
            "arn:aws:iam::111122223333:role/deployer",
            PrincipalInfo::from_arn("arn:aws:iam::111122223333:user/alice"),
            assume.clone(),
        ),
        (
            "sts:AssumeRoleWithWebIdentity",
            "arn:aws:iam::111122223333:role/ci",
            PrincipalInfo::from_arn("arn:aws:iam::111122223333:oidc-provider/token.example.com"),
            assume,
        ),
    ]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = PolicyKind::guess(text);
    let generic = Policy::parse(SOURCE, text);
    for kind in [PolicyKind::Identity, PolicyKind::Trust, PolicyKind::Session] {
        let parsed = Policy::parse_as(SOURCE, text, kind);
        if parsed.is_ok() {
            assert!(generic.is_ok(), "accepted as {kind:?} but not at all");
        }
        let findings = validate(text, SOURCE, kind);
        let has_error = findings.iter().any(|f| f.severity == Severity::Error);
        assert_eq!(
            has_error,
            parsed.is_err(),
            "validate and parse_as disagree for {kind:?}: {findings:?}"
        );
    }
    let Ok(policy) = generic else {
        return;
    };
    let policies = vec![Arc::new(policy)];
    let index = PolicyIndex::new(policies.clone());
    for (action, resource, principal, context) in requests() {
        let request = Request {
            action,
            resource,
            principal: principal.as_ref(),
            context: &context,
        };
        let scanned = evaluate(&[PolicyLayer::new(&policies)], &request);
        let indexed = evaluate(&[PolicyLayer::Indexed(&index)], &request);
        assert_eq!(
            scanned.decision, indexed.decision,
            "the index decides differently"
        );
        let mut a = scanned.deciding.clone();
        let mut b = indexed.deciding.clone();
        a.sort_by(|x, y| (&x.policy, &x.statement).cmp(&(&y.policy, &y.statement)));
        b.sort_by(|x, y| (&x.policy, &x.statement).cmp(&(&y.policy, &y.statement)));
        assert_eq!(a, b, "the index finds other deciding statements");
        let _ = trace(&[PolicyLayer::new(&policies)], &request);
    }
});
