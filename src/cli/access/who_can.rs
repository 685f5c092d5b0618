//! `gitiam access who-can`: text (one line per principal, indented `via`
//! chains) or JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{Exit, load, now};
use crate::cli::policy::parse_context;
use crate::server::review::reach::{Edge, Kind};
use crate::server::review::{Grant, Reviewer, who_can};

/// Arguments of `gitiam access who-can`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration (gitiam.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The action, e.g. codecommit:GitPush or sts:AssumeRole.
    #[arg(long, value_name = "ACTION")]
    pub action: String,
    /// The resource ARN: a repository
    /// (arn:aws:codecommit:REGION:ACCOUNT:NAME) or a role.
    #[arg(long, value_name = "ARN")]
    pub resource: String,
    /// A condition key and value, e.g. codecommit:References=refs/heads/main
    /// (repeatable); replaces what the server would fill.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// Print JSON: [{"principal", "via", "statements", "chains"}].
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(args: &Args) -> Exit {
    let overrides = match parse_context(&args.context) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gitiam access who-can: {e}");
            return Exit::BadInput;
        }
    };
    if !args.action.contains(':') {
        eprintln!(
            "gitiam access who-can: --action \"{}\": expected SERVICE:ACTION",
            args.action
        );
        return Exit::BadInput;
    }
    if let Some(problem) = crate::cli::policy::resource_problem(&args.resource) {
        eprintln!("gitiam access who-can: {problem}");
        return Exit::BadInput;
    }
    let Some(config) = load(&args.config, "who-can") else {
        return Exit::BadInput;
    };
    let reviewer = Reviewer {
        directory: &config.directory,
        region: &config.server.region,
        now: now(),
        overrides: &overrides,
    };
    let grants = who_can(&reviewer, &args.action, &args.resource);
    if args.json {
        print_json(&grants);
    } else {
        print_text(&grants);
    }
    Exit::Ok
}

/// `ARN [when CONDITION; ...] or [when ...]`
fn hop(arn: &str, edge: &Edge) -> String {
    match edge.conditions.describe() {
        None => arn.to_string(),
        Some(conditions) => format!("{arn} {conditions}"),
    }
}

fn print_text(grants: &[Grant]) {
    let mut out = String::new();
    for g in grants {
        let _ = writeln!(out, "{}", g.principal);
        for chain in &g.via {
            let mut parts = Vec::new();
            if let Some(first) = chain.first() {
                parts.push(first.from.clone());
            }
            for edge in chain {
                parts.push(hop(&edge.to, edge));
            }
            let _ = writeln!(out, "  via {}", parts.join(" -> "));
        }
    }
    crate::cli::print_out(&out);
}

fn print_json(grants: &[Grant]) {
    let value: Vec<serde_json::Value> = grants
        .iter()
        .map(|g| {
            let via: Vec<Vec<String>> = g
                .via
                .iter()
                .map(|chain| {
                    chain
                        .first()
                        .map(|e| e.from.clone())
                        .into_iter()
                        .chain(chain.iter().map(|e| e.to.clone()))
                        .collect()
                })
                .collect();
            let chains: Vec<Vec<serde_json::Value>> = g
                .via
                .iter()
                .map(|chain| {
                    chain
                        .iter()
                        .map(|e| {
                            serde_json::json!({
                                "from": e.from,
                                "to": e.to,
                                "action": e.action,
                                "conditions": e.conditions.sets(),
                                "statements": e.statements.iter().map(|s| serde_json::json!({"policy": s.policy, "sid": s.statement})).collect::<Vec<_>>(),
                            })
                        })
                        .collect()
                })
                .collect();
            serde_json::json!({
                "principal": g.principal,
                "type": match g.kind { Kind::User => "user", Kind::Role => "role", Kind::Provider => "oidc-provider" },
                "via": via,
                "statements": g.statements.iter().map(|s| serde_json::json!({"policy": s.policy, "sid": s.statement})).collect::<Vec<_>>(),
                "chains": chains,
            })
        })
        .collect();
    match serde_json::to_string_pretty(&value) {
        Ok(text) => crate::cli::print_out(&format!("{text}\n")),
        Err(e) => eprintln!("gitiam access who-can: {e}"),
    }
}
