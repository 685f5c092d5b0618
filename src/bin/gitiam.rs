//! `gitiam`: the access-control proxy and its tools.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gitiam::cli;

/// AWS-style identity and access control in front of any Git server.
#[derive(Debug, Parser)]
#[command(name = "gitiam", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve Git over HTTPS with SigV4 authentication and IAM authorization.
    Serve(cli::serve::Args),
    /// Write a working demo (config, user, policies, repository) and serve it.
    Quickstart(cli::quickstart::Args),
    /// Validate and simulate IAM policy files.
    #[command(subcommand)]
    Policy(cli::policy::Command),
    /// Review access over a whole configuration: who can, what a change grants.
    #[command(subcommand)]
    Access(cli::access::Command),
    /// Manage the STS key file (list, add, activate, rotate, remove keys).
    #[command(subcommand, name = "sts-keys")]
    StsKeys(cli::sts_keys::Command),
    /// List the push-event outbox and redeliver events.
    #[command(subcommand)]
    Events(cli::events::Command),
    /// Administer users, groups, keys and Git credentials with `aws iam`'s
    /// verbs (edits the configuration in place).
    Iam(cli::iam::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap's own exit status for a usage error is 2, which `policy
            // simulate` uses for a deny: a script must never read a typo as
            // a decision, so usage errors get their own status.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                cli::EXIT_USAGE
            } else {
                0
            });
        }
    };
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Quickstart(args) => cli::quickstart::run(args),
        Command::Policy(command) => cli::policy::run(command),
        Command::Access(command) => cli::access::run(command),
        Command::StsKeys(command) => cli::sts_keys::run(command),
        Command::Events(command) => cli::events::run(command),
        Command::Iam(args) => cli::iam::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("gitiam: {error:#}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
