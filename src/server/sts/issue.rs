//! What both AssumeRole paths (`AssumeRole` and
//! `AssumeRoleWithWebIdentity`) do once the caller may assume the role:
//! pick the session length within AWS's limits, measure the packed session
//! policy and tags, issue the session token, record its access key id in
//! the audit and write the XML answer. Written once so that the two paths
//! cannot drift apart.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{ErrorCode, StsError};
use super::query::SessionPolicy;
use super::request::{StsAudit, StsContext, StsRequest};
use super::xml;
use crate::server::session::token::{self, SessionGrant};
use crate::shared::config::Role;

/// Role chaining sessions last at most one hour, as in AWS.
pub const ROLE_CHAINING_MAX: Duration = Duration::from_secs(3600);

/// A session the caller was allowed: what it carries besides the role.
pub struct NewSession<'a> {
    pub role: &'a Role,
    pub session_name: &'a str,
    /// The request's `DurationSeconds`, not yet checked against the role.
    pub duration_seconds: Option<u32>,
    pub policy: Option<&'a SessionPolicy>,
    pub source_identity: Option<String>,
    /// Session tags, the calling session's transitive ones included.
    pub tags: Vec<(String, String)>,
    /// Keys of `tags` that pass on to sessions this one assumes.
    pub transitive_tag_keys: Vec<String>,
    /// The OIDC provider's ARN, for a web identity session.
    pub federated_provider: Option<String>,
    /// Whether a session assumes this role (role chaining).
    pub chained: bool,
}

/// Issues the session and answers with its credentials (`web` for the
/// `AssumeRoleWithWebIdentity` answer's extra facts).
pub fn issue(
    ctx: &StsContext<'_>,
    req: &StsRequest<'_>,
    session: NewSession<'_>,
    web: Option<&xml::WebIdentityFacts<'_>>,
    audit: &mut StsAudit,
) -> Result<String, StsError> {
    // Checked only once the caller may assume the role, so that the role's
    // limits tell nothing to those who may not.
    let duration = session_duration(
        session.duration_seconds,
        ctx.settings.default_duration,
        session.role,
        session.chained,
    )?;
    let policy = session.policy.map(|p| p.text.clone());
    // Inherited transitive tags count too: everything must fit the token.
    let packed = (policy.is_some() || !session.tags.is_empty())
        .then(|| packed_policy_size(policy.as_deref(), &session.tags))
        .transpose()?;
    let grant = SessionGrant {
        account: session.role.account.clone(),
        role_arn: session.role.arn.clone(),
        role_name: session.role.name.clone(),
        role_id: session.role.role_id.clone(),
        session_name: session.session_name.to_owned(),
        source_identity: session.source_identity,
        tags: session.tags.into_iter().collect::<BTreeMap<_, _>>(),
        policy,
        federated_provider: session.federated_provider,
        chained: session.chained,
        duration,
    };
    let issued =
        token::issue_with_transitive_tags(ctx.keys, grant, session.transitive_tag_keys, req.now)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot issue session token");
                StsError::internal()
            })?;
    audit.issued_access_key_id = Some(issued.claims.akid.clone());
    Ok(xml::assume_role(&issued, web, packed, req.request_id))
}

/// Picks the session length: the request's, or the default capped by the
/// role (and by one hour for role chaining), with AWS's messages when the
/// request asks for too much.
fn session_duration(
    requested: Option<u32>,
    default: Duration,
    role: &Role,
    chained: bool,
) -> Result<Duration, StsError> {
    let role_max = Duration::from_secs(role.max_session_duration);
    match requested {
        Some(secs) => {
            let d = Duration::from_secs(u64::from(secs));
            if chained && d > ROLE_CHAINING_MAX {
                return Err(StsError::validation(
                    "The requested DurationSeconds exceeds the 1 hour session limit for roles \
                     assumed by role chaining.",
                ));
            }
            if d > role_max {
                return Err(StsError::validation(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                ));
            }
            Ok(d)
        }
        None => {
            let mut d = default.min(role_max);
            if chained {
                d = d.min(ROLE_CHAINING_MAX);
            }
            Ok(d)
        }
    }
}

/// AWS's `PackedPolicySize`: how full the packed session policy and tags
/// are, in percent of the space a session has for them (2048 bytes here).
fn packed_policy_size(policy: Option<&str>, tags: &[(String, String)]) -> Result<u32, StsError> {
    let policy_len = policy.map_or(0, |p| p.split_whitespace().map(str::len).sum::<usize>());
    let tags_len: usize = tags.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let percent = (policy_len + tags_len).saturating_mul(100).div_ceil(2048);
    if percent > 100 {
        return Err(StsError::new(
            ErrorCode::PackedPolicyTooLarge,
            format!(
                "Packed size of consolidated session policies and tags exceeds 100% of allowed \
                 size ({percent}%)"
            ),
        ));
    }
    Ok(u32::try_from(percent).unwrap_or(100))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::shared::policy::Policy;

    fn role(max: u64) -> Role {
        Role {
            account: "444455556666".into(),
            name: "r".into(),
            arn: "arn:aws:iam::444455556666:role/r".into(),
            role_id: "AROAEXAMPLE".into(),
            trust_policy: Arc::new(
                Policy::parse(
                    "t",
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
                )
                .unwrap(),
            ),
            policies: Vec::new(),
            max_session_duration: max,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn durations_follow_aws_limits() {
        let hour = Duration::from_secs(3600);
        let r = role(7200);
        assert_eq!(session_duration(None, hour, &r, false).unwrap(), hour);
        assert_eq!(
            session_duration(Some(7200), hour, &r, false).unwrap(),
            Duration::from_secs(7200)
        );
        assert!(
            session_duration(Some(7201), hour, &r, false)
                .unwrap_err()
                .message
                .contains("MaxSessionDuration")
        );
        assert!(
            session_duration(Some(3601), hour, &r, true)
                .unwrap_err()
                .message
                .contains("1 hour")
        );
        // A long default is capped by the role and by chaining, silently.
        let long = Duration::from_secs(43_200);
        assert_eq!(
            session_duration(None, long, &r, false).unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(session_duration(None, long, &r, true).unwrap(), hour);
    }

    #[test]
    fn packed_size_is_a_percentage_with_a_ceiling() {
        assert_eq!(packed_policy_size(None, &[]).unwrap(), 0);
        let small = packed_policy_size(Some(r#"{ "Version" : "2012-10-17" }"#), &[]).unwrap();
        assert!((1..=5).contains(&small), "{small}");
        let tags: Vec<(String, String)> = (0..50)
            .map(|i| (format!("key{i:03}{}", "k".repeat(100)), "v".repeat(200)))
            .collect();
        assert_eq!(
            packed_policy_size(None, &tags).unwrap_err().code,
            ErrorCode::PackedPolicyTooLarge
        );
    }
}
