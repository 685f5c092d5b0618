//! Who can become which role: the edges of the "may assume" graph and the
//! chains through it.
//!
//! An edge `caller -> role` exists when the server would let the caller
//! assume the role: `sts:AssumeRole` decided by
//! [`access::decide_assume_role_of`] (trust policy, and the caller's own
//! policies unless the trust policy names it), or for an OIDC provider
//! `sts:AssumeRoleWithWebIdentity` decided by [`access::evaluate_trust`].
//! The context is the server's: the caller's keys and the role's tags.
//!
//! Some keys only the request supplies (`sts:ExternalId`,
//! `sts:RoleSessionName`, an OIDC token's `HOST:sub` and `HOST:aud`,
//! `aws:SourceIp`). When a trust statement admits the caller but for
//! conditions on such absent keys, a value meeting those conditions is
//! searched among candidates derived from the policy's own values (each
//! checked with the engine's condition code), and the decision is made
//! again with it: the edge then carries those conditions, which is what a
//! caller must present.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::server::access;
use crate::server::identity::Identity;
use crate::shared::config::Role;
use crate::shared::config::sts::OidcProvider;
use crate::shared::policy::condition::Condition;
use crate::shared::policy::{
    self, Context, Decision, Effect, Policy, PolicyLayer, PrincipalInfo, Request, StatementRef,
};

use super::principal::{Reviewer, SESSION_NAME, user_identity};

/// `sts:AssumeRole`.
pub const ASSUME_ROLE: &str = "sts:AssumeRole";
/// `sts:AssumeRoleWithWebIdentity`.
pub const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

/// What kind of principal starts an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An IAM user (a long-term identity).
    User,
    /// A session of a role (role chaining).
    Role,
    /// An OIDC identity provider (web-identity callers).
    Provider,
}

/// One "may assume" edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The caller: a user ARN, a role ARN (its sessions) or an OIDC
    /// provider ARN.
    pub from: String,
    /// What `from` is.
    pub kind: Kind,
    /// The role ARN.
    pub to: String,
    /// `sts:AssumeRole` or `sts:AssumeRoleWithWebIdentity`.
    pub action: &'static str,
    /// What the caller must present: conditions on keys that only the
    /// request supplies, as written (`StringEquals {"sts:ExternalId":
    /// ["x"]}`), as alternatives: meeting every condition of any one set
    /// admits the caller (one set per trust statement that admits it).
    /// Normalized (see [`Alternatives`]); empty when nothing is needed.
    pub conditions: Alternatives,
    /// The statements that allowed it.
    pub statements: Vec<StatementRef>,
}

/// Every edge of a configuration, by target role ARN.
#[derive(Debug, Default)]
pub struct Graph {
    /// Role ARN -> the edges into it, callers in configuration order.
    pub into: BTreeMap<String, Vec<Edge>>,
}

/// Longest chain followed (long-term identity, then up to this many roles).
pub const MAX_CHAIN: usize = 6;
/// Most chains reported per role.
pub const MAX_CHAINS: usize = 10_000;

impl Graph {
    /// Decides every (caller, role) pair of the reviewer's configuration:
    /// every user and every role's session against every role, and every
    /// OIDC provider of the role's account.
    pub fn build(reviewer: &Reviewer<'_>) -> Graph {
        let dir = reviewer.directory;
        let roles: Vec<&Arc<Role>> = dir.roles().collect();
        let users: Vec<Identity> = dir.users().map(user_identity).collect();
        let sessions: Vec<Identity> = roles
            .iter()
            .map(|r| reviewer.session(r, SESSION_NAME, None))
            .collect();
        let mut graph = Graph::default();
        for role in &roles {
            let mut edges = Vec::new();
            for caller in users.iter().chain(&sessions) {
                if caller.principal_arn() == role.arn {
                    continue;
                }
                edges.extend(reviewer.assume_edge(caller, role));
            }
            for provider in dir.oidc_providers(&role.account) {
                edges.extend(reviewer.web_identity_edge(provider, role));
            }
            graph.into.insert(role.arn.clone(), edges);
        }
        graph
    }

    /// Every way to become `role` from a long-term identity (a user) or an
    /// identity provider: chains of edges, the first starting at a user or
    /// provider and each next one at the previous role. No role twice in a
    /// chain; at most [`MAX_CHAIN`] edges and [`MAX_CHAINS`] chains.
    pub fn chains(&self, role: &str) -> Vec<Vec<&Edge>> {
        let mut out = Vec::new();
        let mut path: Vec<&Edge> = Vec::new();
        self.walk(role, &mut path, &mut out);
        out
    }

    fn walk<'g>(&'g self, role: &str, path: &mut Vec<&'g Edge>, out: &mut Vec<Vec<&'g Edge>>) {
        if path.len() >= MAX_CHAIN || out.len() >= MAX_CHAINS {
            return;
        }
        for edge in self.into.get(role).into_iter().flatten() {
            if out.len() >= MAX_CHAINS {
                return;
            }
            path.push(edge);
            match edge.kind {
                Kind::User | Kind::Provider => {
                    out.push(path.iter().rev().copied().collect());
                }
                Kind::Role => {
                    let seen = path.iter().any(|e| e.to == edge.from);
                    if !seen {
                        self.walk(&edge.from, path, out);
                    }
                }
            }
            path.pop();
        }
    }
}

impl Reviewer<'_> {
    /// The edge `caller -> role` for `sts:AssumeRole`, if the server would
    /// allow it (see the module documentation for request-supplied keys).
    pub fn assume_edge(&self, caller: &Identity, role: &Role) -> Option<Edge> {
        let principal = caller.principal_info();
        if !may_admit(role, &principal, ASSUME_ROLE) {
            return None;
        }
        let mut context = self.context(caller);
        // Unless the trust policy names the caller itself, the caller's own
        // policies must allow it too: skip the decision when none could.
        if !names(role, caller.arn()) && !own_policies_may_allow(caller, &role.arn, &context) {
            return None;
        }
        access::add_role_context(&mut context, role);
        let decide = |ctx: &Context| {
            let d = access::decide_assume_role_of(caller, role, &[ASSUME_ROLE], ctx);
            (d.decision == Decision::Allowed, d.deciding)
        };
        let (conditions, statements) = admit(role, &principal, ASSUME_ROLE, &context, decide)?;
        Some(Edge {
            from: caller.principal_arn().to_string(),
            kind: match caller {
                Identity::User(_) => Kind::User,
                Identity::AssumedRole(_) => Kind::Role,
            },
            to: role.arn.clone(),
            action: ASSUME_ROLE,
            conditions,
            statements,
        })
    }

    /// The edge `provider -> role` for `sts:AssumeRoleWithWebIdentity`, if
    /// the role's trust policy admits some token of the provider.
    pub fn web_identity_edge(&self, provider: &OidcProvider, role: &Role) -> Option<Edge> {
        let principal = PrincipalInfo {
            arn: provider.arn.clone(),
            account: provider.account.clone(),
            role_arn: None,
            federated: Some(provider.arn.clone()),
        };
        if !may_admit(role, &principal, ASSUME_ROLE_WITH_WEB_IDENTITY) {
            return None;
        }
        let mut context = self.request_context();
        access::add_role_context(&mut context, role);
        context.insert("aws:FederatedProvider", provider.arn.clone());
        let decide = |ctx: &Context| {
            let e = access::evaluate_trust(role, &principal, ASSUME_ROLE_WITH_WEB_IDENTITY, ctx);
            (e.decision == Decision::Allowed, e.deciding)
        };
        let (conditions, statements) = admit(
            role,
            &principal,
            ASSUME_ROLE_WITH_WEB_IDENTITY,
            &context,
            decide,
        )?;
        Some(Edge {
            from: provider.arn.clone(),
            kind: Kind::Provider,
            to: role.arn.clone(),
            action: ASSUME_ROLE_WITH_WEB_IDENTITY,
            conditions,
            statements,
        })
    }
}

/// The policies of `id`'s first layer: the user's own and groups', or the
/// role's (a session policy can only narrow them).
pub fn own_policies(id: &Identity) -> &[Arc<Policy>] {
    match id {
        Identity::User(u) => &u.policies,
        Identity::AssumedRole(s) => &s.role.policies,
    }
}

/// A cheap necessary test for the caller's side of `sts:AssumeRole`: some
/// `Allow` statement of its own policies covers the action on the role.
fn own_policies_may_allow(caller: &Identity, role: &str, context: &Context) -> bool {
    own_policies(caller)
        .iter()
        .flat_map(|p| p.statements())
        .any(|s| {
            s.effect() == Effect::Allow
                && s.matches_action(ASSUME_ROLE)
                && s.matches_resource(role, context)
        })
}

/// True when a trust statement names `arn` itself as an `AWS` principal,
/// or everyone (`"*"`): then the server may not ask the caller's own
/// policies, so the decision must be made.
fn names(role: &Role, arn: &str) -> bool {
    role.trust_policy.statements().iter().any(|s| {
        s.principals().is_some_and(|(described, negated)| {
            !negated
                && described
                    .split(", ")
                    .any(|p| p == "\"*\"" || p.strip_prefix("AWS:") == Some(arn))
        })
    })
}

/// A cheap necessary test: some `Allow` statement of the trust policy
/// covers the action and the caller.
fn may_admit(role: &Role, principal: &PrincipalInfo, action: &str) -> bool {
    role.trust_policy.statements().iter().any(|s| {
        s.effect() == Effect::Allow
            && s.matches_action(action)
            && s.matches_principal(Some(principal))
    })
}

/// Sets of conditions, any one of which admits a caller: the conditions of
/// a set all hold together, the sets are alternatives. Normalized so that
/// two trust policies admitting under the same conditions compare equal
/// whatever the order of their statements: each set sorted and without
/// repeats, no set that contains another (it admits nobody more), sets in
/// order. No sets at all: nothing is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Alternatives(Vec<Vec<String>>);

impl Alternatives {
    /// Nothing is needed.
    pub fn none() -> Self {
        Self::default()
    }

    /// The normal form of `sets` (see the type). A set without conditions
    /// means nothing is needed.
    pub fn new(sets: Vec<Vec<String>>) -> Self {
        let mut sets: Vec<Vec<String>> = sets
            .into_iter()
            .map(|mut set| {
                set.sort();
                set.dedup();
                set
            })
            .collect();
        if sets.iter().any(Vec::is_empty) {
            return Self::none();
        }
        sets.sort();
        sets.dedup();
        let minimal: Vec<Vec<String>> = sets
            .iter()
            .filter(|set| !sets.iter().any(|other| other != *set && covers(other, set)))
            .cloned()
            .collect();
        Self(minimal)
    }

    /// True when nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sets.
    pub fn sets(&self) -> &[Vec<String>] {
        &self.0
    }

    /// True when every caller that `other` admits, `self` admits too: each
    /// set of `other` contains some set of `self`.
    pub fn admits_all_of(&self, other: &Alternatives) -> bool {
        if self.is_empty() {
            return true;
        }
        if other.is_empty() {
            return false;
        }
        other
            .0
            .iter()
            .all(|theirs| self.0.iter().any(|ours| covers(ours, theirs)))
    }

    /// `[when A; B] or [when C]`; `None` when nothing is needed.
    pub fn describe(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let sets: Vec<String> = self
            .0
            .iter()
            .map(|set| format!("[when {}]", set.join("; ")))
            .collect();
        Some(sets.join(" or "))
    }
}

/// True when meeting `larger` means meeting `smaller`: every condition of
/// `smaller` is in `larger`.
fn covers(smaller: &[String], larger: &[String]) -> bool {
    smaller.iter().all(|c| larger.contains(c))
}

/// Decides with `base`; when that denies, tries every trust statement that
/// admits the caller but for conditions on keys `base` lacks, with values
/// meeting them. Returns the conditions needed (one set per statement that
/// admits) and the deciding statements of all of them.
fn admit(
    role: &Role,
    principal: &PrincipalInfo,
    action: &str,
    base: &Context,
    decide: impl Fn(&Context) -> (bool, Vec<StatementRef>),
) -> Option<(Alternatives, Vec<StatementRef>)> {
    let (allowed, statements) = decide(base);
    if allowed {
        return Some((Alternatives::none(), statements));
    }
    let mut sets = Vec::new();
    let mut deciding: Vec<StatementRef> = Vec::new();
    let layers = [PolicyLayer::new(std::slice::from_ref(&role.trust_policy))];
    let request = Request {
        action,
        resource: &role.arn,
        principal: Some(principal),
        context: base,
    };
    for t in policy::trace(&layers, &request) {
        let admits_caller =
            t.effect == Effect::Allow && t.action && t.resource && t.principal != Some(false);
        let fails_on_known = t
            .conditions
            .iter()
            .any(|c| !c.holds && c.request_values.is_some());
        if !admits_caller || fails_on_known {
            continue;
        }
        let Some(statement) = role
            .trust_policy
            .statements()
            .iter()
            .find(|s| s.label() == t.statement.statement)
        else {
            continue;
        };
        let Some(context) = witness(statement.conditions(), base) else {
            continue;
        };
        let (allowed, statements) = decide(&context);
        if allowed {
            sets.push(
                t.conditions
                    .iter()
                    .filter(|c| c.request_values.is_none())
                    .map(|c| c.condition.clone())
                    .collect(),
            );
            for s in statements {
                if !deciding.contains(&s) {
                    deciding.push(s);
                }
            }
        }
    }
    if sets.is_empty() {
        return None;
    }
    Some((Alternatives::new(sets), deciding))
}

/// `base` with a value for every key that `conditions` use and `base`
/// lacks, chosen so that the conditions on that key hold; `None` when no
/// candidate does.
fn witness(conditions: &[Condition], base: &Context) -> Option<Context> {
    let mut context = base.clone();
    let mut keys: Vec<&str> = conditions
        .iter()
        .map(Condition::key)
        .filter(|k| !base.contains(k))
        .collect();
    keys.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    for key in keys {
        let on_key: Vec<&Condition> = conditions
            .iter()
            .filter(|c| c.key().eq_ignore_ascii_case(key))
            .collect();
        let holds = |ctx: &Context| on_key.iter().all(|c| c.evaluate(ctx, &mut Vec::new()));
        if holds(&context) {
            continue;
        }
        let found = on_key
            .iter()
            .flat_map(|c| c.values())
            .flat_map(|v| candidates(v))
            .find(|candidate| {
                let mut trial = context.clone();
                trial.set(key, vec![candidate.clone()]);
                holds(&trial)
            })?;
        context.set(key, vec![found]);
    }
    Some(context)
}

/// Values that may meet a condition written with `value`: the value, its
/// wildcards filled in, neighbouring numbers, a network's address, booleans.
fn candidates(value: &str) -> Vec<String> {
    let mut out = vec![
        value.replace('*', "").replace('?', "x"),
        value.replace(['*', '?'], "x"),
        value.to_string(),
    ];
    if let Ok(n) = value.parse::<i64>() {
        out.push(n.saturating_add(1).to_string());
        out.push(n.saturating_sub(1).to_string());
    }
    if let Some((address, _)) = value.split_once('/') {
        out.push(address.to_string());
    }
    out.extend(["true", "false", "gitiam-review"].map(String::from));
    out
}

#[cfg(test)]
mod tests {
    use super::Alternatives;

    fn alts(sets: &[&[&str]]) -> Alternatives {
        Alternatives::new(
            sets.iter()
                .map(|s| s.iter().map(|c| c.to_string()).collect())
                .collect(),
        )
    }

    #[test]
    fn normal_form_ignores_order_repeats_and_stricter_sets() {
        assert_eq!(
            alts(&[&["b", "a"], &["c"]]),
            alts(&[&["c"], &["a", "b", "a"]])
        );
        // {a, b} admits nobody that {a} does not: it drops out.
        assert_eq!(alts(&[&["a"], &["a", "b"]]), alts(&[&["a"]]));
        // A set without conditions: nothing is needed.
        assert!(alts(&[&["a"], &[]]).is_empty());
        assert_eq!(
            alts(&[&["x"], &["a", "b"]]).describe().as_deref(),
            Some("[when a; b] or [when x]")
        );
    }

    #[test]
    fn admits_all_of_compares_who_gets_in() {
        let one = alts(&[&["id=7"]]);
        let two = alts(&[&["id=7"], &["id=9"]]);
        let stricter = alts(&[&["id=7", "ip=10/8"]]);
        assert!(two.admits_all_of(&one));
        assert!(!one.admits_all_of(&two), "a second way in admits more");
        assert!(one.admits_all_of(&stricter));
        assert!(!stricter.admits_all_of(&one));
        assert!(Alternatives::none().admits_all_of(&one));
        assert!(!one.admits_all_of(&Alternatives::none()));
    }
}
