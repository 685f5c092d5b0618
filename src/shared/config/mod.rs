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

pub use directory::{Account, Directory, Role, User};
pub use secret::Secret;

use directory::AccessKey;
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

/// `[backend]`, with defaults applied.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Where requests go.
    pub target: BackendTarget,
    /// Longest wait for the backend's response head (then `504`).
    pub response_timeout: Duration,
}

/// The Git server behind the proxy.
#[derive(Debug, Clone)]
pub enum BackendTarget {
    /// `git http-backend` run by gitiam on `REPOS/ACCOUNT_ID/NAME.git`.
    Embedded {
        /// Root of the repositories.
        repos: PathBuf,
        /// The `git` program (`git` from `PATH` unless configured).
        git: PathBuf,
    },
    /// Any smart-HTTP Git server.
    Upstream {
        /// URL template with `{account}` and `{repo}` placeholders.
        url: String,
        /// Header presented to the upstream on every request.
        auth_header: Option<UpstreamHeader>,
        /// Extra CA certificates (PEM) trusted for an `https` upstream.
        ca: Option<PathBuf>,
    },
}

/// A header gitiam adds to upstream requests (credentials of gitiam itself).
#[derive(Debug, Clone)]
pub struct UpstreamHeader {
    /// Header name.
    pub name: http::HeaderName,
    /// Header value, never logged.
    pub value: Secret,
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
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Absolute, so that paths in logs and the generated certificate's
    // location do not depend on the working directory.
    let base = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    load_str(path, &base, &text)
}

/// Validates `text` as the configuration file `path`, resolving relative paths
/// from `base`.
pub fn load_str(path: &Path, base: &Path, text: &str) -> Result<Config, ConfigError> {
    let loader = Loader {
        path: path.display().to_string(),
        base: base.to_path_buf(),
        text,
        policies: HashMap::new(),
        jwks_files: Vec::new(),
    };
    loader.run(path)
}

struct Loader<'a> {
    path: String,
    base: PathBuf,
    text: &'a str,
    /// Policies by resolved path: a file used by many users is parsed once
    /// and shared.
    policies: HashMap<(PathBuf, bool), Arc<Policy>>,
    /// OIDC providers' `jwks_file`s, watched like policy files.
    jwks_files: Vec<PathBuf>,
}

impl Loader<'_> {
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
        let webhooks = webhooks::validate(&raw.webhooks, &self.base)
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

    fn backend(&self, raw: raw::RawBackend) -> Result<BackendConfig, ConfigError> {
        let response_timeout = Duration::from_secs(self.positive(raw.response_timeout_secs, 120)?);
        let target = match (raw.repos, raw.upstream) {
            (Some(repos), Some(_)) => {
                return Err(self.err(
                    &repos,
                    "set either backend.repos or backend.upstream, not both",
                ));
            }
            (repos, None) => {
                for (name, field) in [
                    (
                        "upstream_auth_header",
                        raw.upstream_auth_header.as_ref().map(|s| s.span()),
                    ),
                    ("upstream_ca", raw.upstream_ca.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = field {
                        return Err(self.at(&span, format!("{name} needs backend.upstream")));
                    }
                }
                let git = match raw.git {
                    None => PathBuf::from("git"),
                    Some(g) if g.get_ref().contains('/') => self.resolve(g.get_ref()),
                    Some(g) => PathBuf::from(g.into_inner()),
                };
                BackendTarget::Embedded {
                    repos: self.resolve(repos.as_ref().map_or("repos", |s| s.get_ref().as_str())),
                    git,
                }
            }
            (None, Some(url)) => {
                if let Some(g) = &raw.git {
                    return Err(self.err(
                        g,
                        "backend.git applies to the embedded backend, not to upstream",
                    ));
                }
                let u = url.get_ref();
                let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
                let sample = u
                    .replace("{repo}", "r")
                    .replace("{account}", "111122223333");
                if !scheme_ok || !u.contains("{repo}") || sample.parse::<http::Uri>().is_err() {
                    return Err(self.err(&url, "upstream: expected an http:// or https:// URL template containing {repo} (and optionally {account})"));
                }
                let auth_header = match raw.upstream_auth_header {
                    None => None,
                    Some(h) => Some(self.upstream_header(&h)?),
                };
                let ca = match raw.upstream_ca {
                    None => None,
                    Some(ca) => {
                        if !u.starts_with("https://") {
                            return Err(self.err(&ca, "upstream_ca needs an https:// upstream"));
                        }
                        let p = self.resolve(ca.get_ref());
                        if !p.is_file() {
                            return Err(self
                                .err(&ca, format!("upstream_ca: {} is not a file", p.display())));
                        }
                        Some(p)
                    }
                };
                BackendTarget::Upstream {
                    url: url.into_inner(),
                    auth_header,
                    ca,
                }
            }
        };
        Ok(BackendConfig {
            target,
            response_timeout,
        })
    }

    fn upstream_header(&self, h: &Spanned<raw::RawHeader>) -> Result<UpstreamHeader, ConfigError> {
        let raw = h.get_ref();
        let name = http::HeaderName::from_bytes(raw.name.as_bytes()).map_err(|_| {
            self.err(
                h,
                format!("upstream_auth_header: `{}` is not a header name", raw.name),
            )
        })?;
        let value = match (&raw.value, &raw.value_env) {
            (Some(v), None) => v.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                self.err(
                    h,
                    format!("upstream_auth_header: environment variable {var} is not set"),
                )
            })?,
            _ => {
                return Err(self.err(
                    h,
                    "upstream_auth_header: set exactly one of value and value_env",
                ));
            }
        };
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(self.err(
                h,
                "upstream_auth_header: the value is not a valid header value",
            ));
        }
        Ok(UpstreamHeader {
            name,
            value: Secret::new(value),
        })
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

    fn directory(
        &mut self,
        accounts: Vec<Spanned<raw::RawAccount>>,
    ) -> Result<Directory, ConfigError> {
        let mut dir = Directory::default();
        let mut ssh_seen = ssh::SeenKeys::default();
        let mut git_credential_ids = BTreeSet::new();
        for account in accounts {
            let account = account.into_inner();
            let id = account.id.get_ref().clone();
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(self.err(&account.id, format!("account id `{id}` must be 12 digits")));
            }
            if dir.accounts.contains_key(&id) {
                return Err(self.err(&account.id, format!("account {id} is defined twice")));
            }

            // Groups first: users refer to them.
            let mut groups: BTreeMap<String, Vec<Arc<Policy>>> = BTreeMap::new();
            let mut group_names_ci = BTreeSet::new();
            for group in &account.groups {
                let g = group.get_ref();
                self.check_name(&g.name, "group", 128, &mut group_names_ci, &id)?;
                let name = g.name.get_ref();
                let policies = self.policies(&g.policies)?;
                groups.insert(name.clone(), policies);
            }

            let mut acct = Account {
                id: id.clone(),
                ..Account::default()
            };
            let mut user_names_ci = BTreeSet::new();
            for user in account.users {
                let user_span = user.span();
                let u = user.into_inner();
                self.check_name(&u.name, "user", 64, &mut user_names_ci, &id)?;
                let name = u.name.get_ref().clone();
                self.tags(&user_span, &u.tags)?;
                let mut policies = self.policies(&u.policies)?;
                let mut group_list = Vec::new();
                for g in &u.groups {
                    match groups.get(g.get_ref()) {
                        Some(gp) => {
                            policies.extend(gp.iter().cloned());
                            group_list.push(g.get_ref().clone());
                        }
                        None => {
                            return Err(self.err(
                                g,
                                format!("unknown group `{}` in account {id}", g.get_ref()),
                            ));
                        }
                    }
                }
                let user = Arc::new(User {
                    arn: format!("arn:aws:iam::{id}:user/{name}"),
                    user_id: unique_id("AIDA", "user", &id, &name),
                    account: id.clone(),
                    name: name.clone(),
                    groups: group_list,
                    tags: u.tags,
                    policies,
                });
                for key in &u.access_keys {
                    let (key_id, access_key) = self.access_key(key, &user)?;
                    if dir.keys.contains_key(&key_id) {
                        return Err(self.err(
                            &key.get_ref().id,
                            format!("access key {key_id} is defined twice"),
                        ));
                    }
                    dir.keys.insert(key_id, access_key);
                }
                for key in &u.ssh_keys {
                    self.timestamp(key.get_ref().uploaded.as_ref())?;
                    self.ssh_key(key, &user, &mut dir.ssh_keys, &mut ssh_seen)?;
                }
                self.git_credentials(
                    &u.git_credentials,
                    &user,
                    &mut dir.git_credentials,
                    &mut git_credential_ids,
                )?;
                acct.users.insert(name, user);
            }
            let mut role_names_ci = BTreeSet::new();
            for role in account.roles {
                let role_span = role.span();
                let r = role.into_inner();
                self.check_name(&r.name, "role", 64, &mut role_names_ci, &id)?;
                let name = r.name.get_ref().clone();
                self.tags(&role_span, &r.tags)?;
                let max_session_duration = match &r.max_session_duration {
                    None => ROLE_SESSION_RANGE.0,
                    Some(s) => {
                        let v = *s.get_ref();
                        if !(ROLE_SESSION_RANGE.0..=ROLE_SESSION_RANGE.1).contains(&v) {
                            return Err(self.err(
                                s,
                                "max_session_duration must be between 3600 and 43200 seconds",
                            ));
                        }
                        v
                    }
                };
                let trust_policy = self.policy(&r.trust_policy, true)?;
                let policies = self.policies(&r.policies)?;
                let arn = format!("arn:aws:iam::{id}:role/{name}");
                let role = Arc::new(Role {
                    arn: arn.clone(),
                    role_id: unique_id("AROA", "role", &id, &name),
                    account: id.clone(),
                    name: name.clone(),
                    trust_policy,
                    policies,
                    max_session_duration,
                    tags: r.tags,
                });
                dir.roles_by_arn.insert(arn, Arc::clone(&role));
                acct.roles.insert(name, role);
            }
            for provider in &account.oidc_providers {
                if let Some(file) = &provider.get_ref().jwks_file {
                    self.jwks_files.push(self.base.join(file));
                }
                let validated = provider
                    .get_ref()
                    .validate(&id, &self.base)
                    .map_err(|e| self.err(provider, e.to_string()))?;
                if acct
                    .oidc_providers
                    .iter()
                    .any(|p| p.issuer == validated.issuer)
                {
                    return Err(self.err(
                        provider,
                        format!(
                            "OIDC provider {} is defined twice in account {id}",
                            validated.issuer
                        ),
                    ));
                }
                acct.oidc_providers.push(validated);
            }
            for ca in &account.ssh_certificate_authorities {
                self.ssh_ca(ca, &acct, &mut dir.ssh_cas)?;
            }
            dir.accounts.insert(id, acct);
        }
        Ok(dir)
    }
}

impl Loader<'_> {
    fn access_key(
        &self,
        key: &Spanned<raw::RawAccessKey>,
        user: &Arc<User>,
    ) -> Result<(String, AccessKey), ConfigError> {
        let k = key.get_ref();
        let id = k.id.get_ref();
        self.timestamp(k.created.as_ref())?;
        let id_ok = id.starts_with("AKIA")
            && (16..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !id_ok {
            return Err(self.err(
                &k.id,
                format!("access key id `{id}` must be AKIA followed by uppercase letters and digits (16-128 characters)"),
            ));
        }
        let secret = match (&k.secret, &k.secret_env) {
            (Some(s), None) => s.get_ref().clone(),
            (None, Some(var)) => match std::env::var(var.get_ref()) {
                Ok(v) if !v.is_empty() => v,
                _ => {
                    return Err(self.err(
                        var,
                        format!(
                            "secret_env: environment variable {} is not set",
                            var.get_ref()
                        ),
                    ));
                }
            },
            _ => {
                return Err(self.err(
                    key,
                    format!("access key {id}: set exactly one of secret and secret_env"),
                ));
            }
        };
        // Short secrets are guessable; control characters cannot be typed
        // into an AWS credentials file.
        if secret.len() < 16 || secret.len() > 1024 || secret.chars().any(char::is_control) {
            let at = k.secret.as_ref().map_or_else(|| key.span(), |s| s.span());
            return Err(self.at(
                &at,
                format!("access key {id}: the secret must be 16-1024 characters without control characters"),
            ));
        }
        let active = match k.status.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("Active") => true,
            Some("Inactive") => false,
            Some(other) => {
                let at = k.status.as_ref().map_or_else(|| key.span(), |s| s.span());
                return Err(self.at(
                    &at,
                    format!("status `{other}` must be \"Active\" or \"Inactive\""),
                ));
            }
        };
        Ok((
            id.clone(),
            AccessKey {
                user: Arc::clone(user),
                secret: Secret::new(secret),
                active,
            },
        ))
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
