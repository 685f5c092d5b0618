//! Authorization of Git requests with the IAM engine: `codecommit:GitPull`
//! for upload-pack and its advertisement, `codecommit:GitPush` for
//! receive-pack and its advertisement, and for a push one decision per
//! updated ref with `codecommit:References` set to that ref. Every function
//! takes the [`SignatureVerified`] proof: nothing is decided for a caller
//! whose signature was not checked.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::git::{PushRequest, RefDenial};
use crate::identity::Identity;
use crate::policy::{self, Context, Decision, Evaluation};
use crate::sigv4::SignatureVerified;

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
