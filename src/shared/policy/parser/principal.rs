//! `Principal`/`NotPrincipal`: which principal types exist, which entries
//! are well-formed, and which policy kinds may have the element at all.

use crate::shared::policy::arn::{Arn, check_policy_arn, is_account_id};
use crate::shared::policy::ast::{Effect, Principals};
use crate::shared::policy::finding::PolicyKind;
use crate::shared::policy::raw::Json;

use super::builder::{Builder, suggestion};

pub(super) fn build_principals(
    b: &mut Builder<'_>,
    principal: Option<&Json>,
    not_principal: Option<&Json>,
    effect: Option<Effect>,
) -> Option<Option<Principals>> {
    let (field, value, negated) = match (principal, not_principal) {
        (Some(_), Some(_)) => {
            b.error(
                "Principal",
                "a statement cannot have both Principal and NotPrincipal",
            );
            return None;
        }
        (None, None) => {
            if b.kind == Some(PolicyKind::Trust) {
                b.error(
                    "Principal",
                    "missing Principal: a trust policy must say who may assume the role",
                );
            }
            return Some(None);
        }
        (Some(v), None) => ("Principal", v, false),
        (None, Some(v)) => ("NotPrincipal", v, true),
    };
    match b.kind {
        Some(PolicyKind::Identity) => b.error(
            field,
            format!("{field} is not allowed in an identity policy (the principal is whoever the policy is attached to)"),
        ),
        Some(PolicyKind::Session) => b.error(field, format!("{field} is not allowed in a session policy")),
        _ => {}
    }
    if negated && effect == Some(Effect::Allow) {
        b.error(
            "NotPrincipal",
            "NotPrincipal cannot be used with \"Effect\": \"Allow\"",
        );
    }
    let mut p = Principals {
        negated,
        ..Principals::default()
    };
    let mut ok = true;
    match value {
        Json::String(s) if s == "*" => p.everyone = true,
        Json::Object(entries) => {
            if entries.is_empty() {
                b.error(field, format!("{field} must name at least one principal"));
                ok = false;
            }
            for (kind, v) in entries {
                let sub = format!("{field}.{kind}");
                let Some(list) = b.strings(&sub, v) else {
                    ok = false;
                    continue;
                };
                match kind.as_str() {
                    "AWS" => {
                        for entry in list {
                            if entry == "*" {
                                p.everyone = true;
                            } else if let Err(e) = check_aws_principal(&entry) {
                                b.error(&sub, e);
                                ok = false;
                            } else {
                                p.aws.push(entry);
                            }
                        }
                    }
                    "Federated" => {
                        for entry in list {
                            if entry.is_empty() || entry.contains(['*', '?']) {
                                b.error(&sub, format!("invalid federated principal \"{entry}\""));
                                ok = false;
                            } else if entry.starts_with("arn:")
                                && let Err(e) = check_policy_arn(&entry)
                            {
                                b.error(&sub, e);
                                ok = false;
                            } else {
                                p.federated.push(entry);
                            }
                        }
                    }
                    "Service" => p.service.extend(list),
                    "CanonicalUser" => p.canonical_user.extend(list),
                    other => {
                        let hint = suggestion(
                            other,
                            ["AWS", "Federated", "Service", "CanonicalUser"].iter(),
                        );
                        b.error(&sub, format!("unknown principal type \"{other}\"{hint}"));
                        ok = false;
                    }
                }
            }
        }
        other => {
            let shown = other
                .scalar_text()
                .map(|t| format!("\"{t}\""))
                .unwrap_or_else(|| other.type_name().to_string());
            b.error(
                field,
                format!("{field} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::111122223333:root\"}}, found {shown}"),
            );
            ok = false;
        }
    }
    ok.then_some(Some(p))
}

fn check_aws_principal(entry: &str) -> Result<(), String> {
    if is_account_id(entry) {
        return Ok(());
    }
    if entry.contains(['*', '?']) {
        return Err(format!(
            "AWS principal \"{entry}\": wildcards are not allowed in principals (use \"*\" alone, or a condition on aws:PrincipalArn)"
        ));
    }
    check_policy_arn(entry)?;
    match Arn::parse(entry) {
        Some(arn) if arn.service == "iam" || arn.service == "sts" => Ok(()),
        _ => Err(format!(
            "AWS principal \"{entry}\" must be an account id or an IAM/STS ARN (arn:aws:iam::ACCOUNT:root, :user/NAME, :role/NAME)"
        )),
    }
}
