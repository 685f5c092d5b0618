//! The one place where request failures become HTTP responses.
//!
//! Authentication failures all look the same to the client whichever key,
//! user or credential they name (401 with a `WWW-Authenticate` challenge);
//! the reason goes to the audit log through [`HttpError::audit_reason`].
//! The 401 text carries an [`AuthHint`]: what the git user can check,
//! judged from their own request alone (its password's form and time, the
//! kind of user name), never from what the server knows about keys. Other answers carry a short
//! text that git prints as `remote: ...` or in its error line.
//!
//! [`HttpError::is_failed_authentication`] says which failures the
//! failed-authentication limiter counts; a source it refuses gets `429` with
//! `Retry-After` ([`HttpError::Throttled`]).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use crate::server::backend::BackendError;
use crate::server::throttle::RetryAfter;
use crate::shared::git::{GitError, RefusalAnswer};

use super::ProxyBody;

/// The `WWW-Authenticate` challenge of every 401.
pub const CHALLENGE: &str = "Basic realm=\"gitiam\"";

/// Why a request was not served normally.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No such route.
    #[error("not found")]
    NotFound,
    /// Right path, wrong method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The accepted method.
        allow: http::Method,
    },
    /// No credentials: git's first request, answered with the challenge
    /// (git then asks its credential helper and retries). Not a failure.
    #[error("authentication required: no Authorization header")]
    NoCredentials,
    /// Credentials were presented and did not authenticate; `reason` is for
    /// the audit log only.
    #[error("authentication failed: {reason}")]
    Unauthorized {
        /// What failed.
        reason: String,
        /// What the client is told it can check.
        hint: AuthHint,
    },
    /// The source address is refused for a while after too many failed
    /// authentications.
    #[error("throttled: {0}")]
    Throttled(RetryAfter),
    /// Authorization denied a pull or a ref advertisement.
    #[error("{message}")]
    Forbidden {
        /// Shown to the client.
        message: String,
    },
    /// A request body encoding the proxy cannot inspect.
    #[error("unsupported Content-Encoding {0:?} on a push")]
    UnsupportedEncoding(String),
    /// The Git request is malformed or too large.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// `git http-backend` answered with a server error (git failed in the
    /// repository: unreadable configuration, corrupt repository, ...).
    #[error("git http-backend answered {0}")]
    BackendFailed(u16),
    /// The request body could not be read.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request line and headers are larger than `max_header_bytes`.
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    /// The request body is larger than allowed.
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The server is shutting down or otherwise unable to serve.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

/// What a git user is told to check after a failed authentication. Each is
/// derived from the request only, so it reveals nothing about which access
/// keys, users or credentials exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHint {
    /// The `Authorization` header or the Basic user name is malformed.
    Malformed,
    /// A SigV4 user name with a password that is not a signed Git password.
    NotSigned,
    /// A signed password whose time is this far from the server's clock.
    ClockSkew {
        /// Minutes off, rounded up.
        minutes: u64,
    },
    /// A well-formed, timely SigV4 password that did not verify.
    SigV4,
    /// A service user name (`NAME-at-ACCOUNTID`) with its password.
    GitCredential,
}

impl AuthHint {
    /// The lines after "authentication failed" (git prints each as
    /// `remote: ...`).
    fn text(self) -> String {
        match self {
            AuthHint::Malformed => "gitiam: the credentials sent are malformed: the user name must be an access key id (from git-credential-gitiam) or a service user name NAME-at-ACCOUNTID".into(),
            AuthHint::NotSigned => "gitiam: the password is not a signed Git password (YYYYMMDDTHHMMSSZ and 64 hex digits): is another credential helper (store, cache, a keychain) answering before git-credential-gitiam? Check `git config --show-origin --get-all credential.helper`".into(),
            AuthHint::ClockSkew { minutes } => format!("gitiam: the password was signed about {minutes} minutes away from the server's clock: check this computer's clock"),
            AuthHint::SigV4 => "gitiam: the signature did not verify: check that the access key is active and its secret right, and that credential.useHttpPath is true for this host (the password is signed for the repository path)".into(),
            AuthHint::GitCredential => "gitiam: the Git credential did not verify: check the service user name and password (gitiam iam list-service-specific-credentials --user-name NAME shows the user's credentials and their status)".into(),
        }
    }
}

impl HttpError {
    /// The status sent.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::NoCredentials | HttpError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            HttpError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            HttpError::Forbidden { .. } => StatusCode::FORBIDDEN,
            HttpError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpError::Git(e) => match e {
                GitError::Protocol(_) | GitError::MissingPack | GitError::Body(_) => {
                    StatusCode::BAD_REQUEST
                }
                GitError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                GitError::IdleTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            },
            HttpError::Backend(BackendError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            HttpError::Backend(_) => StatusCode::BAD_GATEWAY,
            HttpError::BackendFailed(_) => StatusCode::BAD_GATEWAY,
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::HeadTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether the failure is a failed authentication that counts against
    /// its source address: credentials were presented and did not
    /// authenticate (unreadable, unknown or inactive key, bad or expired
    /// session token, wrong signature, timestamp too far off). A request
    /// without credentials does not count (every git session starts with
    /// one).
    pub fn is_failed_authentication(&self) -> bool {
        matches!(self, HttpError::Unauthorized { .. })
    }

    /// The full reason, for the audit log and logs (never secrets: no error
    /// here is built from one).
    pub fn audit_reason(&self) -> String {
        self.to_string()
    }

    /// The text sent to the client.
    pub fn public_message(&self) -> String {
        match self {
            HttpError::NotFound => "gitiam: not found".into(),
            HttpError::MethodNotAllowed { .. } => "gitiam: method not allowed".into(),
            HttpError::NoCredentials => "gitiam: authentication required".into(),
            HttpError::Unauthorized { hint, .. } => format!(
                "gitiam: authentication failed\n{}\ngitiam: the server's audit log has the exact reason",
                hint.text()
            ),
            HttpError::Throttled(retry) => format!(
                "gitiam: too many failed authentications from your address; retry in {} seconds",
                retry.secs()
            ),
            HttpError::Forbidden { message } => message.clone(),
            HttpError::UnsupportedEncoding(_) => {
                "gitiam: compressed push requests are not supported".into()
            }
            HttpError::Git(e) => format!("gitiam: {e}"),
            HttpError::Backend(e) => e.public_message().into(),
            HttpError::BackendFailed(_) => {
                "gitiam: the Git backend failed on this repository (see the server log)".into()
            }
            HttpError::BadRequest(_) => "gitiam: bad request".into(),
            HttpError::PayloadTooLarge(limit) => {
                format!("gitiam: request body larger than {limit} bytes")
            }
            HttpError::HeadTooLarge(limit) => {
                format!("gitiam: request headers larger than {limit} bytes")
            }
            HttpError::Unavailable(_) => "gitiam: service unavailable".into(),
        }
    }

    /// The response.
    pub fn into_response(self) -> Response<ProxyBody> {
        let mut response = text(self.status(), format!("{}\n", self.public_message()));
        let headers = response.headers_mut();
        match &self {
            HttpError::NoCredentials | HttpError::Unauthorized { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
            }
            HttpError::Throttled(retry) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry.secs()));
                // Refused before the body was read: do not reuse the
                // connection (and make the source pay a new handshake).
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            HttpError::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow.as_str()) {
                    headers.insert(header::ALLOW, v);
                }
            }
            HttpError::Git(_)
            | HttpError::BadRequest(_)
            | HttpError::PayloadTooLarge(_)
            | HttpError::HeadTooLarge(_) => {
                // The body may be half read: do not reuse the connection.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// The response refusing a push: git's report (or a text for clients
/// without report-status). When the rest of the push was not read whole,
/// the connection is not reused.
pub fn refusal(answer: RefusalAnswer, drained: bool) -> Response<ProxyBody> {
    let mut response = Response::new(full(answer.body));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    // No-cache, like http-backend's own answers.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0, must-revalidate"),
    );
    if !drained {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A small `text/plain` response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A complete body.
pub fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::git::{RefDenial, parse_command_section, refuse_push};
    use std::time::Duration;

    #[test]
    fn refusals_keep_their_status_and_close_when_not_drained() {
        let line = format!(
            "{} {} refs/heads/main side-band-64k\n",
            "0".repeat(40),
            "1".repeat(40)
        );
        let body = format!("{:04x}{line}0000", line.len() + 4).replace(" side", "\0side");
        let push = parse_command_section(body.as_bytes()).unwrap().0;
        let denied = [RefDenial {
            name: "refs/heads/main".into(),
            reason: "denied by policy p.json statement DenyMain".into(),
        }];
        // Without report-status: a 403 text.
        let r = refusal(refuse_push(&push, &denied), true);
        assert_eq!(r.status(), 403);
        assert!(r.headers().get(header::CONNECTION).is_none());
        let r = refusal(refuse_push(&push, &denied), false);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "no-cache, max-age=0, must-revalidate"
        );
    }

    #[test]
    fn throttled_is_429_with_retry_after_and_only_failures_count() {
        use crate::server::throttle::Source;
        let e = HttpError::Throttled(RetryAfter {
            source: Source::V4(std::net::Ipv4Addr::LOCALHOST),
            wait: Duration::from_millis(41_200),
            first: true,
        });
        assert!(!e.is_failed_authentication());
        assert_eq!(
            e.audit_reason(),
            "throttled: too many failed authentications from 127.0.0.1; blocked for 42 more seconds"
        );
        let r = e.into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        assert_eq!(r.headers()[header::CONNECTION], "close");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());

        assert!(!HttpError::NoCredentials.is_failed_authentication());
        let r = HttpError::NoCredentials.into_response();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], CHALLENGE);
        let bad = HttpError::Unauthorized {
            reason: "signature mismatch".into(),
            hint: AuthHint::ClockSkew { minutes: 20 },
        };
        assert!(bad.is_failed_authentication());
        assert_eq!(bad.status(), 401);
        let text = bad.public_message();
        assert!(text.contains("20 minutes away"), "{text}");
        assert!(text.contains("audit log"), "{text}");
        assert!(!text.contains("signature mismatch"), "{text}");
    }

    #[test]
    fn statuses_of_wire_and_backend_failures() {
        let cases: [(HttpError, u16); 6] = [
            (GitError::MissingPack.into(), 400),
            (GitError::TooLarge { limit: 1 }.into(), 413),
            (GitError::IdleTimeout(Duration::from_secs(1)).into(), 408),
            (BackendError::Timeout(Duration::from_secs(1)).into(), 504),
            (BackendError::BadRequest("x".into()).into(), 502),
            (BackendError::RefResolution("reftable".into()).into(), 502),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), status, "{e}");
        }
    }
}
