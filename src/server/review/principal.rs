//! Configuration principals as the server sees them: a user is the
//! [`Identity::User`] its access key resolves to; a role is a session of it
//! ([`Identity::AssumedRole`]), without a session policy unless one is
//! given, exactly as `AssumeRole` would issue it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::server::access::{self, RequestFacts};
use crate::server::identity::Identity;
use crate::shared::config::{Directory, Role, User};
use crate::shared::policy::Context;
use crate::shared::policy::Policy;
use crate::shared::policy::arn::Arn;

/// The session name of simulated role sessions (`aws:userid` ends with it).
pub const SESSION_NAME: &str = "gitiam-review";

/// Why a principal cannot be reviewed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Not a user, role or assumed-role ARN.
    #[error(
        "\"{0}\" is not a user, role or assumed-role ARN (arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:role/NAME, arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)"
    )]
    NotAPrincipal(String),
    /// A well-formed ARN that the configuration does not define.
    #[error("{0} is not defined in the configuration")]
    Unknown(String),
    /// Session policies only apply to role sessions.
    #[error("a session policy applies to role sessions only, and {0} is a user")]
    SessionPolicyForUser(String),
}

/// Answers questions about one configuration at one time, the way the
/// server would answer them then.
#[derive(Debug, Clone, Copy)]
pub struct Reviewer<'a> {
    /// The configuration's principals.
    pub directory: &'a Directory,
    /// The server's region (`aws:RequestedRegion`, repository ARNs).
    pub region: &'a str,
    /// The time of the simulated requests (`aws:CurrentTime`).
    pub now: SystemTime,
    /// Keys given on the command line: they replace what the server would
    /// fill (`--context`).
    pub overrides: &'a Context,
}

impl<'a> Reviewer<'a> {
    /// The request facts of a simulated request: no client address (give
    /// `aws:SourceIp` with `--context`), this reviewer's time and region.
    pub fn facts(&self) -> RequestFacts<'a> {
        RequestFacts {
            source_ip: None,
            now: self.now,
            region: self.region,
        }
    }

    /// The context the server would decide a request of `identity` with,
    /// then the overrides.
    pub fn context(&self, identity: &Identity) -> Context {
        let mut context = access::caller_context(identity, &self.facts());
        self.apply_overrides(&mut context);
        context
    }

    /// The request keys only (no principal), then the overrides: the start
    /// of a web-identity decision.
    pub fn request_context(&self) -> Context {
        let mut context = access::request_context(&self.facts());
        self.apply_overrides(&mut context);
        context
    }

    fn apply_overrides(&self, context: &mut Context) {
        for (key, values) in self.overrides.iter() {
            context.set(key, values.to_vec());
        }
    }

    /// The identity of principal `arn`: a user, a role (a session named
    /// [`SESSION_NAME`]) or an assumed-role session ARN (a session of that
    /// name). `session_policy` is intersected with a session's role
    /// policies.
    pub fn resolve(
        &self,
        arn: &str,
        session_policy: Option<Vec<Arc<Policy>>>,
    ) -> Result<Identity, ReviewError> {
        let not_principal = || ReviewError::NotAPrincipal(arn.to_string());
        let parts = Arn::parse(arn).ok_or_else(not_principal)?;
        let unknown = || ReviewError::Unknown(arn.to_string());
        let last = |resource: &str| resource.rsplit('/').next().unwrap_or_default().to_string();
        match (parts.service, parts.resource.split('/').next()) {
            ("iam", Some("user")) => {
                let user = self
                    .directory
                    .user(parts.account, &last(parts.resource))
                    .ok_or_else(unknown)?;
                if session_policy.is_some() {
                    return Err(ReviewError::SessionPolicyForUser(arn.to_string()));
                }
                Ok(user_identity(&user))
            }
            ("iam", Some("role")) => {
                let role = self
                    .directory
                    .role(parts.account, &last(parts.resource))
                    .ok_or_else(unknown)?;
                Ok(self.session(&role, SESSION_NAME, session_policy))
            }
            ("sts", Some("assumed-role")) => {
                let mut names = parts.resource.splitn(3, '/').skip(1);
                let (Some(role), Some(session)) = (names.next(), names.next()) else {
                    return Err(not_principal());
                };
                if session.is_empty() || session.contains('/') {
                    return Err(not_principal());
                }
                let role = self
                    .directory
                    .role(parts.account, role)
                    .ok_or_else(unknown)?;
                Ok(self.session(&role, session, session_policy))
            }
            _ => Err(not_principal()),
        }
    }

    /// A session of `role` issued now, as `AssumeRole` issues it (the
    /// role's tags as principal tags, no source identity).
    pub fn session(
        &self,
        role: &Arc<Role>,
        session_name: &str,
        session_policy: Option<Vec<Arc<Policy>>>,
    ) -> Identity {
        let iat = self
            .now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Identity::plain_role_session(
            Arc::clone(role),
            session_name,
            String::new(),
            (iat, iat.saturating_add(role.max_session_duration)),
            session_policy,
        )
    }
}

/// The identity of a configured user.
pub fn user_identity(user: &Arc<User>) -> Identity {
    Identity::User(Arc::clone(user))
}

/// The ARN that names `identity` in review output: the user's, or for a
/// session its role's (every session of a role gets the same access).
pub fn review_arn(identity: &Identity) -> &str {
    identity.principal_arn()
}
