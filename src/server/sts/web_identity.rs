//! `AssumeRoleWithWebIdentity`: an unsigned request whose OIDC token is the
//! credential (as in AWS). The role's account must have an OIDC provider
//! for the token's issuer; the token is verified by [`oidc`], and the
//! role's trust policy alone decides, through the access core
//! ([`access::evaluate_trust`]), with the provider as federated principal.

use super::error::{ErrorCode, StsError};
use super::issue::{self, NewSession};
use super::oidc::{self, WebIdentity};
use super::query::WebIdentityInput;
use super::request::{StsAudit, StsContext, StsRequest, add_role_context, base_context};
use super::xml;
use crate::server::access;
use crate::shared::config::Role;
use crate::shared::config::sts::OidcProvider;
use crate::shared::policy::{Context, Decision, PrincipalInfo};

const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// Every refusal reads the same, whether the role is unknown or its trust
/// policy says no: the token's bearer learns nothing about the account.
fn not_authorized() -> StsError {
    StsError::access_denied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
}

/// Verifies the web identity token, decides with the role's trust policy
/// and, if allowed, issues the session.
pub async fn web_identity(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    input: &WebIdentityInput,
    audit: &mut StsAudit,
) -> Result<String, StsError> {
    audit.resource = Some(input.role_arn.clone());
    let Some(role) = ctx.directory.role_by_arn(&input.role_arn) else {
        audit.detail = Some("no such role".into());
        audit.decision = Some(Decision::ImplicitDeny);
        return Err(not_authorized());
    };
    let provider = provider(ctx, &role, &input.web_identity_token)?;
    audit.principal = Some(provider.arn.clone());
    let web = oidc::verify(
        provider,
        &input.web_identity_token,
        req.now,
        ctx.settings.web_identity_leeway,
    )
    .await?;
    let context = trust_context(ctx, req, &role, provider, &web, input);
    decide_trust(&role, provider, &web, &context, audit)?;

    let session = NewSession {
        role: &role,
        session_name: &input.role_session_name,
        duration_seconds: input.duration_seconds,
        policy: input.policy.as_ref(),
        source_identity: None,
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        federated_provider: Some(provider.arn.clone()),
        chained: false,
    };
    let facts = xml::WebIdentityFacts {
        subject: &web.subject,
        audience: &web.audience,
        provider: &web.issuer,
    };
    issue::issue(ctx, req, session, Some(&facts), audit)
}

/// The role account's OIDC provider for the token's issuer (read before
/// the token is verified: the provider holds the keys to verify it with).
fn provider<'d>(
    ctx: &StsContext<'d>,
    role: &Role,
    token: &str,
) -> Result<&'d OidcProvider, StsError> {
    let issuer = oidc::unverified_issuer(token)?;
    ctx.directory
        .oidc_providers(&role.account)
        .iter()
        .find(|p| p.matches_issuer(&issuer))
        .ok_or_else(|| {
            StsError::new(
                ErrorCode::InvalidIdentityToken,
                format!(
                    "No OpenIDConnect provider found in your account for {}",
                    issuer.chars().take(256).collect::<String>()
                ),
            )
        })
}

/// The IAM context of the trust decision: the request's, the role's tags,
/// the provider's `HOST:sub`, `HOST:aud` and `HOST:amr` keys, and what is
/// asked for.
fn trust_context(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    role: &Role,
    provider: &OidcProvider,
    web: &WebIdentity,
    input: &WebIdentityInput,
) -> Context {
    let mut context = base_context(ctx, req);
    add_role_context(&mut context, role);
    context.insert("aws:FederatedProvider", provider.arn.clone());
    context.insert(format!("{}:sub", provider.host), web.subject.clone());
    context.insert(format!("{}:aud", provider.host), web.aud_context.clone());
    if !web.amr.is_empty() {
        context.set(format!("{}:amr", provider.host), web.amr.clone());
    }
    context.insert("sts:RoleSessionName", input.role_session_name.clone());
    if let Some(d) = input.duration_seconds {
        context.insert("sts:DurationSeconds", d.to_string());
    }
    context
}

/// The role's trust policy, with the provider as federated principal,
/// decides alone: a web identity has no policies of its own.
fn decide_trust(
    role: &Role,
    provider: &OidcProvider,
    web: &WebIdentity,
    context: &Context,
    audit: &mut StsAudit,
) -> Result<(), StsError> {
    let principal = PrincipalInfo {
        arn: provider.arn.clone(),
        account: provider.account.clone(),
        role_arn: None,
        federated: Some(provider.arn.clone()),
    };
    let trust = access::evaluate_trust(role, &principal, ACTION, context);
    audit.decision = Some(trust.decision);
    audit.deciding = trust.deciding;
    if trust.decision != Decision::Allowed {
        audit.detail = Some(format!(
            "trust policy: {} for sub {}",
            trust.decision, web.subject
        ));
        return Err(not_authorized());
    }
    Ok(())
}
