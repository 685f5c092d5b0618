//! SigV4 on the server and client side: the CodeCommit Git password
//! ([`codecommit`]), standard SigV4 request verification for the STS Query
//! API ([`request`]), a cache of derived signing keys ([`SigningKeyCache`]),
//! and [`SignatureVerified`], the proof that a signature checked out.
//!
//! Key derivation and the final HMAC use `aws-sigv4`'s primitives, so the
//! algorithm is AWS's own; this module only builds the canonical requests and
//! strings to sign and does the verification bookkeeping (clock skew,
//! scope, constant-time comparison).

pub mod codecommit;
mod keys;
pub mod request;
mod timestamp;

pub use keys::SigningKeyCache;
pub use timestamp::{format_amz_date, parse_amz_date};

/// The signing algorithm name in strings to sign and `Authorization` headers.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Proof that a SigV4 signature was verified. Only this module's verify
/// functions can construct it (the field is private), so code that demands a
/// `SignatureVerified` cannot be reached with an unchecked request.
#[derive(Debug)]
#[must_use = "a verified signature is only useful when authorization demands it"]
pub struct SignatureVerified(());

impl SignatureVerified {
    fn new() -> Self {
        Self(())
    }
}

/// Why a signature was not accepted. Messages never contain secrets,
/// signatures or derived keys: they may be logged and returned to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The Git password is not `YYYYMMDDTHHMMSSZ` followed by 64 hex digits.
    #[error("malformed Git password: {0}")]
    MalformedPassword(&'static str),
    /// The `Authorization` header is not a well-formed SigV4 header.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// A header the signature needs is absent (or not valid text).
    #[error("missing or invalid header {0}")]
    MissingHeader(String),
    /// A header that must be covered by the signature is not signed.
    #[error("header {0} must be included in SignedHeaders")]
    UnsignedHeader(String),
    /// The signing time is further from the server's clock than allowed.
    #[error("signature time is outside the allowed clock skew")]
    ClockSkew,
    /// The credential scope names another date, region or service.
    #[error("credential scope mismatch: {0}")]
    ScopeMismatch(&'static str),
    /// `X-Amz-Content-SHA256` does not match the body received.
    #[error("x-amz-content-sha256 does not match the request body")]
    PayloadHashMismatch,
    /// The signature is well-formed but wrong.
    #[error("signature does not match")]
    SignatureMismatch,
}

impl VerifyError {
    /// The AWS error code an AWS service answers with for this failure
    /// (`IncompleteSignature` for requests it cannot even check,
    /// `SignatureDoesNotMatch` otherwise, as STS does for expired signatures).
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            Self::MalformedPassword(_)
            | Self::MalformedAuthorization(_)
            | Self::MissingHeader(_)
            | Self::UnsignedHeader(_) => "IncompleteSignature",
            Self::ClockSkew
            | Self::ScopeMismatch(_)
            | Self::PayloadHashMismatch
            | Self::SignatureMismatch => "SignatureDoesNotMatch",
        }
    }
}

/// Lowercase hex SHA-256, the hash used in canonical requests and strings to
/// sign.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Builds `AWS4-HMAC-SHA256\nTIMESTAMP\nDATE/REGION/SERVICE/aws4_request\nHASH`.
pub fn string_to_sign(
    amz_date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Constant-time equality of two hex-decoded signatures.
fn signatures_equal(expected: &[u8; 32], given: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    expected.ct_eq(given).into()
}

/// Decodes a 64-digit hex signature (either case).
fn decode_signature(hex_sig: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut out).ok()?;
    Some(out)
}

/// Checks that `signed_at` lies within `max_skew` of `now`, in either
/// direction.
fn check_skew(
    signed_at: std::time::SystemTime,
    now: std::time::SystemTime,
    max_skew: std::time::Duration,
) -> Result<(), VerifyError> {
    let off = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if off > max_skew {
        return Err(VerifyError::ClockSkew);
    }
    Ok(())
}
