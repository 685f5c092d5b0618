//! The STS endpoint (`POST /` of `gitiam serve`): [`handle`] and the
//! dispatch of each action to its module.
//!
//! Signed requests are authenticated exactly like Git requests (see
//! `authn`); so users and assumed-role sessions both work, which is
//! what makes `GetCallerIdentity` with temporary credentials and role
//! chaining work. `AssumeRoleWithWebIdentity` is unsigned (as in AWS): the
//! OIDC token is the credential. Every authorization decision is the access
//! core's ([`crate::server::access`]); `assume_role` and
//! `web_identity` say what is asked, `issue` issues.

use http::Method;

use super::error::{ErrorCode, StsError};
use super::query::{self, StsAction};
use super::request::{StsAudit, StsContext, StsOutcome, StsRequest};
use super::xml;
use super::{assume_role, authn, web_identity};

/// Serves one STS request. Never panics; every failure is an AWS error
/// response.
pub async fn handle(ctx: &StsContext<'_>, req: &StsRequest<'_>) -> StsOutcome {
    let mut audit = StsAudit::default();
    let response = match serve(ctx, req, &mut audit).await {
        Ok(body) => xml::response(http::StatusCode::OK, body, req.request_id),
        Err(e) => {
            audit.error = Some(e.code.as_str());
            audit.authentication_failed = e.code.is_authentication_failure();
            if audit.detail.is_none() {
                audit.detail = Some(e.message.clone());
            }
            xml::error_response(&e, req.request_id)
        }
    };
    StsOutcome { response, audit }
}

/// Dispatches the action: web identity before any signature check (it has
/// none), everything else once the caller is authenticated.
async fn serve(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    audit: &mut StsAudit,
) -> Result<String, StsError> {
    if req.method != Method::POST {
        return Err(StsError::new(
            ErrorCode::InvalidAction,
            "STS requests are form-encoded POSTs to /",
        ));
    }
    let parsed = query::parse(req.body);
    if let Ok(action) = &parsed {
        audit.action = Some(action.name());
    }
    if let Ok(StsAction::AssumeRoleWithWebIdentity(input)) = parsed {
        return web_identity::web_identity(ctx, req, &input, audit).await;
    }
    // A request that does not parse is answered with its validation error
    // only once its signature checks out (or when it is not signed at all).
    if parsed.is_err() && !req.headers.contains_key(http::header::AUTHORIZATION) {
        return parsed.map(|_| String::new());
    }
    let caller = authn::authenticate(ctx, req, audit)?;
    match parsed? {
        StsAction::GetCallerIdentity => Ok(xml::caller_identity(
            &xml::CallerIdentity {
                arn: caller.identity().arn(),
                user_id: &caller.identity().user_id(),
                account: caller.identity().account(),
            },
            req.request_id,
        )),
        StsAction::AssumeRole(input) => assume_role::assume_role(ctx, req, &caller, &input, audit),
        // Served above, unsigned; never reached.
        StsAction::AssumeRoleWithWebIdentity(_) => Err(StsError::internal()),
    }
}
