//! Who is calling: an access key id (and session token) resolved to an
//! [`Identity`] with its secret, its principal ARN, the policy layers that
//! decide for it and the IAM context keys it fills.
//!
//! Both the Git path and the STS API authenticate through [`resolve`], so a
//! key that works for one works for the other, and a removed key or role
//! stops working for both at the next request after a reload.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::server::session::keys::KeySet;
use crate::server::session::token::{self, SessionClaims, TokenError};
use crate::shared::config::{Directory, Role, Secret, User};
use crate::shared::policy::{Context, Policy, PolicyKind, PolicyLayer, PrincipalInfo};

/// `aws:PrincipalType` of IAM users.
pub const PRINCIPAL_TYPE_USER: &str = "User";
/// `aws:PrincipalType` of assumed-role sessions.
pub const PRINCIPAL_TYPE_ASSUMED_ROLE: &str = "AssumedRole";
/// Source name of session policies in [`crate::shared::policy::StatementRef`]s.
pub const SESSION_POLICY_SOURCE: &str = "session-policy";

/// A caller whose credentials exist (the signature is checked separately,
/// with [`Resolved::secret`]).
#[derive(Debug, Clone)]
pub enum Identity {
    /// An IAM user with a long-term key.
    User(Arc<User>),
    /// A session of a role, from temporary credentials.
    AssumedRole(Arc<AssumedRoleSession>),
}

/// A verified STS session and the role it belongs to (as configured now: a
/// role's policies apply to sessions issued before a change, as in IAM).
#[derive(Debug)]
pub struct AssumedRoleSession {
    /// The role.
    pub role: Arc<Role>,
    /// What the session token says.
    pub claims: SessionClaims,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// The session policy, intersected with the role's policies.
    pub session_policy: Option<Vec<Arc<Policy>>>,
    /// Principal tags: the role's, overridden by the session's.
    pub tags: BTreeMap<String, String>,
}

/// The outcome of [`resolve`]: the secret to check the signature with, and
/// who the caller is if it checks out.
#[derive(Debug)]
pub struct Resolved {
    /// Long-term or derived temporary secret.
    pub secret: Secret,
    /// The caller.
    pub identity: Identity,
}

/// Why credentials do not name a caller. Messages go to the audit log and
/// logs, never to clients (they answer a bare 401 / AWS error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No active key with this id (unknown, removed or inactive).
    #[error("unknown or inactive access key")]
    UnknownAccessKey,
    /// A temporary key id without its session token.
    #[error("temporary access key without a session token")]
    MissingSessionToken,
    /// A long-term key presented with a session token.
    #[error("session token presented with a long-term access key")]
    UnexpectedSessionToken,
    /// The session token is not valid.
    #[error("{0}")]
    Token(TokenError),
    /// The token belongs to another access key id.
    #[error("session token does not belong to this access key")]
    TokenKeyMismatch,
    /// The session's role no longer exists.
    #[error("the session's role no longer exists")]
    RoleGone,
    /// The session policy in the token no longer parses (a newer or older
    /// server wrote it).
    #[error("the session policy cannot be loaded")]
    SessionPolicy,
}

impl AuthError {
    /// The AWS error code an AWS API answers with.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            Self::Token(e) => e.aws_error_code(),
            _ => "InvalidClientTokenId",
        }
    }
}

/// Resolves `access_key_id` (and `session_token` for temporary keys) to the
/// caller and its secret.
pub fn resolve(
    directory: &Directory,
    sts_keys: &KeySet,
    access_key_id: &str,
    session_token: Option<&str>,
    now: SystemTime,
) -> Result<Resolved, AuthError> {
    let session_token = session_token.filter(|t| !t.is_empty());
    if token::is_temporary_access_key_id(access_key_id) {
        let token = session_token.ok_or(AuthError::MissingSessionToken)?;
        return resolve_session(directory, sts_keys, access_key_id, token, now);
    }
    let (user, secret) = directory
        .access_key(access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;
    if session_token.is_some() {
        return Err(AuthError::UnexpectedSessionToken);
    }
    Ok(Resolved {
        secret: secret.clone(),
        identity: Identity::User(user),
    })
}

fn resolve_session(
    directory: &Directory,
    sts_keys: &KeySet,
    access_key_id: &str,
    token: &str,
    now: SystemTime,
) -> Result<Resolved, AuthError> {
    let claims = token::verify(sts_keys, token, now).map_err(AuthError::Token)?;
    if !claims.matches_access_key(access_key_id) {
        return Err(AuthError::TokenKeyMismatch);
    }
    let role = directory
        .role_by_arn(&claims.role_arn)
        .ok_or(AuthError::RoleGone)?;
    let secret = token::derive_secret(sts_keys, &claims).map_err(AuthError::Token)?;
    let session_policy = match &claims.policy {
        None => None,
        Some(json) => {
            let policy = Policy::parse_as(SESSION_POLICY_SOURCE, json, PolicyKind::Session)
                .map_err(|_| AuthError::SessionPolicy)?;
            Some(vec![Arc::new(policy)])
        }
    };
    let mut tags = role.tags.clone();
    tags.extend(claims.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    let session = AssumedRoleSession {
        arn: claims.assumed_role_arn(),
        role,
        claims,
        session_policy,
        tags,
    };
    Ok(Resolved {
        secret,
        identity: Identity::AssumedRole(Arc::new(session)),
    })
}

impl Identity {
    /// A session of `role` with nothing of its own: no session tags (the
    /// role's tags are its principal tags), no source identity, no
    /// federation, not chained. What an SSH role certificate logs in as
    /// (`kid` names the CA), and what access review decides for.
    pub fn plain_role_session(
        role: Arc<Role>,
        session_name: &str,
        kid: String,
        (iat, exp): (u64, u64),
        session_policy: Option<Vec<Arc<Policy>>>,
    ) -> Identity {
        let claims = SessionClaims {
            iss: token::ISSUER.to_owned(),
            kid,
            akid: String::new(),
            account: role.account.clone(),
            role_arn: role.arn.clone(),
            role_name: role.name.clone(),
            role_id: role.role_id.clone(),
            session_name: session_name.to_owned(),
            source_identity: None,
            tags: BTreeMap::new(),
            transitive_tag_keys: Vec::new(),
            policy: None,
            federated_provider: None,
            chained: false,
            iat,
            exp,
        };
        Identity::AssumedRole(Arc::new(AssumedRoleSession {
            arn: claims.assumed_role_arn(),
            tags: role.tags.clone(),
            role,
            claims,
            session_policy,
        }))
    }

    /// The principal ARN (`...:user/NAME` or `...:assumed-role/ROLE/SESSION`).
    pub fn arn(&self) -> &str {
        match self {
            Identity::User(u) => &u.arn,
            Identity::AssumedRole(s) => &s.arn,
        }
    }

    /// The principal's account id.
    pub fn account(&self) -> &str {
        match self {
            Identity::User(u) => &u.account,
            Identity::AssumedRole(s) => &s.role.account,
        }
    }

    /// `aws:PrincipalType`.
    pub fn principal_type(&self) -> &'static str {
        match self {
            Identity::User(_) => PRINCIPAL_TYPE_USER,
            Identity::AssumedRole(_) => PRINCIPAL_TYPE_ASSUMED_ROLE,
        }
    }

    /// `aws:userid`: the user's id, or `ROLEID:SESSION` for a session.
    pub fn user_id(&self) -> String {
        match self {
            Identity::User(u) => u.user_id.clone(),
            Identity::AssumedRole(s) => s.claims.user_id(),
        }
    }

    /// `aws:PrincipalArn`: for a session, the role's ARN (as in IAM).
    pub fn principal_arn(&self) -> &str {
        match self {
            Identity::User(u) => &u.arn,
            Identity::AssumedRole(s) => &s.role.arn,
        }
    }

    /// Principal tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        match self {
            Identity::User(u) => &u.tags,
            Identity::AssumedRole(s) => &s.tags,
        }
    }

    /// The caller as resource-based policies (trust policies) see it.
    pub fn principal_info(&self) -> PrincipalInfo {
        PrincipalInfo {
            arn: self.arn().to_string(),
            account: self.account().to_string(),
            role_arn: match self {
                Identity::User(_) => None,
                Identity::AssumedRole(s) => Some(s.role.arn.clone()),
            },
            federated: None,
        }
    }

    /// The policy sets that must all allow a request: the user's own and
    /// groups' policies; or the role's policies and the session policy.
    pub fn policy_layers(&self) -> Vec<PolicyLayer<'_>> {
        match self {
            Identity::User(u) => vec![PolicyLayer::new(&u.policies)],
            Identity::AssumedRole(s) => {
                let mut layers = vec![PolicyLayer::new(&s.role.policies)];
                if let Some(p) = &s.session_policy {
                    layers.push(PolicyLayer::new(p));
                }
                layers
            }
        }
    }

    /// Adds the principal's context keys to `context`.
    pub fn fill_context(&self, context: &mut Context) {
        if let Identity::User(u) = self {
            context.insert("aws:username", u.name.clone());
        }
        context.insert("aws:userid", self.user_id());
        context.insert("aws:PrincipalArn", self.principal_arn().to_string());
        context.insert("aws:PrincipalAccount", self.account().to_string());
        context.insert("aws:PrincipalType", self.principal_type());
        for (k, v) in self.tags() {
            context.insert(format!("aws:PrincipalTag/{k}"), v.clone());
        }
        if let Identity::AssumedRole(s) = self {
            let issued = time::OffsetDateTime::from(s.claims.issued_at());
            if let Ok(t) = issued.format(&time::format_description::well_known::Rfc3339) {
                context.insert("aws:TokenIssueTime", t);
            }
            if let Some(source) = &s.claims.source_identity {
                context.insert("aws:SourceIdentity", source.clone());
            }
            if let Some(provider) = &s.claims.federated_provider {
                context.insert("aws:FederatedProvider", provider.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::config;
    use std::path::Path;

    fn directory() -> (tempfile::TempDir, config::Config) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.json"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"codecommit:GitPull","Resource":"*"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("trust.json"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}"#,
        )
        .unwrap();
        let text = r#"
[[accounts]]
id = "111122223333"
[[accounts.users]]
name = "alice"
policies = ["p.json"]
tags = { team = "web" }
access_keys = [{ id = "AKIAEXAMPLEALICE0001", secret = "alice-secret-0123456789" }]
[[accounts.roles]]
name = "deployer"
trust_policy = "trust.json"
policies = ["p.json"]
tags = { team = "ops", env = "prod" }
"#;
        let config = config::load_str(Path::new("gitiam.toml"), dir.path(), text).unwrap();
        (dir, config)
    }

    #[test]
    fn users_resolve_and_fill_context() {
        let (_dir, config) = directory();
        let keys = KeySet::generate();
        let now = SystemTime::now();
        let r = resolve(&config.directory, &keys, "AKIAEXAMPLEALICE0001", None, now).unwrap();
        assert_eq!(r.secret.expose(), "alice-secret-0123456789");
        assert_eq!(r.identity.arn(), "arn:aws:iam::111122223333:user/alice");
        assert_eq!(r.identity.policy_layers().len(), 1);
        let mut ctx = Context::new();
        r.identity.fill_context(&mut ctx);
        assert_eq!(ctx.get("aws:username"), Some(&["alice".to_string()][..]));
        assert_eq!(
            ctx.get("aws:principaltype"),
            Some(&["User".to_string()][..])
        );
        assert_eq!(
            ctx.get("aws:PrincipalTag/team"),
            Some(&["web".to_string()][..])
        );
        assert!(ctx.get("aws:TokenIssueTime").is_none());

        assert_eq!(
            resolve(&config.directory, &keys, "AKIAEXAMPLEALICE0002", None, now).unwrap_err(),
            AuthError::UnknownAccessKey
        );
        assert_eq!(
            resolve(
                &config.directory,
                &keys,
                "AKIAEXAMPLEALICE0001",
                Some("tok"),
                now
            )
            .unwrap_err(),
            AuthError::UnexpectedSessionToken
        );
    }

    #[test]
    fn sessions_resolve_with_two_layers() {
        let (_dir, config) = directory();
        let keys = KeySet::generate();
        let now = SystemTime::now();
        let grant = token::SessionGrant {
            account: "111122223333".into(),
            role_arn: "arn:aws:iam::111122223333:role/deployer".into(),
            role_name: "deployer".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "ci".into(),
            source_identity: None,
            tags: BTreeMap::from([("env".to_string(), "test".to_string())]),
            policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"codecommit:*","Resource":"*"}]}"#.into(),
            ),
            federated_provider: None,
            chained: false,
            duration: std::time::Duration::from_secs(900),
        };
        let issued = token::issue(&keys, grant, now).unwrap();
        let akid = issued.claims.akid.clone();
        let r = resolve(
            &config.directory,
            &keys,
            &akid,
            Some(&issued.session_token),
            now,
        )
        .unwrap();
        assert_eq!(r.secret.expose(), issued.secret.expose());
        assert_eq!(
            r.identity.arn(),
            "arn:aws:sts::111122223333:assumed-role/deployer/ci"
        );
        assert_eq!(
            r.identity.principal_arn(),
            "arn:aws:iam::111122223333:role/deployer"
        );
        assert_eq!(r.identity.policy_layers().len(), 2);
        let mut ctx = Context::new();
        r.identity.fill_context(&mut ctx);
        assert!(ctx.get("aws:username").is_none());
        assert_eq!(
            ctx.get("aws:PrincipalType"),
            Some(&["AssumedRole".to_string()][..])
        );
        assert_eq!(
            ctx.get("aws:PrincipalTag/env"),
            Some(&["test".to_string()][..])
        );
        assert_eq!(
            ctx.get("aws:PrincipalTag/team"),
            Some(&["ops".to_string()][..])
        );
        assert!(ctx.get("aws:TokenIssueTime").is_some());

        assert_eq!(
            resolve(&config.directory, &keys, &akid, None, now).unwrap_err(),
            AuthError::MissingSessionToken
        );
        let other = token::new_access_key_id();
        assert_eq!(
            resolve(
                &config.directory,
                &keys,
                &other,
                Some(&issued.session_token),
                now
            )
            .unwrap_err(),
            AuthError::TokenKeyMismatch
        );
        let later = now + std::time::Duration::from_secs(3600);
        assert_eq!(
            resolve(
                &config.directory,
                &keys,
                &akid,
                Some(&issued.session_token),
                later
            )
            .unwrap_err(),
            AuthError::Token(TokenError::Expired)
        );
        let foreign = KeySet::generate();
        assert!(
            resolve(
                &config.directory,
                &foreign,
                &akid,
                Some(&issued.session_token),
                now
            )
            .is_err()
        );
    }
}
