//! `gitiam policy validate|simulate`: the tools for people editing policy
//! files. `validate` checks files the way IAM Access Analyzer does
//! ([`validate`](mod@validate)); `simulate` decides one request like `aws iam
//! simulate-custom-policy`, or with `--config` like `aws iam
//! simulate-principal-policy`, and explains which statement decided
//! ([`simulate`](mod@simulate)).

use std::path::Path;

use anyhow::Result;

use crate::shared::policy::PolicyKind;

mod principal;
pub mod simulate;
pub mod validate;

pub use simulate::SimulateArgs;
pub use validate::ValidateArgs;

/// Exit statuses of `gitiam policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// `validate`: every file is valid (warnings allowed). `simulate`: allowed.
    Ok = 0,
    /// `validate`: some file is invalid or unreadable.
    Invalid = 1,
    /// `simulate`: explicit or implicit deny.
    Denied = 2,
    /// `simulate`: a policy or the request itself is invalid.
    BadInput = 3,
}

impl From<Exit> for u8 {
    fn from(exit: Exit) -> u8 {
        exit as u8
    }
}

/// What a policy file is used as (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// Guess per file: a trust policy when every statement has a Principal
    /// and grants only sts: actions, otherwise an identity policy.
    Auto,
    /// Attached to a user, group or role (needs Resource, no Principal).
    Identity,
    /// A role trust policy (needs Principal, no Resource).
    Trust,
    /// A session policy passed to AssumeRole (like identity).
    Session,
}

impl KindArg {
    pub(crate) fn resolve(self, text: &str) -> PolicyKind {
        match self {
            KindArg::Auto => PolicyKind::guess(text),
            KindArg::Identity => PolicyKind::Identity,
            KindArg::Trust => PolicyKind::Trust,
            KindArg::Session => PolicyKind::Session,
        }
    }
}

/// Subcommands of `gitiam policy`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check policy files the way IAM Access Analyzer does: JSON syntax
    /// (file:line:column), unknown keys, bad Effect, missing or conflicting
    /// elements, unknown condition operators, malformed ARNs, Principal in
    /// identity policies, duplicate Sids (errors) and unknown codecommit:/sts:
    /// actions (warnings, with the closest known name). Exit 0 when every file
    /// is valid (warnings allowed), 1 otherwise; every file is checked.
    Validate(ValidateArgs),
    /// Decide one request against policy files, like `aws iam
    /// simulate-custom-policy`. The first output line is `allowed`,
    /// `explicitDeny` or `implicitDeny`; the following lines say which
    /// statement decided and why. Exit 0 allowed, 2 denied, 3 invalid policy
    /// or request.
    Simulate(SimulateArgs),
}

/// Runs the command; returns the process exit code.
pub fn run(command: Command) -> Result<u8> {
    let exit = match command {
        Command::Validate(args) => validate::run(&args),
        Command::Simulate(args) if args.config.is_some() => principal::run(&args),
        Command::Simulate(args) => simulate::run(&args),
    };
    Ok(exit.into())
}

pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What is wrong with a `--resource` value, if anything: it must be an ARN
/// (or `*`), as in a policy's `Resource`.
pub(crate) fn resource_problem(resource: &str) -> Option<String> {
    if resource.is_empty() {
        return Some("--resource ARN is required".to_string());
    }
    if resource != "*" && crate::shared::policy::arn::Arn::parse(resource).is_none() {
        return Some(format!(
            "--resource \"{resource}\": expected an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"
        ));
    }
    None
}

/// `--context KEY=VALUE` entries (a repeated key gets several values).
pub(crate) fn parse_context(entries: &[String]) -> Result<crate::shared::policy::Context, String> {
    let mut context = crate::shared::policy::Context::new();
    for entry in entries {
        match entry.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => context.insert(key.trim(), value),
            _ => return Err(format!("--context \"{entry}\": expected KEY=VALUE")),
        }
    }
    Ok(context)
}
