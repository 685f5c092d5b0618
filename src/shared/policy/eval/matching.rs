//! Whether one element of a statement (`Action`, `Resource`, `Principal`)
//! covers a request. The model (`ast`) only holds the compiled patterns;
//! what they mean for a request is evaluation's business, so these methods
//! live here rather than next to the types or in the builder.

use crate::shared::policy::arn::{Arn, is_account_id};
use crate::shared::policy::ast::{Principals, ResourcePattern, Statement};
use crate::shared::policy::context::Context;

use super::request::PrincipalInfo;

impl Statement {
    /// Does the `Action`/`NotAction` element cover `action`
    /// (case-insensitive)?
    pub fn matches_action(&self, action: &str) -> bool {
        self.actions.patterns.iter().any(|p| p.matches(action)) != self.actions.negated
    }

    /// [`Statement::matches_action`] for an action already lower-cased.
    pub(crate) fn matches_action_lowercase(&self, action: &str) -> bool {
        self.actions
            .patterns
            .iter()
            .any(|p| p.matches_lowercase(action))
            != self.actions.negated
    }

    /// Does the `Resource`/`NotResource` element cover `resource`
    /// (case-sensitive, policy variables substituted from `context`)? A
    /// statement without either covers every resource (trust policies).
    pub fn matches_resource(&self, resource: &str, context: &Context) -> bool {
        match &self.resources {
            None => true,
            Some(r) => r.patterns.iter().any(|p| p.matches(resource, context)) != r.negated,
        }
    }

    /// Does the `Principal`/`NotPrincipal` element cover `principal`? A
    /// statement without either covers every request; one with either never
    /// covers a request without a principal.
    pub fn matches_principal(&self, principal: Option<&PrincipalInfo>) -> bool {
        self.principals
            .as_ref()
            .is_none_or(|p| p.matches(principal))
    }
}

impl ResourcePattern {
    fn matches(&self, resource: &str, context: &Context) -> bool {
        match self {
            ResourcePattern::Static(w) => w.matches(resource),
            ResourcePattern::Dynamic(t) => t.matches(context, resource),
        }
    }
}

impl Principals {
    fn matches(&self, principal: Option<&PrincipalInfo>) -> bool {
        let Some(p) = principal else { return false };
        let hit = self.everyone
            || match &p.federated {
                Some(provider) => self.federated.iter().any(|f| f == provider),
                None => {
                    self.aws.iter().any(|entry| aws_principal_matches(entry, p))
                        || self.service.contains(&p.arn)
                }
            };
        hit != self.negated
    }
}

/// Matching rules for an `AWS` principal entry: an account id or
/// `arn:PARTITION:iam::ACCOUNT:root` stands for every principal of that
/// account; a role ARN matches the role and its sessions; any other ARN
/// matches itself.
fn aws_principal_matches(entry: &str, p: &PrincipalInfo) -> bool {
    if entry == "*" {
        return true;
    }
    if is_account_id(entry) {
        return p.account == entry;
    }
    if let Some(arn) = Arn::parse(entry)
        && arn.service == "iam"
        && arn.resource == "root"
    {
        return p.account == arn.account;
    }
    p.arn == entry || p.role_arn.as_deref() == Some(entry)
}
