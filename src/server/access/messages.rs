//! What a denial says, in AWS's words: the reason git prints next to a
//! refused ref and the `User: ... is not authorized to perform: ...` text
//! of a refused request. One wording for every front door and the STS API.

use crate::shared::policy::{Decision, Evaluation};

/// `denied by policy FILE statement SID`, or for an implicit deny
/// `denied by policy: no statement allows it`.
pub fn denial_reason(e: &Evaluation) -> String {
    match (e.decision, e.deciding.first()) {
        (Decision::ExplicitDeny, Some(s)) => format!("denied by policy {s}"),
        _ => "denied by policy: no statement allows it".to_string(),
    }
}

/// `User: CALLER is not authorized to perform: ACTION on resource: RESOURCE`
/// followed by `reason` (which starts with a space, or is empty).
pub fn not_authorized(caller: &str, action: &str, resource: &str, reason: &str) -> String {
    format!("User: {caller} is not authorized to perform: {action} on resource: {resource}{reason}")
}

/// The text of a request refused by the caller's identity policies.
pub fn identity_denied(caller: &str, action: &str, resource: &str, e: &Evaluation) -> String {
    let why = match (e.decision, e.deciding.first()) {
        (Decision::ExplicitDeny, Some(s)) => format!(" with an explicit deny in {s}"),
        _ => " because no identity-based policy allows the action".to_string(),
    };
    not_authorized(caller, action, resource, &why)
}
