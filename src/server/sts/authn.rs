//! SigV4 authentication of signed STS requests (`GetCallerIdentity` and
//! `AssumeRole`): the signing key id is resolved to a caller exactly as on
//! the Git path, then the signature is checked with that caller's secret.
//! The result is an [`Authenticated`], the only thing the access core
//! accepts as proof of who is calling.
//!
//! Each failure is recorded in the audit in full and answered with the AWS
//! error code STS uses for it, no more telling than AWS's own message.

use super::error::{ErrorCode, StsError};
use super::request::{StsAudit, StsContext, StsRequest};
use crate::server::access::Authenticated;
use crate::server::identity::{self, Resolved};
use crate::shared::sigv4::request::{
    self as sigv4_request, ExpectedScope, SigV4Authorization, SignedRequest,
};
use crate::shared::sigv4::{SignatureVerified, VerifyError};

/// The signing service name of STS requests.
pub const SERVICE: &str = "sts";

/// Resolves the signing key id to a caller and checks the SigV4 signature
/// with its secret.
pub fn authenticate(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    audit: &mut StsAudit,
) -> Result<Authenticated, StsError> {
    if !req.headers.contains_key(http::header::AUTHORIZATION) {
        return Err(StsError::new(
            ErrorCode::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        ));
    }
    let auth = sigv4_request::parse_authorization(req.headers)
        .map_err(|e| incomplete_signature(e, audit))?;
    audit.access_key_id = Some(auth.access_key_id.clone());
    let session_token =
        sigv4_request::security_token(req.headers).map_err(|e| incomplete_signature(e, audit))?;
    let resolved = resolve(ctx, req, &auth.access_key_id, session_token, audit)?;
    let proof = verify(ctx, req, &auth, &resolved, audit)?;
    audit.principal = Some(resolved.identity.arn().to_owned());
    Ok(Authenticated::new(
        resolved.identity,
        auth.access_key_id.clone(),
        proof,
    ))
}

/// A header that cannot be read as a SigV4 signature.
fn incomplete_signature(e: VerifyError, audit: &mut StsAudit) -> StsError {
    audit.detail = Some(e.to_string());
    StsError::new(ErrorCode::IncompleteSignature, e.to_string())
}

/// The caller behind a signing key id (a user's key, or a session's with
/// its token). The client learns only that the token is expired or
/// invalid, never whether the key id exists.
fn resolve(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    access_key_id: &str,
    session_token: Option<&str>,
    audit: &mut StsAudit,
) -> Result<Resolved, StsError> {
    identity::resolve(
        ctx.directory,
        ctx.keys,
        access_key_id,
        session_token,
        req.now,
    )
    .map_err(|e| {
        audit.detail = Some(e.to_string());
        match e.aws_error_code() {
            "ExpiredToken" => StsError::expired_token(),
            _ => StsError::invalid_client_token(),
        }
    })
}

/// Checks the request's signature with the resolved caller's secret, in
/// the server's region and the `sts` service scope.
fn verify(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    auth: &SigV4Authorization,
    resolved: &Resolved,
    audit: &mut StsAudit,
) -> Result<SignatureVerified, StsError> {
    let signed = SignedRequest {
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.uri.query().unwrap_or(""),
        headers: req.headers,
        body: req.body,
    };
    let expected = ExpectedScope {
        region: ctx.region,
        service: SERVICE,
    };
    sigv4_request::verify(
        auth,
        &signed,
        resolved.secret.expose(),
        expected,
        req.now,
        ctx.max_clock_skew,
        ctx.signing_keys,
    )
    .map_err(|e| {
        audit.detail = Some(e.to_string());
        verify_error(e)
    })
}

/// STS's answer to a signature that does not check out: a bare mismatch
/// gets AWS's fixed wording, other failures say what was wrong.
fn verify_error(e: VerifyError) -> StsError {
    match e.aws_error_code() {
        "IncompleteSignature" => StsError::new(ErrorCode::IncompleteSignature, e.to_string()),
        _ => match e {
            VerifyError::SignatureMismatch => StsError::signature_mismatch(),
            other => StsError::new(ErrorCode::SignatureDoesNotMatch, other.to_string()),
        },
    }
}
