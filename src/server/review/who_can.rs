//! Every principal of a configuration that one request would be allowed
//! for, and how each can be reached: `gitiam access who-can`.
//!
//! Users are decided with their own and their groups' policies, roles as
//! sessions without a session policy; for each role, the chains of
//! [`Graph`] edges that lead to it from users and identity providers. A
//! Git request is only ever decided in the caller's own account (the server
//! builds the repository ARN from it), so for a `codecommit:` resource only
//! that account's principals are considered. For `sts:AssumeRole` and
//! `sts:AssumeRoleWithWebIdentity` on a configured role, the answer is the
//! graph's edges into it.

use crate::server::access;
use crate::server::identity::Identity;
use crate::shared::policy::StatementRef;
use crate::shared::policy::arn::Arn;

use super::principal::{Reviewer, SESSION_NAME, user_identity};
use super::reach::{ASSUME_ROLE, ASSUME_ROLE_WITH_WEB_IDENTITY, Edge, Graph, Kind};

/// One allowed principal.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The user, role or provider ARN.
    pub principal: String,
    /// What it is.
    pub kind: Kind,
    /// The statements that allow the request.
    pub statements: Vec<StatementRef>,
    /// For a role: every chain from a user or an identity provider to it.
    /// For an edge answer (`sts:AssumeRole` asked directly): that edge,
    /// after the chains to its caller when the caller is a role.
    pub via: Vec<Vec<Edge>>,
}

/// Every principal allowed `action` on `resource`, users first, then
/// roles, in configuration order. `graph` is built when a role needs it.
pub fn who_can(reviewer: &Reviewer<'_>, action: &str, resource: &str) -> Vec<Grant> {
    let dir = reviewer.directory;
    let is_assume = action.eq_ignore_ascii_case(ASSUME_ROLE)
        || action.eq_ignore_ascii_case(ASSUME_ROLE_WITH_WEB_IDENTITY);
    if is_assume && let Some(role) = dir.role_by_arn(resource) {
        return assume_grants(reviewer, action, &role.arn);
    }
    let account = Arn::parse(resource)
        .filter(|a| a.service == "codecommit")
        .map(|a| a.account.to_string());
    let in_scope = |id: &Identity| account.as_deref().is_none_or(|a| a == id.account());
    let decide = |id: &Identity| {
        let context = reviewer.context(id);
        access::evaluate_identity_of(id, action, resource, &context)
    };
    let mut grants = Vec::new();
    for user in dir.users() {
        let id = user_identity(user);
        if !in_scope(&id) {
            continue;
        }
        let e = decide(&id);
        if e.decision.is_allowed() {
            grants.push(Grant {
                principal: user.arn.clone(),
                kind: Kind::User,
                statements: e.deciding,
                via: Vec::new(),
            });
        }
    }
    let mut graph: Option<Graph> = None;
    for role in dir.roles() {
        let id = reviewer.session(role, SESSION_NAME, None);
        if !in_scope(&id) {
            continue;
        }
        let e = decide(&id);
        if !e.decision.is_allowed() {
            continue;
        }
        let graph = graph.get_or_insert_with(|| Graph::build(reviewer));
        let via = graph
            .chains(&role.arn)
            .into_iter()
            .map(|chain| chain.into_iter().cloned().collect())
            .collect();
        grants.push(Grant {
            principal: role.arn.clone(),
            kind: Kind::Role,
            statements: e.deciding,
            via,
        });
    }
    grants
}

/// The callers that may assume `role` with `action`: one grant per edge.
/// A user's or provider's `via` is that edge; a role's is every chain from
/// a user or provider to that role, then the edge (a chain that passes
/// through `role` itself is left out: it already reaches `role`).
fn assume_grants(reviewer: &Reviewer<'_>, action: &str, role: &str) -> Vec<Grant> {
    let graph = Graph::build(reviewer);
    graph
        .into
        .get(role)
        .into_iter()
        .flatten()
        .filter(|e| e.action.eq_ignore_ascii_case(action))
        .map(|e| Grant {
            principal: e.from.clone(),
            kind: e.kind,
            statements: e.statements.clone(),
            via: match e.kind {
                Kind::User | Kind::Provider => vec![vec![e.clone()]],
                Kind::Role => graph
                    .chains(&e.from)
                    .into_iter()
                    .filter(|chain| chain.iter().all(|hop| hop.to != role))
                    .map(|chain| chain.into_iter().chain([e]).cloned().collect())
                    .collect(),
            },
        })
        .collect()
}
