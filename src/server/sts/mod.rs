//! The STS Query API served by `gitiam serve` (GetCallerIdentity,
//! AssumeRole, AssumeRoleWithWebIdentity). The temporary credentials it
//! issues are made and verified by [`crate::server::session`], one floor
//! down, which identity resolution uses too.
//!
//! - [`query`]: the AWS Query protocol form body, validated;
//! - [`oidc`]: web identity (OIDC) token verification;
//! - [`handler`]: the endpoint and its dispatch; `request`: the request,
//!   audit and answer types and the base IAM context;
//! - `authn`: SigV4 authentication of signed requests;
//! - `assume_role` and `web_identity`: what each AssumeRole path asks the
//!   access core, and what the new session carries;
//! - `issue`: what both paths do once allowed (limits, token, answer);
//! - [`error`] and [`xml`]: AWS error codes and the XML answers.

mod assume_role;
mod authn;
pub mod error;
pub mod handler;
mod issue;
pub mod oidc;
pub mod query;
mod request;
mod web_identity;
pub mod xml;

pub use error::{ErrorCode, StsError};
pub use handler::handle;
pub use request::{StsAudit, StsContext, StsOutcome, StsRequest};
