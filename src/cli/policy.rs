//! `gitiam policy validate|simulate` (placeholder until the policy issue lands).

/// Subcommands of `gitiam policy`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check policy files the way IAM Access Analyzer does.
    Validate {
        /// Policy files to check.
        files: Vec<std::path::PathBuf>,
    },
}

/// Runs the command; returns the process exit code.
pub fn run(_command: Command) -> anyhow::Result<u8> {
    Ok(1)
}
