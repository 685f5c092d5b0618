//! `Action`/`NotAction` and `Resource`/`NotResource`: format checks,
//! unknown-action warnings, and compiling the patterns.

use crate::shared::policy::actions;
use crate::shared::policy::arn::check_policy_arn;
use crate::shared::policy::ast::{Actions, ResourcePattern, Resources};
use crate::shared::policy::finding::PolicyKind;
use crate::shared::policy::matcher::Wildcard;
use crate::shared::policy::raw::Json;
use crate::shared::policy::variables::Template;

use super::builder::Builder;

pub(super) fn build_actions(
    b: &mut Builder<'_>,
    action: Option<&Json>,
    not_action: Option<&Json>,
) -> Option<Actions> {
    let (field, value, negated) = match (action, not_action) {
        (Some(_), Some(_)) => {
            b.error(
                "Action",
                "a statement cannot have both Action and NotAction",
            );
            return None;
        }
        (None, None) => {
            b.error("Action", "missing Action (or NotAction)");
            return None;
        }
        (Some(v), None) => ("Action", v, false),
        (None, Some(v)) => ("NotAction", v, true),
    };
    let written = b.strings(field, value)?;
    let mut ok = true;
    for a in &written {
        if let Err(e) = check_action(b, field, a) {
            b.error(field, e);
            ok = false;
        }
    }
    if b.kind == Some(PolicyKind::Trust) && !negated {
        for a in &written {
            let trust_ok = a == "*"
                || a.split_once(':').is_some_and(|(svc, name)| {
                    svc.eq_ignore_ascii_case("sts") && {
                        let w = Wildcard::new_ignore_case(name);
                        actions::TRUST.iter().any(|t| w.matches(t))
                    }
                });
            if !trust_ok {
                b.warning(
                    field,
                    format!("\"{a}\" is not an action a trust policy grants (expected sts:AssumeRole, sts:AssumeRoleWithWebIdentity, sts:TagSession, ...)"),
                );
            }
        }
    }
    ok.then(|| Actions {
        negated,
        patterns: written
            .iter()
            .map(|a| Wildcard::new_ignore_case(a))
            .collect(),
        written,
    })
}

/// Format check of one action; warnings for unknown `codecommit:`/`sts:`
/// actions.
fn check_action(b: &mut Builder<'_>, field: &str, action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let Some((service, name)) = action.split_once(':') else {
        return Err(format!(
            "\"{action}\" is not an action: expected SERVICE:ACTION such as codecommit:GitPull"
        ));
    };
    if service.is_empty()
        || !service
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return Err(format!(
            "\"{action}\" has an invalid service prefix \"{service}\""
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'*' | b'?' | b'-' | b'_'))
    {
        return Err(format!(
            "\"{action}\" has an invalid action name \"{name}\""
        ));
    }
    let service_lower = service.to_ascii_lowercase();
    if let Some(known) = actions::known(&service_lower) {
        let pattern = Wildcard::new_ignore_case(name);
        if !known.iter().any(|k| pattern.matches(k)) {
            let message = match actions::closest(name, known) {
                Some(best) if pattern.is_exact() => {
                    format!(
                        "unknown action \"{action}\" (did you mean \"{service_lower}:{best}\"?)"
                    )
                }
                _ if pattern.is_exact() => format!("unknown action \"{action}\""),
                _ => format!("\"{action}\" matches no known {service_lower} action"),
            };
            b.warning(field, message);
        }
    }
    Ok(())
}

pub(super) fn build_resources(
    b: &mut Builder<'_>,
    resource: Option<&Json>,
    not_resource: Option<&Json>,
) -> Option<Option<Resources>> {
    let (field, value, negated) = match (resource, not_resource) {
        (Some(_), Some(_)) => {
            b.error(
                "Resource",
                "a statement cannot have both Resource and NotResource",
            );
            return None;
        }
        (None, None) => {
            match b.kind {
                Some(PolicyKind::Identity | PolicyKind::Session) => {
                    b.error("Resource", "missing Resource (or NotResource)")
                }
                Some(PolicyKind::Trust) | None => {}
            }
            return Some(None);
        }
        (Some(v), None) => ("Resource", v, false),
        (None, Some(v)) => ("NotResource", v, true),
    };
    if b.kind == Some(PolicyKind::Trust) {
        b.error(
            field,
            format!("{field} is not allowed in a role trust policy (the role is the resource)"),
        );
    }
    let written = b.strings(field, value)?;
    let substitute = b.version.substitutes_variables();
    let mut patterns = Vec::with_capacity(written.len());
    let mut ok = true;
    for r in &written {
        let template = match Template::parse(r, substitute) {
            Ok(t) => t,
            Err(e) => {
                b.error(field, e);
                ok = false;
                continue;
            }
        };
        let checked = template.placeholder_text();
        if r != "*"
            && let Err(e) = check_policy_arn(&checked)
        {
            // Name the ARN as written, not with its variables blanked out.
            b.error(field, e.replace(&checked, r));
            ok = false;
            continue;
        }
        patterns.push(match template.static_tokens() {
            Some(toks) => ResourcePattern::Static(Wildcard::from_tokens(toks, false)),
            None => ResourcePattern::Dynamic(template),
        });
    }
    ok.then_some(Some(Resources {
        negated,
        patterns,
        written,
    }))
}
