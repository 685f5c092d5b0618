//! STS settings as written in `gitiam.toml` (the `[sts]` table and each
//! account's `[[accounts.oidc_providers]]`), and their validated forms.
//!
//! Two layers, as elsewhere in gitiam: the raw serde types reject unknown
//! fields so a typo is an error rather than a silently ignored setting; the
//! validated types resolve paths, derive the provider ARN and the condition
//! key prefix AWS uses (`token.actions.githubusercontent.com:sub`), and load
//! static JWKS files up front so a broken file fails the (re)load instead of
//! the first CI job.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

/// Default lifetime of credentials issued without `DurationSeconds`.
pub const DEFAULT_DURATION_SECS: u32 = 3600;
/// AWS's floor for `DurationSeconds`.
pub const MIN_DURATION_SECS: u32 = 900;
/// AWS's ceiling for a role's `max_session_duration` (12 hours).
pub const MAX_DURATION_SECS: u32 = 43_200;
/// File name of the generated key set under the state directory.
pub const DEFAULT_KEY_FILE: &str = "sts-keys.json";
/// A JWKS document larger than this is refused (files and URLs alike).
pub const MAX_JWKS_BYTES: u64 = 256 * 1024;
/// How long keys fetched from a `jwks_url` are reused before refetching.
pub const JWKS_URL_TTL: Duration = Duration::from_secs(300);

/// The `[sts]` table, as written. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsConfig {
    /// Key set file (JSON, mode 0600) holding the session-token signing keys.
    /// Relative to the config file's folder; default `STATE_DIR/sts-keys.json`,
    /// generated on first start. Replicas that must accept each other's
    /// credentials point at copies of the same file.
    pub signing_keys: Option<PathBuf>,
    /// Lifetime of credentials when the request has no `DurationSeconds`
    /// (default 3600; capped by each role's `max_session_duration`).
    pub default_duration_secs: Option<u32>,
    /// Clock skew tolerated on web identity tokens' `exp`/`nbf` (default 60).
    pub web_identity_leeway_secs: Option<u64>,
}

/// The validated `[sts]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsSettings {
    /// Absolute (or config-relative resolved) path of the key set file.
    pub signing_keys: PathBuf,
    pub default_duration: Duration,
    pub web_identity_leeway: Duration,
}

/// An STS configuration problem; the config loader adds file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StsConfigError {
    #[error(
        "sts.default_duration_secs must be between {MIN_DURATION_SECS} and {MAX_DURATION_SECS}, got {0}"
    )]
    Duration(u32),
    #[error("sts.web_identity_leeway_secs must be at most 600, got {0}")]
    Leeway(u64),
    #[error("oidc provider url {url:?}: {reason}")]
    ProviderUrl { url: String, reason: &'static str },
    #[error("oidc provider {url}: client_ids must list at least one audience")]
    NoClientIds { url: String },
    #[error("oidc provider {url}: client id {id:?} must be 1-255 printable characters")]
    ClientId { url: String, id: String },
    #[error("oidc provider {url}: set exactly one of jwks_file or jwks_url")]
    JwksSource { url: String },
    #[error(
        "oidc provider {url}: jwks_url must be an https:// URL (http:// only for 127.0.0.1/localhost)"
    )]
    JwksUrl { url: String },
    #[error("oidc provider {url}: cannot read jwks_file {path}: {reason}")]
    JwksFile {
        url: String,
        path: PathBuf,
        reason: String,
    },
    #[error("oidc provider {url}: duplicate provider for the same issuer in this account")]
    Duplicate { url: String },
}

impl StsConfig {
    /// Resolves paths (`base_dir` = the config file's folder; `state_dir` is
    /// already resolved) and checks ranges.
    pub fn validate(
        &self,
        base_dir: &Path,
        state_dir: &Path,
    ) -> Result<StsSettings, StsConfigError> {
        let signing_keys = match &self.signing_keys {
            Some(p) => base_dir.join(p),
            None => state_dir.join(DEFAULT_KEY_FILE),
        };
        let secs = self.default_duration_secs.unwrap_or(DEFAULT_DURATION_SECS);
        if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&secs) {
            return Err(StsConfigError::Duration(secs));
        }
        let leeway = self.web_identity_leeway_secs.unwrap_or(60);
        if leeway > 600 {
            return Err(StsConfigError::Leeway(leeway));
        }
        Ok(StsSettings {
            signing_keys,
            default_duration: Duration::from_secs(u64::from(secs)),
            web_identity_leeway: Duration::from_secs(leeway),
        })
    }
}

/// One `[[accounts.oidc_providers]]` entry, as written.
///
/// ```toml
/// [[accounts.oidc_providers]]
/// url = "https://token.actions.githubusercontent.com"
/// client_ids = ["sts.amazonaws.com"]
/// jwks_file = "oidc/github-jwks.json"      # or jwks_url = "https://.../jwks"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer URL exactly as tokens carry it in `iss`.
    pub url: String,
    /// Accepted `aud` values (AWS calls them client IDs / audiences).
    #[serde(alias = "audiences")]
    pub client_ids: Vec<String>,
    /// JWKS document on disk (relative to the config file's folder).
    pub jwks_file: Option<PathBuf>,
    /// JWKS document fetched over HTTPS and cached for five minutes.
    pub jwks_url: Option<String>,
}

/// A validated OIDC identity provider of one account.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    /// The issuer as configured (trailing `/` removed), compared with `iss`.
    pub issuer: String,
    /// The issuer without its scheme: `token.actions.githubusercontent.com`.
    /// It names the provider in its ARN and prefixes the condition keys
    /// (`HOST:sub`, `HOST:aud`, `HOST:amr`).
    pub host: String,
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST`, the trust policy's
    /// `Federated` principal.
    pub arn: String,
    pub account: String,
    pub client_ids: Vec<String>,
    pub jwks: JwksSource,
}

/// Where a provider's verification keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Loaded from `jwks_file` at config load; reload picks up changes.
    Static(Arc<JwkSet>),
    /// Fetched from `jwks_url` on demand and cached for [`JWKS_URL_TTL`]
    /// (process-wide, so a configuration reload does not refetch).
    Url { url: String },
}

impl OidcProvider {
    /// True when `iss` names this provider (a trailing `/` is ignored, as
    /// issuers are not consistent about it).
    pub fn matches_issuer(&self, iss: &str) -> bool {
        iss.trim_end_matches('/') == self.issuer
    }
}

impl OidcProviderConfig {
    /// Validates one provider of `account`; `base_dir` is the config file's
    /// folder. A `jwks_file` is read and parsed now.
    pub fn validate(&self, account: &str, base_dir: &Path) -> Result<OidcProvider, StsConfigError> {
        let url = self.url.trim_end_matches('/').to_owned();
        let host = match url.strip_prefix("https://") {
            Some(rest) => rest.to_owned(),
            None => {
                return Err(StsConfigError::ProviderUrl {
                    url: self.url.clone(),
                    reason: "must start with https://",
                });
            }
        };
        if host.is_empty()
            || host.starts_with('/')
            || host.contains(['?', '#', ' ', '@'])
            || !host.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(StsConfigError::ProviderUrl {
                url: self.url.clone(),
                reason: "must be https://HOST[/PATH] without query, fragment or user info",
            });
        }
        if self.client_ids.is_empty() {
            return Err(StsConfigError::NoClientIds { url });
        }
        for id in &self.client_ids {
            if id.is_empty() || id.len() > 255 || !id.chars().all(|c| !c.is_control()) {
                return Err(StsConfigError::ClientId {
                    url,
                    id: id.clone(),
                });
            }
        }
        let jwks = match (&self.jwks_file, &self.jwks_url) {
            (Some(file), None) => {
                let path = base_dir.join(file);
                let set = read_jwks_file(&path).map_err(|reason| StsConfigError::JwksFile {
                    url: url.clone(),
                    path: path.clone(),
                    reason,
                })?;
                JwksSource::Static(Arc::new(set))
            }
            (None, Some(jwks_url)) => {
                let local = jwks_url.starts_with("http://127.0.0.1")
                    || jwks_url.starts_with("http://localhost")
                    || jwks_url.starts_with("http://[::1]");
                if !jwks_url.starts_with("https://") && !local {
                    return Err(StsConfigError::JwksUrl { url });
                }
                JwksSource::Url {
                    url: jwks_url.clone(),
                }
            }
            _ => return Err(StsConfigError::JwksSource { url }),
        };
        Ok(OidcProvider {
            arn: format!("arn:aws:iam::{account}:oidc-provider/{host}"),
            issuer: url,
            host,
            account: account.to_owned(),
            client_ids: self.client_ids.clone(),
            jwks,
        })
    }
}

/// Validates all providers of one account and rejects two for one issuer
/// (AWS allows one provider per URL per account).
pub fn validate_providers(
    configs: &[OidcProviderConfig],
    account: &str,
    base_dir: &Path,
) -> Result<Vec<OidcProvider>, StsConfigError> {
    let mut out: Vec<OidcProvider> = Vec::with_capacity(configs.len());
    for config in configs {
        let provider = config.validate(account, base_dir)?;
        if out.iter().any(|p| p.issuer == provider.issuer) {
            return Err(StsConfigError::Duplicate {
                url: provider.issuer,
            });
        }
        out.push(provider);
    }
    Ok(out)
}

/// Parses a JWKS document, refusing oversized input.
pub fn parse_jwks(bytes: &[u8]) -> Result<JwkSet, String> {
    if bytes.len() as u64 > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))
}

fn read_jwks_file(path: &Path) -> Result<JwkSet, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_JWKS_BYTES {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    parse_jwks(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(toml_text: &str) -> Result<OidcProviderConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn sts_defaults_resolve_under_state_dir() {
        let cfg: StsConfig = toml::from_str("").unwrap();
        let s = cfg
            .validate(Path::new("/etc/gitiam"), Path::new("/var/lib/gitiam"))
            .unwrap();
        assert_eq!(
            s.signing_keys,
            PathBuf::from("/var/lib/gitiam/sts-keys.json")
        );
        assert_eq!(s.default_duration, Duration::from_secs(3600));
    }

    #[test]
    fn sts_rejects_unknown_fields_and_bad_duration() {
        assert!(toml::from_str::<StsConfig>("signing_key = 'x'").is_err());
        let cfg: StsConfig = toml::from_str("default_duration_secs = 60").unwrap();
        assert_eq!(
            cfg.validate(Path::new("."), Path::new(".")),
            Err(StsConfigError::Duration(60))
        );
        let cfg: StsConfig = toml::from_str("signing_keys = 'keys.json'").unwrap();
        let s = cfg
            .validate(Path::new("/etc/gitiam"), Path::new("/state"))
            .unwrap();
        assert_eq!(s.signing_keys, PathBuf::from("/etc/gitiam/keys.json"));
    }

    #[test]
    fn provider_arn_and_host_follow_aws() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jwks.json"), r#"{"keys":[]}"#).unwrap();
        let cfg = provider(
            "url = 'https://token.actions.githubusercontent.com/'\nclient_ids = ['sts.amazonaws.com']\njwks_file = 'jwks.json'",
        )
        .unwrap();
        let p = cfg.validate("111122223333", dir.path()).unwrap();
        assert_eq!(p.host, "token.actions.githubusercontent.com");
        assert_eq!(
            p.arn,
            "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
        );
        assert!(p.matches_issuer("https://token.actions.githubusercontent.com"));
        assert!(!p.matches_issuer("https://token.actions.githubusercontent.com.evil"));
    }

    #[test]
    fn provider_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad_scheme =
            provider("url = 'http://x'\nclient_ids = ['a']\njwks_url = 'https://x/j'").unwrap();
        assert!(matches!(
            bad_scheme.validate("1", dir.path()),
            Err(StsConfigError::ProviderUrl { .. })
        ));
        let both = provider(
            "url = 'https://x'\nclient_ids = ['a']\njwks_url = 'https://x/j'\njwks_file = 'f'",
        )
        .unwrap();
        assert!(matches!(
            both.validate("1", dir.path()),
            Err(StsConfigError::JwksSource { .. })
        ));
        let none =
            provider("url = 'https://x'\nclient_ids = []\njwks_url = 'https://x/j'").unwrap();
        assert!(matches!(
            none.validate("1", dir.path()),
            Err(StsConfigError::NoClientIds { .. })
        ));
        let missing =
            provider("url = 'https://x'\nclient_ids = ['a']\njwks_file = 'nope.json'").unwrap();
        assert!(matches!(
            missing.validate("1", dir.path()),
            Err(StsConfigError::JwksFile { .. })
        ));
        assert!(provider("url = 'https://x'\nclient_ids = ['a']\nthumbprints = []").is_err());
        let dup =
            provider("url = 'https://x'\naudiences = ['a']\njwks_url = 'https://x/j'").unwrap();
        assert!(matches!(
            validate_providers(&[dup.clone(), dup], "1", dir.path()),
            Err(StsConfigError::Duplicate { .. })
        ));
    }
}
