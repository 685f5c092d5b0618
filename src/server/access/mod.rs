//! Authorization of Git requests with the IAM engine: `codecommit:GitPull`
//! for upload-pack and its advertisement, `codecommit:GitPush` for
//! receive-pack and its advertisement, and for a push one decision per
//! updated ref with `codecommit:References` set to that ref. Every function
//! takes the [`SignatureVerified`] proof: nothing is decided for a caller
//! whose signature was not checked.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::server::identity::Identity;
use crate::shared::git::{PushRequest, RefDenial};
use crate::shared::policy::{self, Context, Decision, Evaluation};
use crate::shared::sigv4::SignatureVerified;

/// `codecommit:GitPull`.
pub const GIT_PULL: &str = "codecommit:GitPull";
/// `codecommit:GitPush`.
pub const GIT_PUSH: &str = "codecommit:GitPush";
/// The condition key carrying the ref a push updates.
pub const REFERENCES_KEY: &str = "codecommit:References";

/// Request facts that go into the context, besides the principal's.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Client address (`aws:SourceIp`).
    pub source_ip: IpAddr,
    /// Time of the request (`aws:CurrentTime`, `aws:EpochTime`).
    pub now: SystemTime,
    /// Server region (`aws:RequestedRegion`).
    pub region: &'a str,
}

/// `arn:aws:codecommit:REGION:ACCOUNT:NAME`.
pub fn repository_arn(region: &str, account: &str, repo: &str) -> String {
    format!("arn:aws:codecommit:{region}:{account}:{repo}")
}

/// The context of a request by `identity`.
pub fn request_context(identity: &Identity, facts: &RequestFacts<'_>) -> Context {
    let mut ctx = Context::new();
    identity.fill_context(&mut ctx);
    ctx.insert("aws:SourceIp", facts.source_ip.to_canonical().to_string());
    let now = time::OffsetDateTime::from(facts.now).replace_nanosecond(0);
    if let Ok(Ok(t)) = now.map(|t| t.format(&time::format_description::well_known::Rfc3339)) {
        ctx.insert("aws:CurrentTime", t);
    }
    let epoch = facts
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    ctx.insert("aws:EpochTime", epoch.to_string());
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:RequestedRegion", facts.region.to_string());
    ctx
}

/// Decides `action` on `resource` for `identity`.
pub fn authorize(
    identity: &Identity,
    _proof: &SignatureVerified,
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

/// The decision on a whole push.
#[derive(Debug)]
pub struct PushDecision {
    /// One evaluation per ref update (or one without a ref for a probe).
    pub evaluations: Vec<(Option<String>, Evaluation)>,
    /// The refs denied, with the reason git will print.
    pub denied: Vec<RefDenial>,
}

impl PushDecision {
    /// True when every ref is allowed.
    pub fn allowed(&self) -> bool {
        self.denied.is_empty()
    }

    /// The evaluation that explains the outcome: the first denial, or the
    /// first allowance.
    pub fn explaining(&self) -> Option<&Evaluation> {
        self.evaluations
            .iter()
            .find(|(_, e)| !e.decision.is_allowed())
            .or_else(|| self.evaluations.first())
            .map(|(_, e)| e)
    }
}

/// Decides every ref update of `push` as a `GitPush` with
/// `codecommit:References` set to the ref. A push without commands (the
/// probe git sends before a large chunked push) is decided without it.
pub fn authorize_push(
    identity: &Identity,
    proof: &SignatureVerified,
    resource: &str,
    context: &Context,
    push: &PushRequest,
) -> PushDecision {
    let mut evaluations = Vec::with_capacity(push.commands.len().max(1));
    let mut denied = Vec::new();
    if push.commands.is_empty() {
        let e = authorize(identity, proof, GIT_PUSH, resource, context);
        if !e.decision.is_allowed() {
            denied.push(RefDenial {
                name: String::new(),
                reason: denial_reason(&e),
            });
        }
        evaluations.push((None, e));
    }
    for cmd in &push.commands {
        let mut ctx = context.clone();
        ctx.set(REFERENCES_KEY, vec![cmd.name.clone()]);
        let e = authorize(identity, proof, GIT_PUSH, resource, &ctx);
        if !e.decision.is_allowed() {
            denied.push(RefDenial {
                name: cmd.name.clone(),
                reason: denial_reason(&e),
            });
        }
        evaluations.push((Some(cmd.name.clone()), e));
    }
    PushDecision {
        evaluations,
        denied,
    }
}

/// `denied by policy FILE statement SID`, or for an implicit deny
/// `denied by policy: no statement allows it`.
pub fn denial_reason(e: &Evaluation) -> String {
    match (e.decision, e.deciding.first()) {
        (Decision::ExplicitDeny, Some(s)) => format!("denied by policy {s}"),
        _ => "denied by policy: no statement allows it".to_string(),
    }
}

/// The 403 text for a denied pull or advertisement, in AWS's words.
pub fn forbidden_message(
    identity: &Identity,
    action: &str,
    resource: &str,
    e: &Evaluation,
) -> String {
    let why = match (e.decision, e.deciding.first()) {
        (Decision::ExplicitDeny, Some(s)) => {
            format!("with an explicit deny in {s}")
        }
        _ => "because no identity-based policy allows the action".to_string(),
    };
    format!(
        "gitiam: User: {} is not authorized to perform: {action} on resource: {resource} {why}",
        identity.arn()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::config;
    use crate::shared::sigv4::{SigningKeyCache, codecommit};
    use std::path::Path;
    use std::time::Duration;

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
            source_ip: ip.parse().unwrap(),
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

    #[test]
    fn context_has_request_keys() {
        let (_dir, id) = identity();
        let ctx = request_context(&id, &facts("::ffff:10.1.2.3"));
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
        let (_dir, id) = identity();
        let proof = proof();
        let web = repository_arn("us-east-1", "111122223333", "web-app");
        let ctx = request_context(&id, &facts("127.0.0.1"));
        assert!(
            authorize(&id, &proof, GIT_PULL, &web, &ctx)
                .decision
                .is_allowed()
        );
        // The tag variable scopes the user to its team's repositories.
        let other = repository_arn("us-east-1", "111122223333", "ops-tools");
        let e = authorize(&id, &proof, GIT_PULL, &other, &ctx);
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert_eq!(
            denial_reason(&e),
            "denied by policy: no statement allows it"
        );
        assert!(forbidden_message(&id, GIT_PULL, &other, &e).contains(
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: codecommit:GitPull on resource: arn:aws:codecommit:us-east-1:111122223333:ops-tools"
        ));

        let d = authorize_push(&id, &proof, &web, &ctx, &push(&["refs/heads/feature"]));
        assert!(d.allowed());
        let d = authorize_push(
            &id,
            &proof,
            &web,
            &ctx,
            &push(&["refs/heads/feature", "refs/heads/main"]),
        );
        assert!(!d.allowed());
        assert_eq!(d.denied.len(), 1);
        assert_eq!(d.denied[0].name, "refs/heads/main");
        assert_eq!(
            d.denied[0].reason,
            "denied by policy p.json statement DenyMain"
        );
        assert_eq!(d.explaining().unwrap().decision, Decision::ExplicitDeny);

        // Conditions on request keys: outside the allowed networks.
        let outside = request_context(&id, &facts("192.0.2.1"));
        let e = authorize(&id, &proof, GIT_PULL, &web, &outside);
        assert_eq!(e.decision, Decision::ExplicitDeny);
        assert_eq!(
            denial_reason(&e),
            "denied by policy p.json statement OfficeOnly"
        );
    }
}
