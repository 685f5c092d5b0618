//! One STS request as the endpoint sees it: what it needs from the server
//! ([`StsContext`]), the request ([`StsRequest`]), what the audit line gets
//! ([`StsAudit`]) and the answer ([`StsOutcome`]); and the IAM context keys
//! every STS decision starts from. Every action's module builds on these.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Response, Uri};

use crate::server::access::{self, RequestFacts};
use crate::server::session::keys::KeySet;
use crate::shared::config::sts::StsSettings;
use crate::shared::config::{Directory, Role};
use crate::shared::policy::{Context, Decision, StatementRef};
use crate::shared::sigv4::SigningKeyCache;

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
    /// Whether that error says presented credentials did not authenticate
    /// ([`super::ErrorCode::is_authentication_failure`]).
    pub authentication_failed: bool,
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
    access::add_role_context(context, role);
}
