//! The STS endpoint (`POST /` of `gitiam serve`): the request, outcome and
//! audit types, [`handle`] and the dispatch of each action to its module.
//!
//! Signed requests are authenticated exactly like Git requests (see
//! `authn`); so users and assumed-role sessions both work, which is
//! what makes `GetCallerIdentity` with temporary credentials and role
//! chaining work. `AssumeRoleWithWebIdentity` is unsigned (as in AWS): the
//! OIDC token is the credential. Every authorization decision is the access
//! core's ([`crate::server::access`]); `assume_role` and
//! `web_identity` say what is asked, `issue` issues.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, Uri};

use super::error::{ErrorCode, StsError};
use super::query::{self, StsAction};
use super::xml;
use super::{assume_role, authn, web_identity};
use crate::server::access::{self, RequestFacts};
use crate::server::session::keys::KeySet;
use crate::shared::config::sts::StsSettings;
use crate::shared::config::{Directory, Role};
use crate::shared::policy::{Context, Decision, StatementRef};
use crate::shared::sigv4::SigningKeyCache;

pub use super::authn::SERVICE;
pub use super::issue::ROLE_CHAINING_MAX;

/// What the STS endpoint needs from the server; borrowed for one request
/// (the proxy holds the current directory and key set).
pub struct StsContext<'a> {
    /// The current configuration's identities and roles.
    pub directory: &'a Directory,
    /// The session-token key set.
    pub keys: &'a KeySet,
    /// `[sts]` settings.
    pub settings: &'a StsSettings,
    /// The server's region (SigV4 scope of STS requests).
    pub region: &'a str,
    /// Largest accepted distance between a signature's time and `now`.
    pub max_clock_skew: Duration,
    /// Derived SigV4 signing keys, shared with the Git path.
    pub signing_keys: &'a SigningKeyCache,
}

/// One STS HTTP request, its body already read (and size-limited).
pub struct StsRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The client's address (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
    /// The proxy's request id, echoed as `RequestId`.
    pub request_id: &'a str,
    pub now: SystemTime,
}

/// Facts about one STS request for the audit log. Never a secret.
#[derive(Debug, Clone, Default)]
pub struct StsAudit {
    /// `AssumeRole`, ... (`None` when the body could not be read).
    pub action: Option<&'static str>,
    /// The access key id that signed the request.
    pub access_key_id: Option<String>,
    /// The caller's principal ARN (or the OIDC provider's, for web identity).
    pub principal: Option<String>,
    /// The role ARN asked for.
    pub resource: Option<String>,
    /// The policy decision, when one was made.
    pub decision: Option<Decision>,
    /// Statements that decided it.
    pub deciding: Vec<StatementRef>,
    /// The AWS error code answered, if any.
    pub error: Option<&'static str>,
    /// Why, in more detail than the client is told.
    pub detail: Option<String>,
    /// The access key id of credentials issued by this request.
    pub issued_access_key_id: Option<String>,
}

/// The answer and its audit facts.
#[derive(Debug)]
pub struct StsOutcome {
    pub response: Response<Bytes>,
    pub audit: StsAudit,
}

/// Serves one STS request. Never panics; every failure is an AWS error
/// response.
pub async fn handle(ctx: &StsContext<'_>, req: &StsRequest<'_>) -> StsOutcome {
    let mut audit = StsAudit::default();
    let response = match serve(ctx, req, &mut audit).await {
        Ok(body) => xml::response(http::StatusCode::OK, body, req.request_id),
        Err(e) => {
            audit.error = Some(e.code.as_str());
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

/// The request-level context keys every STS decision sees.
pub(super) fn base_context(ctx: &StsContext<'_>, req: &StsRequest<'_>) -> Context {
    access::request_context(&RequestFacts {
        source_ip: req.source_ip,
        now: req.now,
        region: ctx.region,
    })
}

/// The role's tags as `aws:ResourceTag/...`: the role is the resource both
/// AssumeRole paths decide on.
pub(super) fn add_role_context(context: &mut Context, role: &Role) {
    for (k, v) in &role.tags {
        context.insert(format!("aws:ResourceTag/{k}"), v.clone());
    }
}
