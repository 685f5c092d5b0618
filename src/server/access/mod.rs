//! The access core: who may do what, for every way into gitiam.
//!
//! It knows nothing of HTTP or SSH. A front door authenticates the caller
//! (getting an [`Authenticated`], which only a verified signature yields),
//! describes what the request asks for ([`GitAccess`], and for a push the
//! parsed command section with the refs each command really changes), and
//! gets back a [`GitDecision`]: the decision per ref, the deciding
//! statements, the git-native refusal to send and what goes into the audit
//! record. The STS API decides through [`decide_assume_role`] and
//! [`evaluate_trust`]; the wording of every denial is in [`messages`].

mod caller;
mod context;
mod git;
pub mod messages;
mod role;

pub use caller::{Authenticated, Proof};
pub use context::{RequestFacts, caller_context, request_context};
pub use git::{
    GitAccess, GitDecision, RefChain, RefEvaluation, decide, decide_push, git_action,
    repository_arn,
};
pub use role::{
    RoleDecision, add_role_context, decide_assume_role, decide_assume_role_of, evaluate_trust,
};

use crate::server::identity::Identity;
use crate::shared::policy::{self, Context, Evaluation};

/// `codecommit:GitPull`.
pub const GIT_PULL: &str = "codecommit:GitPull";
/// `codecommit:GitPush`.
pub const GIT_PUSH: &str = "codecommit:GitPush";
/// The condition key carrying the ref a push updates.
pub const REFERENCES_KEY: &str = "codecommit:References";

/// Decides `action` on `resource` with the caller's identity policies
/// (every layer: the role's policies and the session policy for a session).
pub fn evaluate_identity(
    caller: &Authenticated,
    action: &str,
    resource: &str,
    context: &Context,
) -> Evaluation {
    evaluate_identity_of(caller.identity(), action, resource, context)
}

/// [`evaluate_identity`] for an identity that made no request: the access
/// review tools (`gitiam policy simulate --config`, `gitiam access`) ask
/// what a principal of the configuration would get, with the very code the
/// request path uses. Requests go through the [`Authenticated`] wrapper.
pub fn evaluate_identity_of(
    identity: &Identity,
    action: &str,
    resource: &str,
    context: &Context,
) -> Evaluation {
    let layers = identity.policy_layers();
    policy::evaluate(
        &layers,
        &policy::Request {
            action,
            resource,
            principal: None,
            context,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::audit::AuditRecord;
    use crate::server::identity::Identity;
    use crate::shared::config;
    use crate::shared::git::{GitService, PushRequest};
    use crate::shared::git::{RepoName, parse_command_section};
    use crate::shared::policy::Decision;
    use crate::shared::sigv4::SignatureVerified;
    use crate::shared::sigv4::{SigningKeyCache, codecommit};
    use std::path::Path;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Push","Effect":"Allow","Action":["codecommit:GitPull","codecommit:GitPush"],"Resource":"arn:aws:codecommit:us-east-1:111122223333:${aws:PrincipalTag/team}-*"},
        {"Sid":"DenyMain","Effect":"Deny","Action":"codecommit:GitPush","Resource":"*",
         "Condition":{"StringEqualsIfExists":{"codecommit:References":["refs/heads/main"]},"Null":{"codecommit:References":"false"}}},
        {"Sid":"OfficeOnly","Effect":"Deny","Action":"*","Resource":"*",
         "Condition":{"NotIpAddress":{"aws:SourceIp":["127.0.0.0/8","10.0.0.0/8"]}}}]}"#;

    fn identity() -> (tempfile::TempDir, Identity) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.json"), POLICY).unwrap();
        let text = r#"
[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "alice"
policies = ["p.json"]
tags = { team = "web" }
access_keys = [{ id = "AKIAEXAMPLEALICE0001", secret = "alice-secret-0123456789" }]
"#;
        let config = config::load_str(Path::new("gitiam.toml"), dir.path(), text).unwrap();
        let (user, _) = config.directory.access_key("AKIAEXAMPLEALICE0001").unwrap();
        (dir, Identity::User(user))
    }

    fn proof() -> SignatureVerified {
        let now = SystemTime::now();
        let pw = codecommit::password("s3cr3t-s3cr3t-s3cr3t", "us-east-1", "h", "/v1/repos/r", now);
        codecommit::verify(
            &SigningKeyCache::default(),
            "s3cr3t-s3cr3t-s3cr3t",
            "us-east-1",
            "h",
            "/v1/repos/r",
            &pw,
            now,
            Duration::from_secs(900),
        )
        .unwrap()
    }

    fn facts(ip: &str) -> RequestFacts<'static> {
        RequestFacts {
            source_ip: Some(ip.parse().unwrap()),
            now: UNIX_EPOCH + Duration::from_secs(1_764_547_200), // 2025-12-01T00:00:00Z
            region: "us-east-1",
        }
    }

    fn push(refs: &[&str]) -> PushRequest {
        let mut body = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let caps = if i == 0 {
                "\0report-status side-band-64k"
            } else {
                ""
            };
            let line = format!("{} {} {r}{caps}\n", "0".repeat(40), "1".repeat(40));
            body.extend(format!("{:04x}", line.len() + 4).into_bytes());
            body.extend(line.into_bytes());
        }
        body.extend(b"0000");
        crate::shared::git::parse_command_section(&body).unwrap().0
    }

    fn caller() -> (tempfile::TempDir, Authenticated) {
        let (dir, id) = identity();
        (
            dir,
            Authenticated::new(id, "AKIAEXAMPLEALICE0001".into(), proof()),
        )
    }

    fn chains(push: &PushRequest) -> Vec<RefChain> {
        push.commands
            .iter()
            .map(|c| RefChain::plain(&c.name))
            .collect()
    }

    fn alias(name: &str, target: &str) -> RefChain {
        RefChain {
            symref_targets: vec![target.to_string()],
            ..RefChain::plain(name)
        }
    }

    #[test]
    fn context_has_request_keys() {
        let (_dir, id) = identity();
        let ctx = caller_context(&id, &facts("::ffff:10.1.2.3"));
        let get = |k: &str| ctx.get(k).map(|v| v.join(","));
        assert_eq!(get("aws:SourceIp").as_deref(), Some("10.1.2.3"));
        assert_eq!(
            get("aws:CurrentTime").as_deref(),
            Some("2025-12-01T00:00:00Z")
        );
        assert_eq!(get("aws:EpochTime").as_deref(), Some("1764547200"));
        assert_eq!(get("aws:SecureTransport").as_deref(), Some("true"));
        assert_eq!(get("aws:RequestedRegion").as_deref(), Some("us-east-1"));
        assert_eq!(get("aws:username").as_deref(), Some("alice"));
    }

    #[test]
    fn pulls_and_pushes_per_ref() {
        let (_dir, caller) = caller();
        let web = RepoName::parse("web-app").unwrap();
        let at = |repo, ip, service| GitAccess {
            repo,
            service,
            facts: facts(ip),
        };
        let d = decide(&caller, &at(&web, "127.0.0.1", GitService::UploadPack));
        assert!(d.allowed());
        assert_eq!(d.action, GIT_PULL);
        assert_eq!(
            d.resource,
            repository_arn("us-east-1", "111122223333", "web-app")
        );
        // The tag variable scopes the user to its team's repositories.
        let other = RepoName::parse("ops-tools").unwrap();
        let d = decide(&caller, &at(&other, "127.0.0.1", GitService::UploadPack));
        let e = d.explaining().unwrap();
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert_eq!(
            messages::denial_reason(e),
            "denied by policy: no statement allows it"
        );
        assert!(d.refusal_message().contains(
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: codecommit:GitPull on resource: arn:aws:codecommit:us-east-1:111122223333:ops-tools"
        ));

        let access = at(&web, "127.0.0.1", GitService::ReceivePack);
        let p = push(&["refs/heads/feature"]);
        let d = decide_push(&caller, &access, &p, &chains(&p));
        assert!(d.allowed());
        let p = push(&["refs/heads/feature", "refs/heads/main"]);
        let d = decide_push(&caller, &access, &p, &chains(&p));
        assert!(!d.allowed());
        assert_eq!(d.denied.len(), 1);
        assert_eq!(d.denied[0].name, "refs/heads/main");
        assert_eq!(
            d.denied[0].reason,
            "denied by policy p.json statement DenyMain"
        );
        assert_eq!(d.explaining().unwrap().decision, Decision::ExplicitDeny);

        // Conditions on request keys: outside the allowed networks.
        let d = decide(&caller, &at(&web, "192.0.2.1", GitService::UploadPack));
        let e = d.explaining().unwrap();
        assert_eq!(e.decision, Decision::ExplicitDeny);
        assert_eq!(
            messages::denial_reason(e),
            "denied by policy p.json statement OfficeOnly"
        );
    }

    #[test]
    fn a_push_is_decided_on_every_ref_its_symbolic_refs_lead_to() {
        let (_dir, caller) = caller();
        let web = RepoName::parse("web-app").unwrap();
        let access = GitAccess {
            repo: &web,
            service: GitService::ReceivePack,
            facts: facts("127.0.0.1"),
        };
        let p = push(&["refs/heads/feature", "refs/heads/alias"]);
        let alias_to_main = vec![
            RefChain::plain("refs/heads/feature"),
            alias("refs/heads/alias", "refs/heads/main"),
        ];
        let d = decide_push(&caller, &access, &p, &alias_to_main);
        assert!(!d.allowed());
        assert_eq!(d.denied.len(), 1);
        assert_eq!(d.denied[0].name, "refs/heads/alias");
        assert_eq!(
            d.denied[0].reason,
            "denied by policy p.json statement DenyMain (refs/heads/alias is a symbolic ref to refs/heads/main)"
        );
        let mut record = AuditRecord::default();
        d.record(&mut record);
        assert_eq!(record.refs, ["refs/heads/feature", "refs/heads/alias"]);
        assert_eq!(record.symref_targets, ["refs/heads/main"]);
        assert_eq!(record.statement.as_deref(), Some("DenyMain"));

        // An alias to an allowed branch is allowed.
        let alias_to_dev = vec![
            RefChain::plain("refs/heads/feature"),
            alias("refs/heads/alias", "refs/heads/dev"),
        ];
        assert!(decide_push(&caller, &access, &p, &alias_to_dev).allowed());

        // Chains that are not the commands' own deny every command.
        for wrong in [
            vec![RefChain::plain("refs/heads/feature")],
            vec![
                RefChain::plain("refs/heads/feature"),
                RefChain::plain("refs/heads/other"),
            ],
        ] {
            let d = decide_push(&caller, &access, &p, &wrong);
            assert_eq!(d.denied.len(), 2, "{wrong:?}");
        }

        // A case variant of main, where the repository ignores case.
        let p = push(&["refs/heads/MAIN"]);
        let variant = RefChain {
            case_variants: vec!["refs/heads/main".to_string()],
            ..RefChain::plain("refs/heads/MAIN")
        };
        let d = decide_push(&caller, &access, &p, &[variant]);
        assert_eq!(
            d.denied[0].reason,
            "denied by policy p.json statement DenyMain (refs/heads/MAIN is the same ref as refs/heads/main in this case-insensitive repository)"
        );
        let mut record = AuditRecord::default();
        d.record(&mut record);
        assert_eq!(record.case_variants, ["refs/heads/main"]);
        assert!(record.symref_targets.is_empty());

        // The probe (no commands) is decided as a push without a ref.
        let probe = parse_command_section(b"0000").unwrap().0;
        assert!(decide_push(&caller, &access, &probe, &[]).allowed());
    }
}
