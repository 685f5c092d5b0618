//! STS errors: AWS's error codes, their HTTP statuses and fault types.
//!
//! Every failure on the STS path ends up as one [`StsError`]; only
//! [`super::xml::error_response`] turns it into bytes, so the codes, statuses
//! and messages the AWS CLI and SDKs key on are decided in one place.
//! Messages are shown to clients: they never contain secrets, signatures or
//! token content.

use std::fmt;

/// The AWS error codes gitiam's STS answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    AccessDenied,
    InvalidClientTokenId,
    SignatureDoesNotMatch,
    IncompleteSignature,
    MissingAuthenticationToken,
    ExpiredToken,
    ValidationError,
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    InvalidIdentityToken,
    ExpiredTokenException,
    IdpCommunicationError,
    InvalidAction,
    MissingAction,
    Throttling,
    InternalFailure,
}

impl ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDenied",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::ExpiredToken => "ExpiredToken",
            Self::ValidationError => "ValidationError",
            Self::MalformedPolicyDocument => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            Self::InvalidIdentityToken => "InvalidIdentityToken",
            Self::ExpiredTokenException => "ExpiredTokenException",
            Self::IdpCommunicationError => "IDPCommunicationError",
            Self::InvalidAction => "InvalidAction",
            Self::MissingAction => "MissingAction",
            Self::Throttling => "Throttling",
            Self::InternalFailure => "InternalFailure",
        }
    }

    /// The HTTP status AWS STS uses for the code.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::AccessDenied
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch
            | Self::MissingAuthenticationToken => S::FORBIDDEN,
            Self::IncompleteSignature
            | Self::ExpiredToken
            | Self::ValidationError
            | Self::MalformedPolicyDocument
            | Self::PackedPolicyTooLarge
            | Self::InvalidIdentityToken
            | Self::ExpiredTokenException
            | Self::IdpCommunicationError
            | Self::InvalidAction
            | Self::MissingAction
            // As AWS STS answers `Throttling: Rate exceeded` (the SDKs key
            // on the code to back off, not on the status).
            | Self::Throttling => S::BAD_REQUEST,
            Self::InternalFailure => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the code answers credentials that were presented and did not
    /// authenticate: what the failed-authentication limiter counts per
    /// source address. A signed request's key, token or signature
    /// (`InvalidClientTokenId`, `SignatureDoesNotMatch`,
    /// `IncompleteSignature`, `ExpiredToken`) and a web identity token
    /// (`InvalidIdentityToken`, `ExpiredTokenException`) count. Not
    /// counted: no credentials at all (`MissingAuthenticationToken`: nothing
    /// was guessed), an authenticated caller's refusal (`AccessDenied`),
    /// malformed requests, the identity provider being unreachable, and the
    /// server's own failures.
    pub fn is_authentication_failure(self) -> bool {
        matches!(
            self,
            Self::InvalidClientTokenId
                | Self::SignatureDoesNotMatch
                | Self::IncompleteSignature
                | Self::ExpiredToken
                | Self::InvalidIdentityToken
                | Self::ExpiredTokenException
        )
    }

    /// `Sender` for the client's faults, `Receiver` for the server's.
    pub fn fault(self) -> &'static str {
        match self {
            Self::InternalFailure => "Receiver",
            _ => "Sender",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One STS failure: an AWS code and the message the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct StsError {
    pub code: ErrorCode,
    pub message: String,
}

impl StsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDenied, message)
    }

    /// AWS's text for an unknown, removed or forged access key or token.
    pub fn invalid_client_token() -> Self {
        Self::new(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid.",
        )
    }

    /// AWS's text for an expired (but genuine) session token.
    pub fn expired_token() -> Self {
        Self::new(
            ErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        )
    }

    /// AWS's text for a signature that does not verify.
    pub fn signature_mismatch() -> Self {
        Self::new(
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        )
    }

    /// AWS's answer to a caller over its rate; here: a source address
    /// refused for a while after too many failed authentications.
    pub fn throttling() -> Self {
        Self::new(ErrorCode::Throttling, "Rate exceeded")
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalFailure,
            "An internal error occurred; see the server log.",
        )
    }
}
