//! One request by a configuration principal, decided with its identity
//! policies (and a session's session policy) exactly as the server decides
//! a Git request: `gitiam policy simulate --config`.

use crate::server::access;
use crate::server::identity::Identity;
use crate::shared::policy::{self, Context, Evaluation, Request, StatementTrace};

use super::principal::Reviewer;

/// The outcome of [`simulate`].
#[derive(Debug)]
pub struct Simulation {
    /// The caller's ARN (a session's `assumed-role` ARN).
    pub principal: String,
    /// The context decided with: the server's keys, then `--context`.
    pub context: Context,
    /// The decision, from the server's code.
    pub evaluation: Evaluation,
    /// Every statement, element by element.
    pub traces: Vec<StatementTrace>,
    /// The policy sets that must all allow: `policies` for a user, `role
    /// policies` and `session policy` for a session.
    pub layer_names: Vec<&'static str>,
    /// Condition keys of statements covering the action and resource that
    /// the context lacks (the IAM simulator's `MissingContextValues`).
    pub missing_context: Vec<String>,
}

/// Decides `action` on `resource` for `identity`.
pub fn simulate(
    reviewer: &Reviewer<'_>,
    identity: &Identity,
    action: &str,
    resource: &str,
) -> Simulation {
    let context = reviewer.context(identity);
    let evaluation = access::evaluate_identity_of(identity, action, resource, &context);
    let layers = identity.policy_layers();
    let request = Request {
        action,
        resource,
        principal: None,
        context: &context,
    };
    let traces = policy::trace(&layers, &request);
    let mut missing: Vec<String> = traces
        .iter()
        .filter(|t| t.action && t.resource)
        .flat_map(|t| &t.conditions)
        .filter(|c| c.request_values.is_none())
        .map(|c| c.key.clone())
        .collect();
    missing.sort_by_key(|k| k.to_ascii_lowercase());
    missing.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let layer_names = match identity {
        Identity::User(_) => vec!["policies"],
        Identity::AssumedRole(s) if s.session_policy.is_some() => {
            vec!["role policies", "session policy"]
        }
        Identity::AssumedRole(_) => vec!["role policies"],
    };
    Simulation {
        principal: identity.arn().to_string(),
        context,
        evaluation,
        traces,
        layer_names,
        missing_context: missing,
    }
}
