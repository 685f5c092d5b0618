//! The decision.
//!
//! IAM's rules ("Policy evaluation logic" in the IAM User Guide), for policy
//! sets ("layers") that must all allow:
//! 1. an applicable `Deny` statement in any layer: **explicit deny**;
//! 2. otherwise, if every layer has an applicable `Allow`: **allowed**;
//! 3. otherwise: **implicit deny**.
//!
//! A layer is e.g. the identity policies of a user (all its own and its
//! groups' policies together), a session policy, a permissions boundary, or
//! a role's trust policy. A statement applies when its action, resource and
//! principal elements cover the request and all its conditions hold.

use std::fmt;
use std::sync::Arc;

use super::arn::Arn;
use super::ast::{Effect, Policy, Statement};
use super::context::Context;
use super::index::PolicyIndex;

/// Who makes the request, for `Principal`/`NotPrincipal` in resource-based
/// policies (role trust policies).
///
/// Matching rules: an account id or `arn:aws:iam::ACCOUNT:root` matches
/// every principal of that account; a role ARN matches the role's sessions
/// (through `role_arn`); any other ARN matches `arn` exactly; `"*"` matches
/// everyone. A web-identity caller (`federated` set) matches only
/// `Federated` entries (and `"*"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalInfo {
    /// The caller's ARN (`arn:aws:iam::111122223333:user/alice`,
    /// `arn:aws:sts::111122223333:assumed-role/deployer/ci`).
    pub arn: String,
    /// The caller's account id.
    pub account: String,
    /// For an assumed-role session: the IAM role's ARN.
    pub role_arn: Option<String>,
    /// For web identity: the OIDC provider's ARN
    /// (`arn:aws:iam::111122223333:oidc-provider/token.example.com`).
    pub federated: Option<String>,
}

impl PrincipalInfo {
    /// Derives what an ARN says: the account; for
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` the role ARN
    /// `arn:aws:iam::ACCT:role/ROLE` (without path); for an
    /// `oidc-provider/...` or `saml-provider/...` ARN, `federated`.
    /// `None` when `arn` is not an ARN.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let parts = Arn::parse(arn)?;
        let mut info = PrincipalInfo {
            arn: arn.to_string(),
            account: parts.account.to_string(),
            role_arn: None,
            federated: None,
        };
        if parts.service == "sts"
            && let Some(rest) = parts.resource.strip_prefix("assumed-role/")
        {
            let role = rest.split('/').next().unwrap_or(rest);
            info.role_arn = Some(format!(
                "arn:{}:iam::{}:role/{role}",
                parts.partition, parts.account
            ));
        }
        if parts.service == "iam"
            && (parts.resource.starts_with("oidc-provider/")
                || parts.resource.starts_with("saml-provider/"))
        {
            info.federated = Some(arn.to_string());
        }
        Some(info)
    }
}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `codecommit:GitPush`, `sts:AssumeRole`, ... (matched case-insensitively).
    pub action: &'a str,
    /// The resource ARN (matched case-sensitively).
    pub resource: &'a str,
    /// The caller, for `Principal` elements; `None` for identity policies
    /// when the caller is implied.
    pub principal: Option<&'a PrincipalInfo>,
    /// The condition keys.
    pub context: &'a Context,
}

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
    fn for_each_candidate(&self, request: &Request<'_>, f: impl FnMut(&Policy, &Statement)) {
        match self {
            PolicyLayer::Policies(_) => self.for_each_statement(f),
            PolicyLayer::Indexed(index) => {
                index.for_each_candidate(request.action, request.resource, f)
            }
        }
    }

    fn for_each_statement(&self, mut f: impl FnMut(&Policy, &Statement)) {
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
    fn of(policy: &Policy, statement: &Statement) -> Self {
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

/// How one statement relates to a request, element by element (for
/// `gitiam policy simulate` and denial explanations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTrace {
    /// Index of the layer in the `layers` given to [`trace`].
    pub layer: usize,
    /// The statement.
    pub statement: StatementRef,
    /// Its effect.
    pub effect: Effect,
    /// The `Action`/`NotAction` element covers the action.
    pub action: bool,
    /// The `Resource`/`NotResource` element covers the resource.
    pub resource: bool,
    /// The `Principal`/`NotPrincipal` element covers the caller (`None`:
    /// the statement has neither).
    pub principal: Option<bool>,
    /// Each condition and whether it holds.
    pub conditions: Vec<ConditionTrace>,
    /// All of the above hold: the statement applies.
    pub applies: bool,
}

/// One condition of a [`StatementTrace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTrace {
    /// The condition as written: `StringEquals {"aws:username": "alice"}`.
    pub condition: String,
    /// Its key.
    pub key: String,
    /// The key's values in the request (`None`: absent).
    pub request_values: Option<Vec<String>>,
    /// Whether it holds.
    pub holds: bool,
}

/// Every statement of every layer with how it relates to `request` (all
/// conditions are evaluated, none short-circuited).
pub fn trace(layers: &[PolicyLayer<'_>], request: &Request<'_>) -> Vec<StatementTrace> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        layer.for_each_statement(|policy, statement| {
            let action = statement.matches_action(request.action);
            let resource = statement.matches_resource(request.resource, request.context);
            let principal = statement
                .has_principal()
                .then(|| statement.matches_principal(request.principal));
            let conditions: Vec<ConditionTrace> = statement
                .conditions()
                .iter()
                .map(|c| ConditionTrace {
                    condition: c.to_string(),
                    key: c.key().to_string(),
                    request_values: request.context.get(c.key()).map(<[String]>::to_vec),
                    holds: c.evaluate(request.context, &mut errors),
                })
                .collect();
            let applies = action
                && resource
                && principal != Some(false)
                && conditions.iter().all(|c| c.holds);
            out.push(StatementTrace {
                layer: i,
                statement: StatementRef::of(policy, statement),
                effect: statement.effect(),
                action,
                resource,
                principal,
                conditions,
                applies,
            });
        });
    }
    out
}
