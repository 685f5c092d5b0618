//! `gitiam quickstart` (placeholder until its issue lands).

/// Arguments of `gitiam quickstart`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command; returns the process exit code.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    Ok(1)
}
