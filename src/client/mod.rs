//! The client side of gitiam: everything `git-credential-gitiam` needs to
//! turn "git wants a password for this URL" into a CodeCommit-style SigV4
//! Git password.
//!
//! - [`protocol`]: the git credential helper protocol.
//! - [`aws_config`]: the AWS shared config and credentials files.
//! - [`provider`]: the credential chain (environment, shared files,
//!   `credential_process`, STS roles), in the order the AWS SDKs use.
//! - [`sts_client`]: a small synchronous STS client (only built when a role
//!   must be assumed, so plain `get` never sets up TLS).
//! - [`sso`]: IAM Identity Center: the AWS CLI's cached SSO token, the
//!   portal's `GetRoleCredentials` and the OIDC token refresh.
//! - [`cache`]: temporary credentials cached on disk until shortly before
//!   they expire.
//! - [`region`]: the signing region from a CodeCommit host name or settings.

pub mod aws_config;
pub mod cache;
pub mod protocol;
pub mod provider;
pub mod region;
pub mod sso;
pub mod sts_client;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// AWS credentials. `Debug` shows only the access key id and expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA...` or `ASIA...`).
    pub access_key_id: String,
    secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials stop working.
    pub expiration: Option<SystemTime>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl Credentials {
    /// Credentials from their parts.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        expiration: Option<SystemTime>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.filter(|t| !t.is_empty()),
            expiration,
        }
    }

    /// The secret access key. Never log it.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The Git username CodeCommit expects: the access key id, plus `%` and
    /// the session token for temporary credentials.
    pub fn git_username(&self) -> String {
        match &self.session_token {
            Some(token) => format!("{}%{token}", self.access_key_id),
            None => self.access_key_id.clone(),
        }
    }
}

/// A snapshot of the environment variables the helper reads, so that the
/// resolution logic is testable without touching the process environment.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.vars.keys().collect();
        keys.sort();
        f.debug_struct("Env").field("keys", &keys).finish()
    }
}

impl Env {
    /// The current process environment (variables that are not UTF-8 are
    /// skipped).
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment with exactly these variables.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// A variable's value, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `path` with a leading `~/` expanded to `$HOME` (as botocore does for
    /// file settings).
    pub fn expand_home(&self, path: &str) -> PathBuf {
        if let Some(rest) = path.strip_prefix("~/")
            && let Some(home) = self.home()
        {
            return home.join(rest);
        }
        PathBuf::from(path)
    }

    /// The home directory: `$HOME`, else the platform's.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from).or_else(dirs::home_dir)
    }

    /// `AWS_CONFIG_FILE`, else `~/.aws/config`.
    pub fn config_file(&self) -> Option<PathBuf> {
        match self.get("AWS_CONFIG_FILE") {
            Some(p) => Some(self.expand_home(p)),
            None => self.home().map(|h| h.join(".aws").join("config")),
        }
    }

    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
    pub fn credentials_file(&self) -> Option<PathBuf> {
        match self.get("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => Some(self.expand_home(p)),
            None => self.home().map(|h| h.join(".aws").join("credentials")),
        }
    }
}

/// Why no password could be produced. Messages are one line, say how to
/// fix the problem, and never contain secrets, tokens or signatures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Bad input from git.
    #[error(transparent)]
    Protocol(#[from] protocol::ProtocolError),
    /// git did not send `host`.
    #[error("git did not send the host name (expected a host=... line on stdin)")]
    MissingHost,
    /// git did not send `path`.
    #[error(
        "git did not send the repository path: set credential.useHttpPath true (git config --global credential.useHttpPath true)"
    )]
    MissingPath,
    /// No region could be determined.
    #[error(
        "no region for host {host}: pass --region, set AWS_REGION, or set region in profile `{profile}`"
    )]
    NoRegion {
        /// The host git asked about.
        host: String,
        /// The profile in use.
        profile: String,
    },
    /// No source produced credentials.
    #[error(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure profile `{profile}` in {credentials_file} (or choose another with --profile / AWS_PROFILE)"
    )]
    NoCredentials {
        /// The profile that was looked at.
        profile: String,
        /// The credentials file that was looked at.
        credentials_file: String,
    },
    /// The requested profile exists in neither file.
    #[error("profile `{profile}` not found in {config_file} or {credentials_file}{}", known_profiles(.known))]
    UnknownProfile {
        /// The profile asked for.
        profile: String,
        /// The config file looked at.
        config_file: String,
        /// The credentials file looked at.
        credentials_file: String,
        /// Profiles that do exist.
        known: Vec<String>,
    },
    /// Only some of the environment variables are set.
    #[error("{0}")]
    PartialEnvironment(&'static str),
    /// A shared file is malformed.
    #[error(transparent)]
    ConfigFile(#[from] aws_config::ConfigFileError),
    /// A profile's settings are inconsistent or unsupported.
    #[error("profile `{profile}`: {message}")]
    Profile {
        /// The profile.
        profile: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `credential_process` failed.
    #[error("credential_process of profile `{profile}` failed: {message}")]
    Process {
        /// The profile.
        profile: String,
        /// What went wrong.
        message: String,
    },
    /// STS refused or could not be reached.
    #[error(transparent)]
    Sts(#[from] sts_client::StsError),
    /// The SSO portal or OIDC refused or could not be reached.
    #[error(transparent)]
    Sso(#[from] sso::SsoError),
    /// Writing the answer to git failed.
    #[error("cannot write the answer to git: {0}")]
    Output(String),
}

fn known_profiles(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (known profiles: {})", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_and_redaction() {
        let c = Credentials::new("ASIAX", "sekrit", Some("tok".into()), None);
        assert_eq!(c.git_username(), "ASIAX%tok");
        let d = format!("{c:?}");
        assert!(!d.contains("sekrit") && !d.contains("tok\""), "{d}");
        let c = Credentials::new("AKIAX", "sekrit", Some(String::new()), None);
        assert_eq!(c.git_username(), "AKIAX");
    }

    #[test]
    fn env_paths() {
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("AWS_CONFIG_FILE", "~/cfg"),
            ("EMPTY", ""),
        ]);
        assert_eq!(env.config_file(), Some(PathBuf::from("/home/u/cfg")));
        assert_eq!(
            env.credentials_file(),
            Some(PathBuf::from("/home/u/.aws/credentials"))
        );
        assert_eq!(env.get("EMPTY"), None);
    }
}
