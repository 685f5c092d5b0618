//! Where SSH errors become answers: a request that does not run Git ends
//! with one line on the client's stderr (git prints it as is, followed by
//! its own "Could not read from remote repository") and a non-zero exit
//! status, then EOF and close. Messages never carry a secret, a server path
//! or a backend's own error text.

use russh::ChannelWriteHalf;
use russh::server::Msg;

use super::command::CommandError;

/// Exit status of a refused request (what `git-shell` uses for bad
/// commands is 128; a denial is 1, like a failed command).
pub const EXIT_DENIED: u32 = 1;
/// Exit status of a malformed or unsupported request.
pub const EXIT_BAD_REQUEST: u32 = 128;

/// Why a session channel ends without (or before the end of) Git.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// `ssh -T` or a shell request.
    #[error(
        "gitiam: authenticated as {arn}; interactive shells are not supported, use git (ssh://KEY_ID@HOST/v1/repos/NAME)"
    )]
    Shell {
        /// The caller's ARN.
        arn: String,
    },
    /// An exec request that is not a Git command gitiam runs.
    #[error("gitiam: {0}")]
    Command(#[from] CommandError),
    /// The access core refused (the text is its refusal message, which
    /// starts with `gitiam: `).
    #[error("{0}")]
    Denied(String),
    /// No such repository (after authorization, as over HTTPS).
    #[error("gitiam: repository {0} does not exist")]
    NotFound(String),
    /// The client broke the Git protocol (bad command section, too long).
    #[error("gitiam: {0}")]
    Protocol(String),
    /// The connection never authenticated (audit only: the client just
    /// learns that public-key authentication failed).
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// The key or certificate of a connection logged in before a reload is
    /// no longer valid: no more commands on it.
    #[error(
        "gitiam: the key or certificate this connection logged in with is no longer accepted ({0})"
    )]
    LoginRevoked(String),
    /// The client sent nothing for too long.
    #[error("gitiam: the client sent nothing for {0:?}")]
    Idle(std::time::Duration),
    /// The backend cannot serve SSH or failed to start; `public` is safe
    /// for the client, `detail` goes to the log.
    #[error("{public}")]
    Backend {
        /// For the client.
        public: &'static str,
        /// For the log.
        detail: String,
    },
}

impl SshError {
    /// The exit status sent to the client.
    pub fn exit_status(&self) -> u32 {
        match self {
            SshError::Shell { .. }
            | SshError::Denied(_)
            | SshError::NotFound(_)
            | SshError::Unauthenticated(_)
            | SshError::LoginRevoked(_) => EXIT_DENIED,
            SshError::Command(_)
            | SshError::Protocol(_)
            | SshError::Idle(_)
            | SshError::Backend { .. } => EXIT_BAD_REQUEST,
        }
    }

    /// The `reason` of the audit line.
    pub fn audit_reason(&self) -> String {
        match self {
            SshError::Backend { detail, .. } => detail.clone(),
            SshError::Denied(_) => "denied by policy".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Sends `error` as the end of the channel: its message on stderr, its
/// exit status, EOF, close. Failures mean the client is gone already.
pub async fn finish_with(channel: &ChannelWriteHalf<Msg>, error: &SshError) {
    let mut line = error.to_string();
    line.push('\n');
    let _ = channel.extended_data_bytes(1, line.into_bytes()).await;
    finish(channel, error.exit_status()).await;
}

/// Ends the channel with `status`.
pub async fn finish(channel: &ChannelWriteHalf<Msg>, status: u32) {
    let _ = channel.exit_status(status).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}
