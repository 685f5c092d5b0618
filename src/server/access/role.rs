//! Role access for the STS API: may a caller assume a role (the role's
//! trust policy, and unless the trust policy names the caller in its own
//! account, the caller's identity policies too), and may a web identity
//! (trust policy only).

use crate::shared::config::Role;
use crate::shared::policy::{
    Context, Decision, Evaluation, PolicyLayer, PrincipalInfo, Request, StatementRef, evaluate,
};

use super::caller::Authenticated;
use super::evaluate_identity_of;
use super::messages::not_authorized;
use crate::server::identity::Identity;

/// The outcome of [`decide_assume_role`].
#[derive(Debug)]
pub struct RoleDecision {
    /// The last decision made (the one that refused, when one did).
    pub decision: Decision,
    /// The statements behind it.
    pub deciding: Vec<StatementRef>,
    /// The AccessDenied message, when refused.
    pub denied: Option<String>,
}

/// Adds the role's tags as `aws:ResourceTag/...`: the role is the resource
/// both AssumeRole paths decide on.
pub fn add_role_context(context: &mut Context, role: &Role) {
    for (k, v) in &role.tags {
        context.insert(format!("aws:ResourceTag/{k}"), v.clone());
    }
}

/// Evaluates `role`'s trust policy for `principal` doing `action`.
pub fn evaluate_trust(
    role: &Role,
    principal: &PrincipalInfo,
    action: &str,
    context: &Context,
) -> Evaluation {
    evaluate(
        &[PolicyLayer::new(std::slice::from_ref(&role.trust_policy))],
        &Request {
            action,
            resource: &role.arn,
            principal: Some(principal),
            context,
        },
    )
}

/// Decides whether `caller` may do every one of `actions` (`sts:AssumeRole`
/// and, when asked for, `sts:TagSession`, `sts:SetSourceIdentity`) on
/// `role`.
pub fn decide_assume_role(
    caller: &Authenticated,
    role: &Role,
    actions: &[&str],
    context: &Context,
) -> RoleDecision {
    decide_assume_role_of(caller.identity(), role, actions, context)
}

/// [`decide_assume_role`] for an identity that made no request (the access
/// review tools; see [`super::evaluate_identity_of`]).
pub fn decide_assume_role_of(
    identity: &Identity,
    role: &Role,
    actions: &[&str],
    context: &Context,
) -> RoleDecision {
    let caller_arn = identity.arn();
    let principal = identity.principal_info();
    // The caller named by its own ARN (no account-wide entry): an
    // `account` that matches no account entry leaves only ARN matches.
    let named = PrincipalInfo {
        arn: principal.arn.clone(),
        account: String::new(),
        role_arn: None,
        federated: None,
    };
    let same_account = identity.account() == role.account;
    let mut outcome = RoleDecision {
        decision: Decision::ImplicitDeny,
        deciding: Vec::new(),
        denied: None,
    };
    for &action in actions {
        let trust = evaluate_trust(role, &principal, action, context);
        outcome.decision = trust.decision;
        outcome.deciding = trust.deciding;
        let reason = match trust.decision {
            Decision::Allowed => None,
            Decision::ExplicitDeny => Some(" with an explicit deny in a resource-based policy"),
            Decision::ImplicitDeny => Some(""),
        };
        if let Some(reason) = reason {
            outcome.denied = Some(not_authorized(caller_arn, action, &role.arn, reason));
            return outcome;
        }
        let names_caller = same_account
            && evaluate_trust(role, &named, action, context).decision == Decision::Allowed;
        if names_caller {
            continue;
        }
        let own = evaluate_identity_of(identity, action, &role.arn, context);
        outcome.decision = own.decision;
        outcome.deciding.extend(own.deciding.iter().cloned());
        let reason = match own.decision {
            Decision::Allowed => None,
            Decision::ExplicitDeny => {
                Some(" with an explicit deny in an identity-based policy".to_string())
            }
            Decision::ImplicitDeny => Some(format!(
                " because no identity-based policy allows the {action} action"
            )),
        };
        if let Some(reason) = reason {
            outcome.denied = Some(not_authorized(caller_arn, action, &role.arn, &reason));
            return outcome;
        }
    }
    outcome
}
