//! `gitiam policy simulate`: one request decided against policy files, or
//! with `--config` against what a configuration's principal has.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Exit, display};
use crate::shared::policy::arn::Arn;
use crate::shared::policy::{
    Context, Decision, Effect, Policy, PolicyError, PolicyKind, PolicyLayer, PrincipalInfo,
    Request, StatementTrace, evaluate, trace,
};

/// Arguments of `gitiam policy simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// A policy file (repeatable; required). All `--policy` files form one
    /// policy set: any of them may allow, any Deny wins.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// A session policy file (repeatable): a second set that must also allow,
    /// as for an AssumeRole session with a session policy.
    #[arg(long = "session-policy", value_name = "FILE")]
    pub session_policies: Vec<PathBuf>,
    /// A permissions boundary file (repeatable): another set that must also
    /// allow.
    #[arg(long = "boundary", value_name = "FILE")]
    pub boundaries: Vec<PathBuf>,
    /// The action to decide, e.g. codecommit:GitPush (required).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// The resource ARN, e.g. arn:aws:codecommit:us-east-1:111122223333:MyRepo
    /// (required).
    #[arg(long, value_name = "ARN")]
    pub resource: Option<String>,
    /// The caller's ARN, matched by Principal/NotPrincipal (trust policies).
    /// It also fills aws:PrincipalArn, aws:PrincipalAccount,
    /// aws:PrincipalType and, for IAM users, aws:username, unless --context
    /// sets them.
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,
    /// A condition key and value, e.g. codecommit:References=refs/heads/main.
    /// Repeat a key to give it several values.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// A configuration (gitiam.toml): decide with what `--principal` has
    /// there, as the server would (a user's own and groups' policies; a
    /// role's policies for a session of it, intersected with
    /// `--session-policy`), with the context keys the server fills for it.
    /// Not with `--policy` or `--boundary`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON object (decision, deciding statements, every
    /// statement's trace, errors) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Reads and parses policy files for `simulate`; `Err` carries the messages.
/// Reads and parses policy files as `kind` (`None`: guessed from the text).
pub(crate) fn load(
    paths: &[PathBuf],
    kind: Option<PolicyKind>,
) -> Result<Vec<Arc<Policy>>, Vec<String>> {
    let mut policies = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let name = display(path);
        match std::fs::read_to_string(path) {
            Err(e) => problems.push(format!("{name}: cannot read: {e}")),
            Ok(text) => match Policy::parse_as(
                &name,
                &text,
                kind.unwrap_or_else(|| PolicyKind::guess(&text)),
            ) {
                Ok(p) => policies.push(Arc::new(p)),
                Err(e @ PolicyError::Syntax { .. }) => problems.push(e.to_string()),
                Err(e) => problems.extend(e.to_string().lines().map(str::to_string)),
            },
        }
    }
    if problems.is_empty() {
        Ok(policies)
    } else {
        Err(problems)
    }
}

/// Builds the request context from `--context` and `--principal`.
fn build_context(
    args: &SimulateArgs,
    principal: Option<&PrincipalInfo>,
) -> Result<Context, String> {
    let mut context = Context::new();
    for entry in &args.context {
        match entry.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => context.insert(key.trim(), value),
            _ => return Err(format!("--context \"{entry}\": expected KEY=VALUE")),
        }
    }
    if let Some(p) = principal {
        let mut fill = |key: &str, value: &str| {
            if !context.contains(key) {
                context.insert(key, value);
            }
        };
        // As in IAM, a role session's aws:PrincipalArn is the role's ARN.
        fill("aws:PrincipalArn", p.role_arn.as_deref().unwrap_or(&p.arn));
        fill("aws:PrincipalAccount", &p.account);
        if let Some(arn) = Arn::parse(&p.arn) {
            let kind = match (
                arn.service,
                arn.resource.split('/').next().unwrap_or_default(),
            ) {
                (_, "root") => Some("Account"),
                ("iam", "user") => Some("User"),
                ("sts", "assumed-role") => Some("AssumedRole"),
                ("sts", "federated-user") => Some("FederatedUser"),
                _ => None,
            };
            if let Some(kind) = kind {
                fill("aws:PrincipalType", kind);
            }
            if kind == Some("User")
                && let Some(name) = arn.resource.rsplit('/').next()
            {
                fill("aws:username", name);
            }
        }
    }
    Ok(context)
}

pub(crate) fn bad_input(problems: &[String]) -> Exit {
    for p in problems {
        eprintln!("gitiam policy simulate: {p}");
    }
    Exit::BadInput
}

pub(crate) fn run(args: &SimulateArgs) -> Exit {
    let mut problems = Vec::new();
    if args.policies.is_empty() {
        problems.push("--policy FILE is required".to_string());
    }
    let action = args.action.as_deref().unwrap_or_default();
    match action.split_once(':') {
        _ if args.action.is_none() => problems.push("--action is required".to_string()),
        Some((service, name)) if !service.is_empty() && !name.is_empty() => {}
        _ => problems.push(format!(
            "--action \"{action}\": expected SERVICE:ACTION such as codecommit:GitPush"
        )),
    }
    let resource = args.resource.as_deref().unwrap_or_default();
    problems.extend(super::resource_problem(resource));
    let principal = match args
        .principal
        .as_deref()
        .map(|p| (p, PrincipalInfo::from_arn(p)))
    {
        None => None,
        Some((_, Some(info))) => Some(info),
        Some((text, None)) => {
            problems.push(format!("--principal \"{text}\": expected an ARN"));
            None
        }
    };
    let context = match build_context(args, principal.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            problems.push(e);
            Context::new()
        }
    };
    let mut sets = Vec::new();
    for (paths, kind) in [
        (&args.policies, None),
        (&args.session_policies, Some(PolicyKind::Session)),
        (&args.boundaries, None),
    ] {
        if paths.is_empty() {
            continue;
        }
        match load(paths, kind) {
            Ok(policies) => sets.push(policies),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return bad_input(&problems);
    }

    let layers: Vec<PolicyLayer<'_>> = sets.iter().map(|s| PolicyLayer::new(s)).collect();
    let request = Request {
        action,
        resource,
        principal: principal.as_ref(),
        context: &context,
    };
    let evaluation = evaluate(&layers, &request);
    let traces = trace(&layers, &request);
    let layer_names = layer_names(args);

    if args.json {
        print_json(args, &request, &evaluation, &traces, &layer_names);
    } else {
        print_text(&request, &evaluation, &traces, &layer_names);
    }
    if evaluation.decision.is_allowed() {
        Exit::Ok
    } else {
        Exit::Denied
    }
}

fn layer_names(args: &SimulateArgs) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (paths, name) in [
        (&args.policies, "policies"),
        (&args.session_policies, "session policies"),
        (&args.boundaries, "permissions boundary"),
    ] {
        if !paths.is_empty() {
            names.push(name);
        }
    }
    names
}

pub(crate) fn explain(t: &StatementTrace, request: &Request<'_>) -> Vec<String> {
    let yes = |b: bool| if b { "matches" } else { "does not match" };
    let mut lines = vec![
        format!("action {} {}", request.action, yes(t.action)),
        format!("resource {} {}", request.resource, yes(t.resource)),
    ];
    if let Some(p) = t.principal {
        let who = request
            .principal
            .map_or("(no principal)", |p| p.arn.as_str());
        lines.push(format!("principal {who} {}", yes(p)));
    }
    for c in &t.conditions {
        let request = match &c.request_values {
            None => format!("{} is absent", c.key),
            Some(values) => format!("{} = {values:?}", c.key),
        };
        lines.push(format!(
            "condition {}: {} ({request})",
            c.condition, c.holds
        ));
    }
    lines
}

fn print_text(
    request: &Request<'_>,
    evaluation: &crate::shared::policy::Evaluation,
    traces: &[StatementTrace],
    layer_names: &[&str],
) {
    let mut out = String::new();
    let _ = writeln!(out, "{}", evaluation.decision);
    let deciding = |effect: Effect| {
        traces
            .iter()
            .filter(move |t| t.applies && t.effect == effect)
    };
    match evaluation.decision {
        Decision::ExplicitDeny | Decision::Allowed => {
            let (effect, verb) = if evaluation.decision == Decision::Allowed {
                (Effect::Allow, "allowed by")
            } else {
                (Effect::Deny, "denied by")
            };
            for t in deciding(effect) {
                let _ = writeln!(out, "{verb} {} ({})", t.statement, t.effect);
                for line in explain(t, request) {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
        Decision::ImplicitDeny => {
            if layer_names.len() > 1 {
                for i in &evaluation.layers_without_allow {
                    let name = layer_names.get(*i).copied().unwrap_or("policies");
                    let _ = writeln!(
                        out,
                        "no statement in the {name} allows {} on {}",
                        request.action, request.resource
                    );
                }
            } else {
                let _ = writeln!(
                    out,
                    "no statement allows {} on {}",
                    request.action, request.resource
                );
            }
            let near: Vec<&StatementTrace> = traces
                .iter()
                .filter(|t| t.effect == Effect::Allow && t.action && !t.applies)
                .collect();
            for t in near {
                let _ = writeln!(out, "not applicable: {} ({})", t.statement, t.effect);
                for line in explain(t, request) {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }
    for e in &evaluation.errors {
        let _ = writeln!(out, "note: {e}");
    }
    crate::cli::print_out(&out);
}

fn print_json(
    args: &SimulateArgs,
    request: &Request<'_>,
    evaluation: &crate::shared::policy::Evaluation,
    traces: &[StatementTrace],
    layer_names: &[&str],
) {
    let context: serde_json::Map<String, serde_json::Value> = request
        .context
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let statements: Vec<serde_json::Value> = traces
        .iter()
        .map(|t| {
            serde_json::json!({
                "layer": layer_names.get(t.layer).copied().unwrap_or("policies"),
                "policy": t.statement.policy,
                "statement": t.statement.statement,
                "effect": t.effect.to_string(),
                "actionMatches": t.action,
                "resourceMatches": t.resource,
                "principalMatches": t.principal,
                "conditions": t.conditions.iter().map(|c| serde_json::json!({"condition": c.condition, "key": c.key, "requestValues": c.request_values, "holds": c.holds})).collect::<Vec<_>>(),
                "applies": t.applies,
            })
        })
        .collect();
    let value = serde_json::json!({
        "decision": evaluation.decision.as_str(),
        "action": request.action,
        "resource": request.resource,
        "principal": args.principal,
        "context": context,
        "deciding": evaluation.deciding.iter().map(|s| serde_json::json!({"policy": s.policy, "statement": s.statement})).collect::<Vec<_>>(),
        "layersWithoutAllow": evaluation.layers_without_allow.iter().map(|i| layer_names.get(*i).copied().unwrap_or("policies")).collect::<Vec<_>>(),
        "statements": statements,
        "errors": evaluation.errors,
    });
    match serde_json::to_string_pretty(&value) {
        Ok(text) => outln!("{text}"),
        Err(e) => eprintln!("gitiam policy simulate: {e}"),
    }
}
