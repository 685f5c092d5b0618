//! The serde layer of `gitiam.toml`: exactly what the file says, with the
//! spans needed to point at a line and column. Nothing here is checked
//! beyond TOML types; [`super::load`] validates it into the model.
//!
//! Every table denies unknown fields so that a typo (`polices = [...]`) is an
//! error at its line instead of a silently ignored permission.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub backend: RawBackend,
    #[serde(default)]
    pub sts: Option<Spanned<crate::shared::config::sts::StsConfig>>,
    #[serde(default)]
    pub accounts: Vec<Spanned<RawAccount>>,
    #[serde(default)]
    pub webhooks: Vec<Spanned<crate::shared::config::webhooks::RawWebhook>>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub state_dir: Option<Spanned<String>>,
    pub audit: Option<Spanned<String>>,
    pub max_clock_skew_secs: Option<Spanned<u64>>,
    pub auth_failures_per_minute: Option<Spanned<u64>>,
    pub auth_failure_burst: Option<Spanned<u64>>,
    pub auth_block_secs: Option<Spanned<u64>>,
    pub auth_ipv6_prefix_len: Option<Spanned<u64>>,
    pub auth_max_sources: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<u64>>,
    pub max_header_bytes: Option<Spanned<u64>>,
    pub header_read_timeout_secs: Option<Spanned<u64>>,
    pub body_idle_timeout_secs: Option<Spanned<u64>>,
    pub shutdown_timeout_secs: Option<Spanned<u64>>,
    pub http2: Option<Spanned<bool>>,
    pub ssh_listen: Option<Spanned<String>>,
    pub ssh_host_keys: Option<Vec<Spanned<String>>>,
    // Behind a load balancer (config/fleet.rs).
    pub proxy_protocol: Option<Spanned<String>>,
    pub trusted_proxies: Option<Vec<Spanned<String>>>,
    pub health_listen: Option<Spanned<String>>,
}

/// `[backend]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub repos: Option<Spanned<String>>,
    pub git: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
    pub upstream_auth_header: Option<Spanned<RawHeader>>,
    pub upstream_ca: Option<Spanned<String>>,
    pub response_timeout_secs: Option<Spanned<u64>>,
}

/// `upstream_auth_header = { name = "Authorization", value_env = "VAR" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    pub name: String,
    pub value: Option<String>,
    pub value_env: Option<String>,
}

impl std::fmt::Debug for RawHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHeader")
            .field("name", &self.name)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .field("value_env", &self.value_env)
            .finish()
    }
}

/// `[[accounts]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub id: Spanned<String>,
    #[serde(default)]
    pub users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    pub groups: Vec<Spanned<RawGroup>>,
    #[serde(default)]
    pub roles: Vec<Spanned<RawRole>>,
    #[serde(default)]
    pub oidc_providers: Vec<Spanned<crate::shared::config::sts::OidcProviderConfig>>,
    #[serde(default)]
    pub ssh_certificate_authorities: Vec<Spanned<RawSshCa>>,
}

/// `[[accounts.users]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: Spanned<String>,
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub access_keys: Vec<Spanned<RawAccessKey>>,
    #[serde(default)]
    pub ssh_keys: Vec<Spanned<RawSshKey>>,
    #[serde(default)]
    pub git_credentials: Vec<Spanned<RawGitCredential>>,
}

/// One entry of `access_keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessKey {
    pub id: Spanned<String>,
    pub secret: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
    pub status: Option<Spanned<String>>,
    /// RFC 3339 UTC, written by `gitiam iam create-access-key`.
    pub created: Option<Spanned<String>>,
}

impl std::fmt::Debug for RawAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAccessKey")
            .field("id", self.id.get_ref())
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env.as_ref().map(|s| s.get_ref()))
            .field("status", &self.status.as_ref().map(|s| s.get_ref()))
            .field("created", &self.created.as_ref().map(|s| s.get_ref()))
            .finish()
    }
}

/// One entry of a user's `git_credentials` (HTTPS Git credentials, see
/// [`super::git_credential`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGitCredential {
    pub id: Spanned<String>,
    pub password_hash: Spanned<String>,
    pub status: Option<Spanned<String>>,
    pub created: Option<Spanned<String>>,
}

impl std::fmt::Debug for RawGitCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawGitCredential")
            .field("id", self.id.get_ref())
            .field("password_hash", &"<redacted>")
            .field("status", &self.status.as_ref().map(|s| s.get_ref()))
            .field("created", &self.created.as_ref().map(|s| s.get_ref()))
            .finish()
    }
}

/// `[[accounts.groups]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: Spanned<String>,
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
}

/// `[[accounts.roles]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub name: Spanned<String>,
    pub trust_policy: Spanned<String>,
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    pub max_session_duration: Option<Spanned<u64>>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One entry of a user's `ssh_keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSshKey {
    pub id: Spanned<String>,
    pub public_key: Spanned<String>,
    pub status: Option<Spanned<String>>,
    /// RFC 3339 UTC, written by `gitiam iam upload-ssh-public-key`.
    pub uploaded: Option<Spanned<String>>,
}

/// One `[[accounts.ssh_certificate_authorities]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSshCa {
    pub name: Spanned<String>,
    pub public_key: Spanned<String>,
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
}
