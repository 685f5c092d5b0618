//! The STS side of gitiam: the Query API served by `gitiam serve`
//! (GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity) and the
//! stateless temporary credentials it issues.
//!
//! - [`config`]: `[sts]` and `[[accounts.oidc_providers]]` settings;
//! - [`keys`]: the key set file (signing and secret-derivation keys, rotation);
//! - [`token`]: session tokens (JWT) and derived temporary secrets;
//! - [`query`]: the AWS Query protocol form body, validated;
//! - [`oidc`]: web identity (OIDC) token verification;
//! - [`handler`]: the endpoint: authenticate, decide, issue;
//! - [`error`] and [`xml`]: AWS error codes and the XML answers.

pub mod config;
pub mod error;
pub mod handler;
pub mod keys;
pub mod oidc;
pub mod query;
pub mod token;
pub mod xml;

pub use error::{ErrorCode, StsError};
pub use handler::{StsAudit, StsContext, StsOutcome, StsRequest, handle};
