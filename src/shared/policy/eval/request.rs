//! The question evaluation answers: [`Request`] (action, resource, caller,
//! condition keys) and [`PrincipalInfo`], what is known of the caller.

use crate::shared::policy::arn::Arn;
use crate::shared::policy::context::Context;

/// Who makes the request, for `Principal`/`NotPrincipal` in resource-based
/// policies (role trust policies).
///
/// Matching rules: an account id or `arn:aws:iam::ACCOUNT:root` matches
/// every principal of that account; a role ARN matches the role's sessions
/// (through `role_arn`); any other ARN matches `arn` exactly; `"*"` matches
/// everyone. A web-identity caller (`federated` set) matches only
/// `Federated` entries (and `"*"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalInfo {
    /// The caller's ARN (`arn:aws:iam::111122223333:user/alice`,
    /// `arn:aws:sts::111122223333:assumed-role/deployer/ci`).
    pub arn: String,
    /// The caller's account id.
    pub account: String,
    /// For an assumed-role session: the IAM role's ARN.
    pub role_arn: Option<String>,
    /// For web identity: the OIDC provider's ARN
    /// (`arn:aws:iam::111122223333:oidc-provider/token.example.com`).
    pub federated: Option<String>,
}

impl PrincipalInfo {
    /// Derives what an ARN says: the account; for
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` the role ARN
    /// `arn:aws:iam::ACCT:role/ROLE` (without path); for an
    /// `oidc-provider/...` or `saml-provider/...` ARN, `federated`.
    /// `None` when `arn` is not an ARN.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let parts = Arn::parse(arn)?;
        let mut info = PrincipalInfo {
            arn: arn.to_string(),
            account: parts.account.to_string(),
            role_arn: None,
            federated: None,
        };
        if parts.service == "sts"
            && let Some(rest) = parts.resource.strip_prefix("assumed-role/")
        {
            let role = rest.split('/').next().unwrap_or(rest);
            info.role_arn = Some(format!(
                "arn:{}:iam::{}:role/{role}",
                parts.partition, parts.account
            ));
        }
        if parts.service == "iam"
            && (parts.resource.starts_with("oidc-provider/")
                || parts.resource.starts_with("saml-provider/"))
        {
            info.federated = Some(arn.to_string());
        }
        Some(info)
    }
}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `codecommit:GitPush`, `sts:AssumeRole`, ... (matched case-insensitively).
    pub action: &'a str,
    /// The resource ARN (matched case-sensitively).
    pub resource: &'a str,
    /// The caller, for `Principal` elements; `None` for identity policies
    /// when the caller is implied.
    pub principal: Option<&'a PrincipalInfo>,
    /// The condition keys.
    pub context: &'a Context,
}
