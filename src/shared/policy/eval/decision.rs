//! The decision: [`evaluate`] over [`PolicyLayer`]s (see the module
//! documentation of `eval` for IAM's rules).

use std::fmt;
use std::sync::Arc;

use crate::shared::policy::ast::{Effect, Policy, Statement};
use crate::shared::policy::index::PolicyIndex;

use super::request::Request;

/// A set of policies that must allow the request (together: any of its
/// statements may allow).
#[derive(Debug, Clone, Copy)]
pub enum PolicyLayer<'a> {
    /// Every statement is checked.
    Policies(&'a [Arc<Policy>]),
    /// Only the statements the index says could apply are checked.
    Indexed(&'a PolicyIndex),
}

impl<'a> PolicyLayer<'a> {
    /// A layer of plain policies.
    pub fn new(policies: &'a [Arc<Policy>]) -> Self {
        PolicyLayer::Policies(policies)
    }

    /// Calls `f` with every statement that could apply to `request`, in
    /// (policy, statement) order.
    pub(super) fn for_each_candidate(
        &self,
        request: &Request<'_>,
        f: impl FnMut(&Policy, &Statement),
    ) {
        match self {
            PolicyLayer::Policies(_) => self.for_each_statement(f),
            PolicyLayer::Indexed(index) => {
                index.for_each_candidate(request.action, request.resource, f)
            }
        }
    }

    pub(super) fn for_each_statement(&self, mut f: impl FnMut(&Policy, &Statement)) {
        let policies: &[Arc<Policy>] = match self {
            PolicyLayer::Policies(policies) => policies,
            PolicyLayer::Indexed(index) => index.policies(),
        };
        for policy in policies {
            for statement in policy.statements() {
                f(policy, statement);
            }
        }
    }
}

impl<'a> From<&'a [Arc<Policy>]> for PolicyLayer<'a> {
    fn from(policies: &'a [Arc<Policy>]) -> Self {
        PolicyLayer::Policies(policies)
    }
}

impl<'a> From<&'a Vec<Arc<Policy>>> for PolicyLayer<'a> {
    fn from(policies: &'a Vec<Arc<Policy>>) -> Self {
        PolicyLayer::Policies(policies)
    }
}

impl<'a> From<&'a PolicyIndex> for PolicyLayer<'a> {
    fn from(index: &'a PolicyIndex) -> Self {
        PolicyLayer::Indexed(index)
    }
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Every layer allows and nothing denies.
    Allowed,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// Some layer has no applicable `Allow`.
    ImplicitDeny,
}

impl Decision {
    /// `allowed`, `explicitDeny` or `implicitDeny` (the words of
    /// `aws iam simulate-custom-policy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::ExplicitDeny => "explicitDeny",
            Decision::ImplicitDeny => "implicitDeny",
        }
    }

    /// True for [`Decision::Allowed`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allowed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names a statement: the policy's source and the statement's `Sid` (or
/// `#INDEX`, 0-based, when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatementRef {
    /// [`Policy::source`] of the policy.
    pub policy: String,
    /// `Sid`, or `#INDEX`.
    pub statement: String,
}

impl StatementRef {
    pub(super) fn of(policy: &Policy, statement: &Statement) -> Self {
        StatementRef {
            policy: policy.source().to_string(),
            statement: statement.label().to_string(),
        }
    }
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} statement {}", self.policy, self.statement)
    }
}

/// The decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The outcome.
    pub decision: Decision,
    /// For an explicit deny: every applicable `Deny` statement. For allowed:
    /// every applicable `Allow` statement. For an implicit deny: empty (see
    /// `layers_without_allow`).
    pub deciding: Vec<StatementRef>,
    /// Problems met while evaluating (a request value an operator could not
    /// read, such as a non-number for `NumericLessThan`). They never allow
    /// anything: the value just matches nothing.
    pub errors: Vec<String>,
    /// For an implicit deny: the indexes of the layers that had no
    /// applicable `Allow` (all of them when `layers` was empty: `[]`).
    pub layers_without_allow: Vec<usize>,
}

/// Decides `request` against `layers` (see the module documentation).
/// With no layer at all the answer is an implicit deny.
pub fn evaluate(layers: &[PolicyLayer<'_>], request: &Request<'_>) -> Evaluation {
    let mut errors = Vec::new();
    let mut denies = Vec::new();
    let mut allows = Vec::new();
    let mut layers_without_allow = Vec::new();
    // Actions match case-insensitively: fold the request's once, not per pattern.
    let action_lowercase = request.action.to_ascii_lowercase();
    for (i, layer) in layers.iter().enumerate() {
        let mut allowed_here = false;
        layer.for_each_candidate(request, |policy, statement| {
            if applies(statement, request, &action_lowercase, &mut errors) {
                match statement.effect() {
                    Effect::Deny => denies.push(StatementRef::of(policy, statement)),
                    Effect::Allow => {
                        allowed_here = true;
                        if denies.is_empty() {
                            allows.push(StatementRef::of(policy, statement));
                        }
                    }
                }
            }
        });
        if !allowed_here {
            layers_without_allow.push(i);
        }
    }
    let (decision, deciding) = if !denies.is_empty() {
        (Decision::ExplicitDeny, denies)
    } else if !layers.is_empty() && layers_without_allow.is_empty() {
        (Decision::Allowed, allows)
    } else {
        (Decision::ImplicitDeny, Vec::new())
    };
    if decision != Decision::ImplicitDeny {
        layers_without_allow.clear();
    }
    Evaluation {
        decision,
        deciding,
        errors,
        layers_without_allow,
    }
}

/// Does `statement` apply to `request`? Cheapest tests first.
fn applies(
    statement: &Statement,
    request: &Request<'_>,
    action_lowercase: &str,
    errors: &mut Vec<String>,
) -> bool {
    statement.matches_action_lowercase(action_lowercase)
        && statement.matches_resource(request.resource, request.context)
        && statement.matches_principal(request.principal)
        && statement
            .conditions()
            .iter()
            .all(|c| c.evaluate(request.context, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::policy::context::Context;

    /// The index must never change a decision: random stores and requests,
    /// decided with and without it. (Here rather than with the index: it
    /// needs `evaluate`, and the index must not depend on evaluation.)
    #[test]
    fn index_agrees_with_linear_evaluation() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let actions = [
            "codecommit:GitPull",
            "codecommit:GitPush",
            "codecommit:Get*",
            "codecommit:*",
            "*",
            "sts:AssumeRole",
            "CodeCommit:gitpu?l",
        ];
        let resources = [
            "*",
            "arn:aws:codecommit:us-east-1:111122223333:repo-1",
            "arn:aws:codecommit:us-east-1:111122223333:repo-1*",
            "arn:aws:codecommit:us-east-1:111122223333:repo-?",
            "arn:aws:codecommit:*:111122223333:repo-2",
            "arn:aws:codecommit:us-east-1:111122223333:${aws:username}-*",
            "arn:aws:codecommit:us-east-1:111122223333:r",
            "arn:aws:codecommit:us-east-1:111122223333:r*",
        ];
        let mut policies = Vec::new();
        for p in 0..200 {
            let mut statements = Vec::new();
            for s in 0..1 + next(3) {
                let effect = if next(5) == 0 { "Deny" } else { "Allow" };
                let action_key = if next(6) == 0 { "NotAction" } else { "Action" };
                let resource_key = if next(6) == 0 {
                    "NotResource"
                } else {
                    "Resource"
                };
                statements.push(format!(
                    r#"{{"Sid":"S{s}","Effect":"{effect}","{action_key}":["{}","{}"],"{resource_key}":"{}"}}"#,
                    actions[next(actions.len())],
                    actions[next(actions.len())],
                    resources[next(resources.len())]
                ));
            }
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
                statements.join(",")
            );
            policies.push(Arc::new(Policy::parse(&format!("p{p}"), &text).unwrap()));
        }
        let index = PolicyIndex::new(policies.clone());
        let mut context = Context::new();
        context.insert("aws:username", "repo");
        let request_resources = [
            "arn:aws:codecommit:us-east-1:111122223333:repo-1",
            "arn:aws:codecommit:us-east-1:111122223333:repo-12",
            "arn:aws:codecommit:us-east-1:111122223333:repo-2",
            "arn:aws:codecommit:eu-west-1:111122223333:repo-2",
            "arn:aws:codecommit:us-east-1:111122223333:r",
            "arn:aws:codecommit:us-east-1:111122223333:",
            "arn:aws:iam::111122223333:role/x",
        ];
        let request_actions = [
            "codecommit:GitPull",
            "CODECOMMIT:GITPUSH",
            "codecommit:GetBranch",
            "sts:AssumeRole",
            "s3:GetObject",
        ];
        for action in request_actions {
            for resource in request_resources {
                let request = Request {
                    action,
                    resource,
                    principal: None,
                    context: &context,
                };
                let linear = evaluate(&[PolicyLayer::new(&policies)], &request);
                let indexed = evaluate(&[PolicyLayer::from(&index)], &request);
                assert_eq!(linear, indexed, "{action} on {resource}");
            }
        }
    }
}
