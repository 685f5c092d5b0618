//! The access two configurations grant, compared: `gitiam access diff`.
//!
//! An [`AccessSet`] is every (principal, action, resource, ref) that one
//! configuration allows over a [`Universe`] of representative requests,
//! each decided by the server's code; [`diff`] compares two of them.
//!
//! The universe, shared by both sides so that they are asked the same
//! questions:
//! - repositories: those of the embedded backend, every repository name
//!   that a policy's `Resource`/`NotResource` names in either
//!   configuration, a representative name for every pattern
//!   (`release-*` -> `release-gitiam-review`), and `gitiam-review-other`,
//!   which no named pattern matches; per account (a Git request is decided
//!   in the caller's account);
//! - refs (pushes): every value of a `codecommit:References` condition, a
//!   representative for every pattern, a branch and a tag matching none,
//!   and the push without a ref (the probe and the advertisement);
//! - roles: every "may assume" edge ([`Graph`]), with the conditions the
//!   caller must meet.
//!
//! Principals: every user, and every role as a session without a session
//! policy. Patterns with policy variables (`${aws:username}-*`) get no
//! representative: their outcomes are seen only through names that other
//! policies or the backend provide.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::server::access::{self, GIT_PULL, GIT_PUSH, REFERENCES_KEY};
use crate::server::identity::Identity;
use crate::shared::config::Directory;
use crate::shared::policy::arn::Arn;
use crate::shared::policy::condition::Family;
use crate::shared::policy::{Context, Effect, Policy};

use super::principal::{Reviewer, SESSION_NAME, user_identity};
use super::reach::{Alternatives, Graph, own_policies};

/// A repository that no named pattern of either configuration matches.
pub const OTHER_REPOSITORY: &str = "gitiam-review-other";
/// What a `*` in a pattern becomes in its representative.
const FILL: &str = "gitiam-review";
/// A branch and a tag that no named pattern matches.
pub const OTHER_REFS: [&str; 2] = [
    "refs/heads/gitiam-review-other",
    "refs/tags/gitiam-review-other",
];

/// The representative requests (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Universe {
    /// Account id -> repository names.
    pub repositories: BTreeMap<String, BTreeSet<String>>,
    /// Refs a push is decided for (besides the push without a ref).
    pub refs: BTreeSet<String>,
}

impl Universe {
    /// Adds the accounts, and the repository names and refs that the
    /// policies of `directory` mention.
    pub fn add_directory(&mut self, directory: &Directory) {
        let accounts: Vec<String> = directory.account_ids().map(str::to_string).collect();
        for account in &accounts {
            self.repositories
                .entry(account.clone())
                .or_default()
                .insert(OTHER_REPOSITORY.to_string());
        }
        self.refs.extend(OTHER_REFS.map(String::from));
        for policy in identity_policies(directory) {
            for statement in policy.statements() {
                if let Some((written, _)) = statement.resources() {
                    for resource in written {
                        self.add_resource_pattern(resource, &accounts);
                    }
                }
                for condition in statement.conditions() {
                    // Only string comparisons name refs (`Null`'s "false"
                    // is not one).
                    if condition.key().eq_ignore_ascii_case(REFERENCES_KEY)
                        && condition.operator().base.family() == Family::String
                    {
                        for value in condition.values() {
                            if let Some(r) = representative(value) {
                                self.refs.insert(r);
                            }
                        }
                    }
                }
            }
        }
    }

    fn add_resource_pattern(&mut self, resource: &str, accounts: &[String]) {
        let Some(arn) = Arn::parse(resource) else {
            return;
        };
        let service_may_match = arn.service == "codecommit" || arn.service.contains(['*', '?']);
        if !service_may_match {
            return;
        }
        let Some(name) = representative(arn.resource) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        let exact_account =
            arn.account.len() == 12 && arn.account.bytes().all(|b| b.is_ascii_digit());
        for account in accounts {
            if !exact_account || arn.account == account {
                self.repositories
                    .entry(account.clone())
                    .or_default()
                    .insert(name.clone());
            }
        }
    }

    /// Adds the embedded backend's repositories (`ROOT/ACCOUNT/NAME.git`).
    pub fn add_backend_repositories(&mut self, root: &Path) {
        let Ok(accounts) = std::fs::read_dir(root) else {
            return;
        };
        for account in accounts.flatten() {
            let id = account.file_name().to_string_lossy().into_owned();
            let Ok(repos) = std::fs::read_dir(account.path()) else {
                continue;
            };
            for repo in repos.flatten() {
                let name = repo.file_name().to_string_lossy().into_owned();
                if let Some(name) = name.strip_suffix(".git") {
                    self.repositories
                        .entry(id.clone())
                        .or_default()
                        .insert(name.to_string());
                }
            }
        }
    }
}

/// A value matching pattern `value` (`*` -> [`FILL`], `?` -> `x`); `None`
/// for patterns with policy variables.
fn representative(value: &str) -> Option<String> {
    if value.contains("${") {
        return None;
    }
    Some(value.replace('*', FILL).replace('?', "x"))
}

/// Every identity policy of `directory` (users', groups', roles'), once.
fn identity_policies(directory: &Directory) -> Vec<&Arc<Policy>> {
    let mut seen = BTreeSet::new();
    directory
        .users()
        .flat_map(|u| &u.policies)
        .chain(directory.roles().flat_map(|r| &r.policies))
        .filter(|p| seen.insert(Arc::as_ptr(p)))
        .collect()
}

/// One allowed request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessEntry {
    /// A user, role or OIDC provider ARN.
    pub principal: String,
    /// `codecommit:GitPull`, `codecommit:GitPush`, `sts:AssumeRole`,
    /// `sts:AssumeRoleWithWebIdentity`.
    pub action: String,
    /// A repository or role ARN.
    pub resource: String,
    /// The ref of a push (`None`: a pull, a push without a ref, a role).
    pub reference: Option<String>,
}

/// Everything a configuration allows over a universe, each entry with the
/// conditions the caller must meet (for role edges).
#[derive(Debug, Default)]
pub struct AccessSet {
    /// Entry -> the conditions (none for Git access).
    pub entries: BTreeMap<AccessEntry, Alternatives>,
}

/// Decides every request of `universe` for every principal of the
/// reviewer's configuration.
pub fn access_set(reviewer: &Reviewer<'_>, universe: &Universe) -> AccessSet {
    let dir = reviewer.directory;
    let mut set = AccessSet::default();
    let identities: Vec<Identity> = dir
        .users()
        .map(user_identity)
        .chain(dir.roles().map(|r| reviewer.session(r, SESSION_NAME, None)))
        .collect();
    let no_repositories = BTreeSet::new();
    for id in &identities {
        let repositories = universe
            .repositories
            .get(id.account())
            .unwrap_or(&no_repositories);
        git_access(reviewer, id, repositories, &universe.refs, &mut set);
    }
    let graph = Graph::build(reviewer);
    for edge in graph.into.values().flatten() {
        let entry = AccessEntry {
            principal: edge.from.clone(),
            action: edge.action.to_string(),
            resource: edge.to.clone(),
            reference: None,
        };
        set.entries.insert(entry, edge.conditions.clone());
    }
    set
}

/// The Git access of one principal: only repositories that some `Allow`
/// statement for a Git action could cover are decided (the others are
/// implicit denies).
fn git_access(
    reviewer: &Reviewer<'_>,
    id: &Identity,
    repositories: &BTreeSet<String>,
    refs: &BTreeSet<String>,
    set: &mut AccessSet,
) {
    let context = reviewer.context(id);
    let allows = own_policies(id);
    let statements: Vec<_> = allows
        .iter()
        .flat_map(|p| p.statements())
        .filter(|s| {
            s.effect() == Effect::Allow
                && (s.matches_action(GIT_PULL) || s.matches_action(GIT_PUSH))
        })
        .collect();
    if statements.is_empty() {
        return;
    }
    let principal = id.principal_arn().to_string();
    for repo in repositories {
        let resource = access::repository_arn(reviewer.region, id.account(), repo);
        if !statements
            .iter()
            .any(|s| s.matches_resource(&resource, &context))
        {
            continue;
        }
        let mut record = |action: &str, reference: Option<&String>, ctx: &Context| {
            if access::evaluate_identity_of(id, action, &resource, ctx)
                .decision
                .is_allowed()
            {
                set.entries.insert(
                    AccessEntry {
                        principal: principal.clone(),
                        action: action.to_string(),
                        resource: resource.clone(),
                        reference: reference.cloned(),
                    },
                    Alternatives::none(),
                );
            }
        };
        record(GIT_PULL, None, &context);
        record(GIT_PUSH, None, &context);
        let mut ctx = context.clone();
        for reference in refs {
            ctx.set(REFERENCES_KEY, vec![reference.clone()]);
            record(GIT_PUSH, Some(reference), &ctx);
        }
    }
}

/// One difference between two access sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `+` granted by the new configuration only, `-` by the old only,
    /// `~` granted by both, the new one with more conditions.
    pub sign: char,
    /// The request.
    pub entry: AccessEntry,
    /// The conditions the caller must meet (new ones for `+` and `~`).
    pub conditions: Alternatives,
}

impl Change {
    /// True when the change grants something the old configuration did not.
    pub fn is_gain(&self) -> bool {
        self.sign == '+'
    }
}

/// What `new` grants that `old` does not (`+`, also when an entry's
/// conditions admit a caller the old ones did not: a set of conditions
/// loosened, or another set added), what it no longer grants (`-`), and
/// entries kept under stricter conditions (`~`), in entry order.
pub fn diff(old: &AccessSet, new: &AccessSet) -> Vec<Change> {
    let mut changes = Vec::new();
    for (entry, conditions) in &new.entries {
        match old.entries.get(entry) {
            None => changes.push(Change {
                sign: '+',
                entry: entry.clone(),
                conditions: conditions.clone(),
            }),
            Some(before) if before == conditions => {}
            Some(before) => {
                let stricter = before.admits_all_of(conditions);
                if !stricter {
                    changes.push(Change {
                        sign: '-',
                        entry: entry.clone(),
                        conditions: before.clone(),
                    });
                }
                changes.push(Change {
                    sign: if stricter { '~' } else { '+' },
                    entry: entry.clone(),
                    conditions: conditions.clone(),
                });
            }
        }
    }
    for (entry, conditions) in &old.entries {
        if !new.entries.contains_key(entry) {
            changes.push(Change {
                sign: '-',
                entry: entry.clone(),
                conditions: conditions.clone(),
            });
        }
    }
    changes.sort_by(|a, b| (&a.entry, a.sign).cmp(&(&b.entry, b.sign)));
    changes
}
