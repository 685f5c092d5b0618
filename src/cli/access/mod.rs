//! `gitiam access who-can|diff`: what a whole configuration grants, for
//! people reviewing policy changes, answered by [`crate::server::review`]
//! with the server's own decision code.

use std::time::SystemTime;

use anyhow::Result;

use crate::shared::config::{self, Config};

pub mod diff;
pub mod who_can;

/// Exit statuses of `gitiam access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// `who-can` answered; `diff`: nothing gained.
    Ok = 0,
    /// `diff`: the new configuration grants something the old one did not.
    Gained = 1,
    /// A usage or configuration error.
    BadInput = 3,
}

/// Subcommands of `gitiam access`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List every principal of the configuration allowed a request, and for
    /// roles every chain of users, identity providers and roles that can
    /// become them (with the conditions each step needs). Exit 0.
    WhoCan(who_can::Args),
    /// Report access that one configuration grants and another does not
    /// (`+`), and access it removes (`-`), over representative
    /// repositories and refs. Exit 1 when anything is gained, 0 otherwise,
    /// 3 on usage or configuration errors.
    Diff(diff::Args),
}

/// Runs the command; returns the process exit code.
pub fn run(command: Command) -> Result<u8> {
    let exit = match command {
        Command::WhoCan(args) => who_can::run(&args),
        Command::Diff(args) => diff::run(&args),
    };
    Ok(exit as u8)
}

/// Loads a configuration, printing the error (with file:line:column).
fn load(path: &std::path::Path, command: &str) -> Option<Config> {
    match config::load(path) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("gitiam access {command}: {e}");
            None
        }
    }
}

/// The time simulated requests are made at.
fn now() -> SystemTime {
    SystemTime::now()
}
