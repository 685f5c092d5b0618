//! `gitiam policy simulate --config`: one request by a principal of a
//! configuration, decided by the server's code ([`crate::server::review`]),
//! as text or in the IAM policy simulator's JSON shape
//! (`EvaluationResults`, `EvalDecision`, `MatchedStatements`,
//! `MissingContextValues`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::simulate::{SimulateArgs, bad_input, explain, load};
use super::{Exit, parse_context};
use crate::server::identity::Identity;
use crate::server::review::{Reviewer, Simulation, simulate};
use crate::shared::config;
use crate::shared::policy::spans::{Span, statement_spans};
use crate::shared::policy::{
    Decision, Effect, Policy, PolicyKind, PrincipalInfo, Request, StatementRef,
};

pub(super) fn run(args: &SimulateArgs) -> Exit {
    let mut problems = Vec::new();
    if !args.policies.is_empty() || !args.boundaries.is_empty() {
        problems.push(
            "--config decides with the configuration's policies: it cannot be combined with --policy or --boundary".to_string(),
        );
    }
    if args.principal.is_none() {
        problems.push("--principal ARN is required with --config".to_string());
    }
    let action = args.action.as_deref().unwrap_or_default();
    if !action.contains(':') {
        problems.push("--action SERVICE:ACTION is required".to_string());
    }
    let resource = args.resource.as_deref().unwrap_or_default();
    problems.extend(super::resource_problem(resource));
    let overrides = match parse_context(&args.context) {
        Ok(c) => c,
        Err(e) => {
            problems.push(e);
            Default::default()
        }
    };
    if !problems.is_empty() {
        return bad_input(&problems);
    }
    let Some(path) = &args.config else {
        return Exit::BadInput;
    };
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => return bad_input(&[e.to_string()]),
    };
    let session_policy = if args.session_policies.is_empty() {
        None
    } else {
        match load(&args.session_policies, Some(PolicyKind::Session)) {
            Ok(p) => Some(p),
            Err(p) => return bad_input(&p),
        }
    };
    let reviewer = Reviewer {
        directory: &config.directory,
        region: &config.server.region,
        now: SystemTime::now(),
        overrides: &overrides,
    };
    let principal = args.principal.as_deref().unwrap_or_default();
    let identity = match reviewer.resolve(principal, session_policy) {
        Ok(id) => id,
        Err(e) => return bad_input(&[e.to_string()]),
    };
    let simulation = simulate(&reviewer, &identity, action, resource);
    let base = config_base(path);
    let positions = positions(&policies_of(&identity), &base);
    if args.json {
        // The session policy's statements are named by its file, as the
        // server names an inline one SESSION_POLICY_SOURCE.
        let mut session_sources: Vec<String> = args
            .session_policies
            .iter()
            .map(|p| super::display(p))
            .collect();
        session_sources.push(crate::server::identity::SESSION_POLICY_SOURCE.to_string());
        print_json(action, resource, &simulation, &positions, &session_sources);
    } else {
        print_text(action, resource, &simulation, &positions);
    }
    if simulation.evaluation.decision.is_allowed() {
        Exit::Ok
    } else {
        Exit::Denied
    }
}

/// The folder relative policy paths of the configuration resolve from.
pub(crate) fn config_base(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Every policy that decides for `identity`.
fn policies_of(identity: &Identity) -> Vec<Arc<Policy>> {
    match identity {
        Identity::User(u) => u.policies.clone(),
        Identity::AssumedRole(s) => {
            let mut all = s.role.policies.clone();
            all.extend(s.session_policy.iter().flatten().cloned());
            all
        }
    }
}

/// Where each statement of `policies` is in its file: (source, label) ->
/// span. A file that cannot be read again just has no positions.
pub(crate) fn positions(policies: &[Arc<Policy>], base: &Path) -> HashMap<(String, String), Span> {
    let mut out = HashMap::new();
    for policy in policies {
        let source = Path::new(policy.source());
        let path = if source.is_absolute() {
            source.to_path_buf()
        } else {
            base.join(source)
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let spans = statement_spans(&text);
        for statement in policy.statements() {
            if let Some(span) = spans.get(statement.index()) {
                out.insert(
                    (policy.source().to_string(), statement.label().to_string()),
                    *span,
                );
            }
        }
    }
    out
}

fn span_of<'a>(
    positions: &'a HashMap<(String, String), Span>,
    s: &StatementRef,
) -> Option<&'a Span> {
    positions.get(&(s.policy.clone(), s.statement.clone()))
}

fn print_text(
    action: &str,
    resource: &str,
    sim: &Simulation,
    positions: &HashMap<(String, String), Span>,
) {
    let mut out = String::new();
    let evaluation = &sim.evaluation;
    let _ = writeln!(out, "{}", evaluation.decision);
    let info = PrincipalInfo::from_arn(&sim.principal);
    let request = Request {
        action,
        resource,
        principal: info.as_ref(),
        context: &sim.context,
    };
    let at = |t: &StatementRef| {
        span_of(positions, t).map(|s| {
            format!(
                "at {}:{}:{}-{}:{}",
                t.policy, s.start.0, s.start.1, s.end.0, s.end.1
            )
        })
    };
    match evaluation.decision {
        Decision::Allowed | Decision::ExplicitDeny => {
            let (effect, verb) = if evaluation.decision == Decision::Allowed {
                (Effect::Allow, "allowed by")
            } else {
                (Effect::Deny, "denied by")
            };
            for t in sim
                .traces
                .iter()
                .filter(|t| t.applies && t.effect == effect)
            {
                let _ = writeln!(out, "{verb} {} ({})", t.statement, t.effect);
                if let Some(at) = at(&t.statement) {
                    let _ = writeln!(out, "  {at}");
                }
                for line in explain(t, &request) {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        Decision::ImplicitDeny => {
            for i in &evaluation.layers_without_allow {
                let name = sim.layer_names.get(*i).copied().unwrap_or("policies");
                let _ = writeln!(
                    out,
                    "no statement in the {name} of {} allows {action} on {resource}",
                    sim.principal
                );
            }
            for t in sim
                .traces
                .iter()
                .filter(|t| t.effect == Effect::Allow && t.action && !t.applies)
            {
                let _ = writeln!(out, "not applicable: {} ({})", t.statement, t.effect);
                if let Some(at) = at(&t.statement) {
                    let _ = writeln!(out, "  {at}");
                }
                for line in explain(t, &request) {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }
    if !sim.missing_context.is_empty() {
        let _ = writeln!(
            out,
            "missing context values: {}",
            sim.missing_context.join(", ")
        );
    }
    for e in &evaluation.errors {
        let _ = writeln!(out, "note: {e}");
    }
    crate::cli::print_out(&out);
}

fn print_json(
    action: &str,
    resource: &str,
    sim: &Simulation,
    positions: &HashMap<(String, String), Span>,
    session_sources: &[String],
) {
    let matched: Vec<serde_json::Value> = sim
        .evaluation
        .deciding
        .iter()
        .map(|s| {
            let mut m = serde_json::json!({
                "SourcePolicyId": s.policy,
                "SourcePolicyType": if session_sources.contains(&s.policy) { "SESSION POLICY" } else { "IAM Policy" },
                "Sid": s.statement,
            });
            if let (Some(span), Some(obj)) = (span_of(positions, s), m.as_object_mut()) {
                obj.insert(
                    "StartPosition".into(),
                    serde_json::json!({"Line": span.start.0, "Column": span.start.1}),
                );
                obj.insert(
                    "EndPosition".into(),
                    serde_json::json!({"Line": span.end.0, "Column": span.end.1}),
                );
            }
            m
        })
        .collect();
    let context: Vec<serde_json::Value> = sim
        .context
        .iter()
        .map(|(k, v)| {
            serde_json::json!({"ContextKeyName": k, "ContextKeyValues": v, "ContextKeyType": if v.len() > 1 { "stringList" } else { "string" }})
        })
        .collect();
    let value = serde_json::json!({
        "EvaluationResults": [{
            "EvalActionName": action,
            "EvalResourceName": resource,
            "EvalDecision": sim.evaluation.decision.as_str(),
            "MatchedStatements": matched,
            "MissingContextValues": sim.missing_context,
            "PrincipalArn": sim.principal,
            "ContextEntries": context,
            "EvalDecisionDetails": sim.layer_names.iter().enumerate().map(|(i, name)| {
                let allowed = !sim.evaluation.layers_without_allow.contains(&i);
                (name.to_string(), serde_json::json!(match sim.evaluation.decision {
                    Decision::ExplicitDeny => "explicitDeny",
                    _ if allowed => "allowed",
                    _ => "implicitDeny",
                }))
            }).collect::<serde_json::Map<_, _>>(),
            "Errors": sim.evaluation.errors,
        }]
    });
    match serde_json::to_string_pretty(&value) {
        Ok(text) => crate::cli::print_out(&format!("{text}\n")),
        Err(e) => eprintln!("gitiam policy simulate: {e}"),
    }
}
