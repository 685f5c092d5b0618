//! The STS side of gitiam: the Query API served by `gitiam serve`
//! (GetCallerIdentity, AssumeRole, AssumeRoleWithWebIdentity) and the
//! stateless temporary credentials it issues.
//!
//! - [`config`]: `[sts]` and `[[accounts.oidc_providers]]` settings.

pub mod config;
