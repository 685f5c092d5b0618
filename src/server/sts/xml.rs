//! STS answers in AWS's exact XML shapes: `AssumeRoleResponse`,
//! `AssumeRoleWithWebIdentityResponse`, `GetCallerIdentityResponse`, and
//! `ErrorResponse`. This is the one place where an [`StsError`] becomes an
//! HTTP response; every text value goes through quick-xml's escaping.

use crate::shared::timestamp::utc_seconds;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use quick_xml::escape::escape;

use super::error::StsError;
use crate::server::session::token::Issued;

/// The namespace of every STS response element.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// `GetCallerIdentity`'s answer.
pub struct CallerIdentity<'a> {
    pub arn: &'a str,
    pub user_id: &'a str,
    pub account: &'a str,
}

/// What a web identity session adds to the AssumeRole answer.
pub struct WebIdentityFacts<'a> {
    pub subject: &'a str,
    pub audience: &'a str,
    pub provider: &'a str,
}

fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn metadata(out: &mut String, request_id: &str) {
    out.push_str("<ResponseMetadata>");
    element(out, "RequestId", request_id);
    out.push_str("</ResponseMetadata>");
}

/// `GetCallerIdentityResponse`.
pub fn caller_identity(who: &CallerIdentity<'_>, request_id: &str) -> String {
    let mut out = format!("<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">");
    out.push_str("<GetCallerIdentityResult>");
    element(&mut out, "Arn", who.arn);
    element(&mut out, "UserId", who.user_id);
    element(&mut out, "Account", who.account);
    out.push_str("</GetCallerIdentityResult>");
    metadata(&mut out, request_id);
    out.push_str("</GetCallerIdentityResponse>\n");
    out
}

/// `AssumeRoleResponse`, or `AssumeRoleWithWebIdentityResponse` when `web`
/// is given. `packed_policy_size` is a percentage, present when the request
/// carried a session policy or tags (as in AWS).
pub fn assume_role(
    issued: &Issued,
    web: Option<&WebIdentityFacts<'_>>,
    packed_policy_size: Option<u32>,
    request_id: &str,
) -> String {
    let name = if web.is_some() {
        "AssumeRoleWithWebIdentity"
    } else {
        "AssumeRole"
    };
    let claims = &issued.claims;
    let mut out = format!("<{name}Response xmlns=\"{NAMESPACE}\"><{name}Result>");
    if let Some(web) = web {
        element(&mut out, "SubjectFromWebIdentityToken", web.subject);
        element(&mut out, "Audience", web.audience);
    }
    out.push_str("<Credentials>");
    element(&mut out, "AccessKeyId", &claims.akid);
    element(&mut out, "SecretAccessKey", issued.secret.expose());
    element(&mut out, "SessionToken", &issued.session_token);
    element(&mut out, "Expiration", &utc_seconds(claims.expires_at()));
    out.push_str("</Credentials>");
    out.push_str("<AssumedRoleUser>");
    element(&mut out, "AssumedRoleId", &claims.user_id());
    element(&mut out, "Arn", &claims.assumed_role_arn());
    out.push_str("</AssumedRoleUser>");
    if let Some(web) = web {
        element(&mut out, "Provider", web.provider);
    }
    if let Some(size) = packed_policy_size {
        element(&mut out, "PackedPolicySize", &size.to_string());
    }
    if let Some(source) = &claims.source_identity {
        element(&mut out, "SourceIdentity", source);
    }
    out.push_str(&format!("</{name}Result>"));
    metadata(&mut out, request_id);
    out.push_str(&format!("</{name}Response>\n"));
    out
}

/// `ErrorResponse` body.
pub fn error_body(error: &StsError, request_id: &str) -> String {
    let mut out = format!("<ErrorResponse xmlns=\"{NAMESPACE}\"><Error>");
    element(&mut out, "Type", error.code.fault());
    element(&mut out, "Code", error.code.as_str());
    element(&mut out, "Message", &error.message);
    out.push_str("</Error>");
    element(&mut out, "RequestId", request_id);
    out.push_str("</ErrorResponse>\n");
    out
}

/// A `text/xml` response with `x-amzn-RequestId`, as STS sends.
pub fn response(status: StatusCode, body: String, request_id: &str) -> Response<Bytes> {
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/xml")
        .header(header::CACHE_CONTROL, "no-store");
    if let Ok(id) = http::HeaderValue::from_str(request_id) {
        builder = builder.header("x-amzn-requestid", id);
    }
    // The builder only fails on invalid parts; all of ours are static or
    // checked above, so the fallback is never taken in practice.
    builder
        .body(Bytes::from(body))
        .unwrap_or_else(|_| Response::new(Bytes::new()))
}

/// The HTTP response for `error`.
pub fn error_response(error: &StsError, request_id: &str) -> Response<Bytes> {
    response(
        error.code.status(),
        error_body(error, request_id),
        request_id,
    )
}

/// The `Throttling` answer to a request from a source refused for a while:
/// AWS's shape (400, `Sender`, `Rate exceeded`) plus a `Retry-After`, which
/// AWS does not send and the SDKs ignore, for other clients.
pub fn throttled_response(retry_after_secs: u64, request_id: &str) -> Response<Bytes> {
    let mut response = error_response(&StsError::throttling(), request_id);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        http::HeaderValue::from(retry_after_secs),
    );
    response
}

#[cfg(test)]
mod tests {

    use super::super::error::ErrorCode;
    use super::*;

    #[test]
    fn error_shape_and_escaping() {
        let e = StsError::new(
            ErrorCode::AccessDenied,
            "User: a<b>&\"c\" is not authorized",
        );
        let resp = error_response(&e, "req-1");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = std::str::from_utf8(resp.body()).unwrap();
        assert_eq!(
            body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>AccessDenied</Code><Message>User: a&lt;b&gt;&amp;&quot;c&quot; is not authorized</Message>\
             </Error><RequestId>req-1</RequestId></ErrorResponse>\n"
        );
        assert_eq!(resp.headers()["x-amzn-requestid"], "req-1");
        assert_eq!(
            error_response(&StsError::expired_token(), "r").status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn throttling_is_awss_shape_with_retry_after() {
        let resp = throttled_response(42, "r");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
        let body = std::str::from_utf8(resp.body()).unwrap();
        assert!(
            body.contains(
                "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
            ),
            "{body}"
        );
        assert!(!ErrorCode::Throttling.is_authentication_failure());
        assert!(ErrorCode::SignatureDoesNotMatch.is_authentication_failure());
        assert!(!ErrorCode::MissingAuthenticationToken.is_authentication_failure());
    }

    #[test]
    fn caller_identity_shape() {
        let body = caller_identity(
            &CallerIdentity {
                arn: "arn:aws:iam::111122223333:user/alice",
                user_id: "AIDAEXAMPLE",
                account: "111122223333",
            },
            "r",
        );
        assert_eq!(
            body,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/alice</Arn>\
             <UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>\n"
        );
    }
}
