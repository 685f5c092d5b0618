//! `AssumeRole`: an authenticated caller (a user, or an assumed-role
//! session for role chaining) asks for a session of a role.
//!
//! AWS's rules for resource-based policies apply: the role's trust policy
//! must allow the caller; unless it names the caller itself within the same
//! account, the caller's own policies must allow `sts:AssumeRole` on the
//! role too (always so across accounts). The access core
//! ([`access::decide_assume_role`]) makes that decision; this module says
//! what is asked (the IAM context keys and actions) and what the new
//! session carries over from the calling one.

use super::error::StsError;
use super::issue::{self, NewSession};
use super::query::AssumeRoleInput;
use super::request::{StsAudit, StsContext, StsRequest, add_role_context, base_context};
use crate::server::access::{self, Authenticated, messages};
use crate::server::identity::Identity;
use crate::shared::config::Role;
use crate::shared::policy::{Context, Decision};

const ACTION: &str = "sts:AssumeRole";

/// Decides whether the caller may assume the role and, if so, issues the
/// session.
pub fn assume_role(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    authenticated: &Authenticated,
    input: &AssumeRoleInput,
    audit: &mut StsAudit,
) -> Result<String, StsError> {
    audit.resource = Some(input.role_arn.clone());
    let caller = authenticated.identity();
    // An unknown role is refused like a forbidden one: callers from other
    // accounts must not learn which roles exist.
    let Some(role) = ctx.directory.role_by_arn(&input.role_arn) else {
        audit.detail = Some("no such role".into());
        audit.decision = Some(Decision::ImplicitDeny);
        return Err(StsError::access_denied(messages::not_authorized(
            caller.arn(),
            ACTION,
            &input.role_arn,
            "",
        )));
    };
    let source_identity = source_identity(caller, input)?;
    let SessionTags {
        tags,
        transitive_tag_keys,
    } = session_tags(caller, input)?;

    let context = request_context(ctx, req, caller, &role, input);
    let decision = access::decide_assume_role(authenticated, &role, &actions(input), &context);
    audit.decision = Some(decision.decision);
    audit.deciding = decision.deciding;
    if let Some(message) = decision.denied {
        return Err(StsError::access_denied(message));
    }

    let session = NewSession {
        role: &role,
        session_name: &input.role_session_name,
        duration_seconds: input.duration_seconds,
        policy: input.policy.as_ref(),
        source_identity,
        tags,
        transitive_tag_keys,
        federated_provider: None,
        chained: matches!(caller, Identity::AssumedRole(_)),
    };
    issue::issue(ctx, req, session, None, audit)
}

/// The new session's source identity: the request's, or the calling
/// session's. A chained session keeps its source identity; it cannot be
/// changed.
fn source_identity(caller: &Identity, input: &AssumeRoleInput) -> Result<Option<String>, StsError> {
    let inherited = match caller {
        Identity::AssumedRole(s) => s.claims.source_identity.clone(),
        Identity::User(_) => None,
    };
    if let (Some(old), Some(new)) = (&inherited, &input.source_identity)
        && old != new
    {
        return Err(StsError::access_denied(
            "The source identity of a role chaining session cannot be changed",
        ));
    }
    Ok(input.source_identity.clone().or(inherited))
}

/// The new session's tags.
struct SessionTags {
    /// In request order, then the calling session's transitive ones.
    tags: Vec<(String, String)>,
    /// Keys of `tags` that pass on to sessions the new one assumes.
    transitive_tag_keys: Vec<String>,
}

/// The new session's tags and transitive tag keys: the request's, plus the
/// calling session's transitive tags. Those pass on through role chaining
/// and cannot be replaced there (AWS's rule).
fn session_tags(caller: &Identity, input: &AssumeRoleInput) -> Result<SessionTags, StsError> {
    let mut tags: Vec<(String, String)> = input.tags.clone();
    let mut transitive_tag_keys = input.transitive_tag_keys.clone();
    let Identity::AssumedRole(s) = caller else {
        return Ok(SessionTags {
            tags,
            transitive_tag_keys,
        });
    };
    for key in &s.claims.transitive_tag_keys {
        let Some((k, v)) = s
            .claims
            .tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
        else {
            continue;
        };
        if tags.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
            return Err(StsError::validation(format!(
                "The tag key {k} is a transitive tag of the calling session and cannot be \
                 overridden"
            )));
        }
        tags.push((k.clone(), v.clone()));
        transitive_tag_keys.push(k.clone());
    }
    Ok(SessionTags {
        tags,
        transitive_tag_keys,
    })
}

/// The IAM context of the decision: the request's, the caller's, the
/// role's tags, then what this AssumeRole asks for.
fn request_context(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    caller: &Identity,
    role: &Role,
    input: &AssumeRoleInput,
) -> Context {
    let mut context = base_context(ctx, req);
    caller.fill_context(&mut context);
    add_role_context(&mut context, role);
    context.insert("sts:RoleSessionName", input.role_session_name.clone());
    if let Some(id) = &input.external_id {
        context.insert("sts:ExternalId", id.clone());
    }
    if let Some(d) = input.duration_seconds {
        context.insert("sts:DurationSeconds", d.to_string());
    }
    if let Some(s) = &input.source_identity {
        context.insert("sts:SourceIdentity", s.clone());
    }
    for (k, v) in &input.tags {
        context.insert(format!("aws:RequestTag/{k}"), v.clone());
    }
    if !input.tags.is_empty() {
        context.set(
            "aws:TagKeys",
            input.tags.iter().map(|(k, _)| k.clone()).collect(),
        );
    }
    if !input.transitive_tag_keys.is_empty() {
        context.set("sts:TransitiveTagKeys", input.transitive_tag_keys.clone());
    }
    context
}

/// The actions to authorize. AWS asks for separate permissions to tag a
/// session and to set a source identity, in the trust policy and in the
/// caller's policies alike.
fn actions(input: &AssumeRoleInput) -> Vec<&'static str> {
    let mut actions = vec![ACTION];
    if !input.tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if input.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    actions
}
