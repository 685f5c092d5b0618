//! IAM Identity Center (SSO) profiles: `sso_session` naming an
//! `[sso-session NAME]` section (`sso_start_url`, `sso_region`), or the
//! legacy form with `sso_start_url` and `sso_region` in the profile; both
//! with `sso_account_id` and `sso_role_name`.
//!
//! The helper never signs in itself: it reads the token `aws sso login`
//! cached, refreshes it through OIDC when it is about to expire and the
//! cache holds a refresh token (sso-session form only, as in botocore),
//! and trades it for role credentials at the portal. Those are cached on
//! disk like STS credentials, so most `git` commands make no call at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Resolved, Resolver};
use crate::client::aws_config::{Profile, SharedConfig};
use crate::client::sso::{self, CachedToken, SsoClient, TokenFileError};
use crate::client::{CredentialError, Credentials};

/// A token is refreshed when it has less than this left (botocore's
/// window).
const REFRESH_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The SSO settings of one profile.
#[derive(Debug)]
struct SsoSettings {
    /// The `sso-session` name, for the sso-session form.
    session: Option<String>,
    start_url: String,
    region: String,
    account_id: String,
    role_name: String,
}

impl SsoSettings {
    /// What names the token cache file: the session name, else the start
    /// URL.
    fn token_key(&self) -> &str {
        self.session.as_deref().unwrap_or(&self.start_url)
    }
}

/// Whether `p` is an SSO profile.
pub(super) fn is_sso_profile(p: &Profile) -> bool {
    [
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|k| p.get(k).is_some())
}

impl Resolver<'_> {
    /// The role credentials of SSO profile `p`.
    pub(super) fn sso_profile(
        &self,
        shared: &SharedConfig,
        p: &Profile,
    ) -> Result<Resolved, CredentialError> {
        let settings = sso_settings(shared, p)?;
        let portal = self.sso_endpoint(shared, p, "SSO", "sso", || {
            sso::default_portal_endpoint(&settings.region)
        });
        let cache_key = format!(
            "SSO\n{}\n{}\n{}\n{portal}",
            settings.account_id,
            settings.role_name,
            settings.token_key()
        );
        let role = format!("{} in account {}", settings.role_name, settings.account_id);
        if let Some(c) = self.cached(&p.name, &cache_key) {
            return Ok(Resolved {
                credentials: c,
                source: format!("cached SSO credentials of {role}"),
            });
        }
        let token = self.sso_token(shared, p, &settings)?;
        self.debug(|| format!("SSO GetRoleCredentials for {role} at {portal}"));
        let client = SsoClient::new(&portal, self.sso_ca_bundle(p).as_deref())?;
        let creds: Credentials = client
            .get_role_credentials(&token, &settings.account_id, &settings.role_name)
            .map_err(|e| {
                if e.is_unauthorized() {
                    sign_in_again(p, &format!("the portal refused the SSO token ({e})"))
                } else {
                    e.into()
                }
            })?;
        self.remember(&p.name, &cache_key, &creds);
        Ok(Resolved {
            credentials: creds,
            source: format!("SSO GetRoleCredentials of {role}"),
        })
    }

    /// The cached token, refreshed first when it is close to expiry and
    /// can be.
    fn sso_token(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        settings: &SsoSettings,
    ) -> Result<CachedToken, CredentialError> {
        let dir = self
            .sso_cache_dir()
            .ok_or_else(|| CredentialError::Profile {
                profile: p.name.clone(),
                message: "no home directory for ~/.aws/sso/cache".into(),
            })?;
        let path = sso::token_file(&dir, settings.token_key());
        let token = match CachedToken::load(&path) {
            Ok(t) => t,
            Err(TokenFileError::Missing) => {
                return Err(sign_in_again(
                    p,
                    &format!("no cached SSO token ({} does not exist)", path.display()),
                ));
            }
            Err(e) => return Err(sign_in_again(p, &e.to_string())),
        };
        let token = if settings.session.is_some() && token.expires_at < self.now + REFRESH_WINDOW {
            self.refresh_sso_token(shared, p, settings, &path, token)
        } else {
            token
        };
        if token.expires_at <= self.now {
            return Err(sign_in_again(
                p,
                &format!(
                    "the SSO token expired at {}",
                    crate::shared::timestamp::utc_seconds(token.expires_at)
                ),
            ));
        }
        Ok(token)
    }

    /// `token` refreshed through OIDC `CreateToken` and written back to
    /// `path`, or `token` itself when it cannot be (no refresh token, an
    /// expired registration, a refusal): the caller then uses it while it
    /// is valid, as botocore does.
    fn refresh_sso_token(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        settings: &SsoSettings,
        path: &Path,
        token: CachedToken,
    ) -> CachedToken {
        let Some(grant) = token.refresh_grant() else {
            self.debug(|| "SSO token has no refresh token; not refreshing".into());
            return token;
        };
        if grant.registration_expires_at <= self.now {
            self.debug(|| "SSO client registration expired; not refreshing".into());
            return token;
        }
        let oidc = self.sso_endpoint(shared, p, "SSO_OIDC", "sso_oidc", || {
            sso::default_oidc_endpoint(&settings.region)
        });
        self.debug(|| format!("refreshing the SSO token at {oidc}"));
        let fresh = SsoClient::new(&oidc, self.sso_ca_bundle(p).as_deref())
            .and_then(|client| client.refresh(&grant));
        match fresh {
            Ok(new) => {
                let refreshed =
                    token.refreshed(&new, &settings.start_url, &settings.region, self.now);
                if let Err(e) = refreshed.store(path) {
                    // The token works for this call; the next one refreshes again.
                    self.debug(|| format!("cannot write {}: {}", path.display(), e.kind()));
                }
                refreshed
            }
            Err(e) => {
                self.debug(|| format!("SSO token refresh failed: {e}"));
                token
            }
        }
    }

    /// `~/.aws/sso/cache`, where the AWS CLI keeps SSO tokens.
    fn sso_cache_dir(&self) -> Option<PathBuf> {
        self.env
            .home()
            .map(|h| h.join(".aws").join("sso").join("cache"))
    }

    /// The endpoint of `service` (`AWS_ENDPOINT_URL_{env_suffix}`, the
    /// profile's `services` section entry `section_key`), else `default`.
    fn sso_endpoint(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        env_suffix: &str,
        section_key: &str,
        default: impl FnOnce() -> String,
    ) -> String {
        let ignore = self
            .env
            .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || p.get("ignore_configured_endpoint_urls")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let configured = if ignore {
            None
        } else {
            self.env
                .get(&format!("AWS_ENDPOINT_URL_{env_suffix}"))
                .or_else(|| shared.service_endpoint(p, section_key))
        };
        configured.map(str::to_owned).unwrap_or_else(default)
    }

    fn sso_ca_bundle(&self, p: &Profile) -> Option<PathBuf> {
        self.env
            .get("AWS_CA_BUNDLE")
            .or_else(|| p.get("ca_bundle"))
            .map(|b| self.env.expand_home(b))
    }
}

/// The one-line error that tells to sign in again.
fn sign_in_again(p: &Profile, why: &str) -> CredentialError {
    CredentialError::Profile {
        profile: p.name.clone(),
        message: format!("{why}: run `aws sso login --profile {}`", p.name),
    }
}

fn sso_settings(shared: &SharedConfig, p: &Profile) -> Result<SsoSettings, CredentialError> {
    let perr = |message: String| CredentialError::Profile {
        profile: p.name.clone(),
        message,
    };
    let need = |key: &str| {
        p.get(key)
            .map(str::to_owned)
            .ok_or_else(|| perr(format!("is an SSO profile but has no {key}")))
    };
    let (session, start_url, region) = match p.get("sso_session") {
        Some(name) => {
            let s = shared.sso_session(name).ok_or_else(|| {
                perr(format!(
                    "sso_session = {name}, but the config file has no [sso-session {name}] section"
                ))
            })?;
            let from_session = |key: &str| {
                s.get(key)
                    .map(str::to_owned)
                    .ok_or_else(|| perr(format!("[sso-session {name}] has no {key}")))
            };
            let start_url = from_session("sso_start_url")?;
            let region = from_session("sso_region")?;
            // As botocore: settings repeated in the profile must agree.
            for (key, value) in [("sso_start_url", &start_url), ("sso_region", &region)] {
                if p.get(key).is_some_and(|v| v != value) {
                    return Err(perr(format!(
                        "{key} differs from the one in [sso-session {name}]: remove it from the profile"
                    )));
                }
            }
            (Some(name.to_owned()), start_url, region)
        }
        None => (None, need("sso_start_url")?, need("sso_region")?),
    };
    Ok(SsoSettings {
        session,
        start_url,
        region,
        account_id: need("sso_account_id")?,
        role_name: need("sso_role_name")?,
    })
}
