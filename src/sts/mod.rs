//! The STS side of gitiam: the Query API served by `gitiam serve`
//! (GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity) and the
//! stateless temporary credentials it issues.
//!
//! - [`config`]: `[sts]` and `[[accounts.oidc_providers]]` settings;
//! - [`keys`]: the key set file (signing and secret-derivation keys, rotation);
//! - [`token`]: session tokens (JWT) and derived temporary secrets.

pub mod config;
pub mod keys;
pub mod token;
