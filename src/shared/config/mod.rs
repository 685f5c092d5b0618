//! `gitiam.toml`: the server settings and the identity [`Directory`].
//!
//! Two layers, as with policies: [`raw`] is the TOML as written (with spans),
//! [`load`] validates it into [`Config`] and loads every referenced policy
//! through [`Policy::parse_as`]. Every error names `file:line:column`, so a bad
//! edit is found in seconds, and a configuration is either entirely valid or
//! rejected: reload relies on that to keep the last good one.
//!
//! Relative paths are resolved from the folder of the configuration file, so
//! the server behaves the same whatever its working directory.

mod accounts;
mod backend;
mod directory;
pub mod fleet;
pub mod git_credential;
pub mod raw;
mod secret;
pub mod ssh;
pub mod sts;
#[cfg(test)]
mod tests;
pub mod throttle;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::shared::policy::{Policy, PolicyError, PolicyKind};

pub use backend::{BackendConfig, BackendTarget, UpstreamHeader};
pub use directory::{Account, Directory, Role, User};
pub use secret::Secret;

pub use directory::unique_id;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default region (SigV4 scope and resource ARNs).
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default allowed clock skew of signatures, as in AWS.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 900;
/// Shortest and longest `max_session_duration` of a role, as in IAM.
pub const ROLE_SESSION_RANGE: (u64, u64) = (3600, 43_200);

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The configuration file (as given).
    pub path: PathBuf,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[backend]`.
    pub backend: BackendConfig,
    /// `[sts]`.
    pub sts: crate::shared::config::sts::StsSettings,
    /// Accounts, users, groups, roles, keys and their loaded policies.
    pub directory: Directory,
    /// `[[webhooks]]`: where push events go.
    pub webhooks: Vec<webhooks::Webhook>,
    /// The configuration file and every policy file it references: what a
    /// reload watches.
    pub files: Vec<PathBuf>,
}

/// `[server]`, with defaults applied.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// SigV4 region and the region in resource ARNs.
    pub region: String,
    /// Certificate and key files; `None` makes a self-signed certificate
    /// under `STATE_DIR/tls/`.
    pub tls: Option<TlsFiles>,
    /// Generated certificate, signing keys, audit log.
    pub state_dir: PathBuf,
    /// Where audit lines go.
    pub audit: AuditSink,
    /// Largest accepted distance between a signature's time and the clock.
    pub max_clock_skew: Duration,
    /// Throttling of failed authentications per source address.
    pub auth_throttle: throttle::AuthThrottle,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// Time allowed for a client to send a request head.
    pub header_read_timeout: Duration,
    /// Longest pause allowed while reading a request body.
    pub body_idle_timeout: Duration,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Offer HTTP/2 in ALPN (off by default: git pushes measured markedly
    /// slower over HTTP/2 than over HTTP/1.1, see docs/PERFORMANCE.md).
    pub http2: bool,
    /// `ssh_listen` and `ssh_host_keys`.
    pub ssh: ssh::SshServerConfig,
    /// `proxy_protocol`, `trusted_proxies` and `health_listen`.
    pub fleet: fleet::FleetSettings,
}

/// PEM certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Destination of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    /// One JSON line per request on standard output.
    Stdout,
    /// Appended to this file.
    File(PathBuf),
    /// No audit log (`audit = "off"`).
    Off,
}

/// A configuration or policy that cannot be used. The message names the file
/// and, when known, the line and column; it never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A problem at a place in the configuration file.
    #[error("{path}:{line}:{column}: {message}")]
    At {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A problem with the file as a whole.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A referenced policy file is not a valid policy.
    #[error("{source} (policy referenced at {path}:{line}:{column})")]
    Policy {
        /// The configuration file.
        path: String,
        /// Line of the reference.
        line: usize,
        /// Column of the reference.
        column: usize,
        /// The policy error, which names the policy file and its line.
        source: PolicyError,
    },
}

/// Reads, validates and loads the configuration at `path` and every policy
/// file it references.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_str(path, &base_dir(path), &text)
}

/// The folder relative paths of the configuration file `path` are resolved
/// from: its own, made absolute so that paths in logs and the generated
/// certificate's location do not depend on the working directory.
pub fn base_dir(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// Validates `text` as the configuration file `path`, resolving relative paths
/// from `base`.
pub fn load_str(path: &Path, base: &Path, text: &str) -> Result<Config, ConfigError> {
    Loader::new(path, base, text, EnvSecrets::Resolve).run(path)
}

/// Validates `text` as [`load_str`] does, except that secrets taken from the
/// environment (`secret_env`, `value_env`) are not read: an administrator
/// editing the file (`gitiam iam`) need not have the server's secrets in
/// their shell. The [`Config`] it returns holds placeholders for them: use
/// it to check a file, never to serve.
pub fn check_str(path: &Path, base: &Path, text: &str) -> Result<Config, ConfigError> {
    Loader::new(path, base, text, EnvSecrets::Placeholder).run(path)
}

/// What the loader does with a secret named by an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvSecrets {
    /// Reads the variable; unset is an error (the server).
    Resolve,
    /// Checks that a variable is named, and stands a valid placeholder in
    /// for its value (checking a file without the secrets).
    Placeholder,
}

impl EnvSecrets {
    /// The value of `var`, or `placeholder` when not resolving; `None` when
    /// the variable is unset (or not valid Unicode).
    pub(crate) fn value(self, var: &str, placeholder: impl FnOnce() -> String) -> Option<String> {
        match self {
            EnvSecrets::Resolve => std::env::var(var).ok(),
            EnvSecrets::Placeholder => Some(placeholder()),
        }
    }
}

struct Loader<'a> {
    path: String,
    base: PathBuf,
    text: &'a str,
    /// Whether `*_env` secrets are read.
    env: EnvSecrets,
    /// Policies by resolved path: a file used by many users is parsed once
    /// and shared.
    policies: HashMap<(PathBuf, bool), Arc<Policy>>,
    /// OIDC providers' `jwks_file`s, watched like policy files.
    jwks_files: Vec<PathBuf>,
}

impl<'a> Loader<'a> {
    fn new(path: &Path, base: &Path, text: &'a str, env: EnvSecrets) -> Self {
        Loader {
            path: path.display().to_string(),
            base: base.to_path_buf(),
            text,
            env,
            policies: HashMap::new(),
            jwks_files: Vec::new(),
        }
    }

    fn run(mut self, path: &Path) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(self.text).map_err(|e| {
            let message = e.message().trim_end().to_string();
            match e.span() {
                Some(span) => self.at(&span, message),
                None => ConfigError::File {
                    path: self.path.clone(),
                    message,
                },
            }
        })?;
        let server = self.server(raw.server)?;
        let backend = self.backend(raw.backend)?;
        let sts = match &raw.sts {
            None => crate::shared::config::sts::StsConfig::default()
                .validate(&self.base, &server.state_dir),
            Some(s) => s.get_ref().validate(&self.base, &server.state_dir),
        }
        .map_err(|e| match &raw.sts {
            Some(s) => self.err(s, e.to_string()),
            None => self.file_err(&e.to_string()),
        })?;
        let directory = self.directory(raw.accounts)?;
        let webhooks = webhooks::validate(&raw.webhooks, &self.base, self.env)
            .map_err(|(span, message)| self.at(&span, message))?;
        let mut files = vec![path.to_path_buf()];
        let mut policy_files: Vec<PathBuf> = self.policies.keys().map(|(p, _)| p.clone()).collect();
        policy_files.sort();
        policy_files.dedup();
        files.extend(policy_files);
        files.extend(self.jwks_files.iter().cloned());
        Ok(Config {
            path: path.to_path_buf(),
            server,
            backend,
            sts,
            directory,
            webhooks,
            files,
        })
    }

    fn at(&self, span: &Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError::At {
            path: self.path.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    fn err<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.at(&spanned.span(), message)
    }

    /// Checks the name of a `kind` (user, group, role) of account
    /// `account`: 1-`max` of the characters IAM allows, and not already in
    /// `seen` (names are unique case-insensitively); adds it to `seen`.
    fn check_name(
        &self,
        spanned: &Spanned<String>,
        kind: &str,
        max: usize,
        seen: &mut BTreeSet<String>,
        account: &str,
    ) -> Result<(), ConfigError> {
        let name = spanned.get_ref();
        if !valid_name(name, max) {
            return Err(self.err(
                spanned,
                format!("{kind} name `{name}` must be 1-{max} of letters, digits and +=,.@_-"),
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(self.err(
                spanned,
                format!("{kind} `{name}` is defined twice in account {account}"),
            ));
        }
        Ok(())
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// `status`: absent or `Active` is true, `Inactive` false.
    pub(super) fn status<T>(
        &self,
        status: &Option<Spanned<String>>,
        entry: &Spanned<T>,
    ) -> Result<bool, ConfigError> {
        match status.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("Active") => Ok(true),
            Some("Inactive") => Ok(false),
            Some(other) => {
                let at = status.as_ref().map_or_else(|| entry.span(), |s| s.span());
                Err(self.at(
                    &at,
                    format!("status `{other}` must be \"Active\" or \"Inactive\""),
                ))
            }
        }
    }

    fn positive(&self, v: Option<Spanned<u64>>, default: u64) -> Result<u64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if *s.get_ref() == 0 => Err(self.err(&s, "must be greater than 0")),
            Some(s) => Ok(s.into_inner()),
        }
    }

    fn server(&self, raw: raw::RawServer) -> Result<ServerConfig, ConfigError> {
        let listen = match &raw.listen {
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| self.file_err("bad default listen address"))?,
            Some(s) => s.get_ref().parse().map_err(|_| {
                self.err(
                    s,
                    format!(
                        "listen: `{}` is not an address like 127.0.0.1:8443",
                        s.get_ref()
                    ),
                )
            })?,
        };
        let region = match &raw.region {
            None => DEFAULT_REGION.to_string(),
            Some(s) => {
                let r = s.get_ref();
                if r.is_empty()
                    || r.len() > 32
                    || !r
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(self.err(
                        s,
                        format!("region: `{r}` is not a region name like us-east-1"),
                    ));
                }
                r.clone()
            }
        };
        let tls = match (&raw.tls_cert, &raw.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: self.resolve(cert.get_ref()),
                key: self.resolve(key.get_ref()),
            }),
            (Some(s), None) | (None, Some(s)) => {
                return Err(self.err(s, "tls_cert and tls_key must be set together (or neither, for a self-signed certificate)"));
            }
        };
        let state_dir = self.resolve(
            raw.state_dir
                .as_ref()
                .map_or(".gitiam", |s| s.get_ref().as_str()),
        );
        let audit = match &raw.audit {
            None => AuditSink::File(state_dir.join("audit.jsonl")),
            Some(a) => match a.get_ref().as_str() {
                "stdout" | "-" => AuditSink::Stdout,
                "off" => AuditSink::Off,
                "" => return Err(self.err(a, "audit: expected \"stdout\", \"off\" or a file path")),
                p => AuditSink::File(self.resolve(p)),
            },
        };
        let usize_of = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let auth_throttle = self.auth_throttle(&raw)?;
        let ssh = self.ssh_server(&raw)?;
        let fleet = self.fleet(&raw)?;
        Ok(ServerConfig {
            listen,
            region,
            tls,
            state_dir,
            audit,
            max_clock_skew: Duration::from_secs(
                self.positive(raw.max_clock_skew_secs, DEFAULT_MAX_CLOCK_SKEW_SECS)?,
            ),
            auth_throttle,
            max_connections: usize_of(self.positive(raw.max_connections, 1024)?),
            max_header_bytes: usize_of(self.positive(raw.max_header_bytes, 64 * 1024)?),
            header_read_timeout: Duration::from_secs(
                self.positive(raw.header_read_timeout_secs, 10)?,
            ),
            body_idle_timeout: Duration::from_secs(self.positive(raw.body_idle_timeout_secs, 60)?),
            shutdown_timeout: Duration::from_secs(self.positive(raw.shutdown_timeout_secs, 30)?),
            http2: raw.http2.is_some_and(|h| h.into_inner()),
            ssh,
            fleet,
        })
    }

    fn file_err(&self, message: &str) -> ConfigError {
        ConfigError::File {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// Loads the policy file `reference` as an identity policy, or as a role
    /// trust policy when `trust`.
    fn policy(
        &mut self,
        reference: &Spanned<String>,
        trust: bool,
    ) -> Result<Arc<Policy>, ConfigError> {
        let path = self.resolve(reference.get_ref());
        let cache_key = (path, trust);
        if let Some(p) = self.policies.get(&cache_key) {
            return Ok(Arc::clone(p));
        }
        let path = &cache_key.0;
        let json = std::fs::read_to_string(path).map_err(|e| {
            self.err(
                reference,
                format!("cannot read policy file {}: {e}", path.display()),
            )
        })?;
        let (line, column) = line_column(self.text, reference.span().start);
        let kind = if trust {
            PolicyKind::Trust
        } else {
            PolicyKind::Identity
        };
        let policy = Policy::parse_as(reference.get_ref(), &json, kind).map_err(|source| {
            ConfigError::Policy {
                path: self.path.clone(),
                line,
                column,
                source,
            }
        })?;
        let policy = Arc::new(policy);
        self.policies.insert(cache_key, Arc::clone(&policy));
        Ok(policy)
    }

    fn policies(&mut self, refs: &[Spanned<String>]) -> Result<Vec<Arc<Policy>>, ConfigError> {
        refs.iter().map(|r| self.policy(r, false)).collect()
    }

    fn tags(&self, at: &Range<usize>, tags: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (k, v) in tags {
            if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
                return Err(self.at(
                    at,
                    format!("tag `{k}`: keys are 1-128 characters, values at most 256"),
                ));
            }
        }
        Ok(())
    }
}

/// IAM names: letters, digits and `+=,.@_-`.
fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
