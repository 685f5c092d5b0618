//! Profiles that assume a role: `role_arn` with `source_profile` or
//! `credential_source`, and web identity (`web_identity_token_file`, or
//! `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`): where STS is, the call,
//! and the on-disk cache of the temporary credentials it returns.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use super::{Resolved, Resolver};
use crate::client::aws_config::{Profile, SharedConfig};
use crate::client::sts_client::{self, AssumeRoleParams, StsClient, WebIdentityParams};
use crate::client::{CredentialError, Credentials};

impl Resolver<'_> {
    /// The credentials of profile `p`, which has `role_arn`; `chain` holds
    /// the profiles already visited through `source_profile`.
    pub(super) fn assume_role_profile(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        role_arn: &str,
        chain: &mut Vec<String>,
    ) -> Result<Option<Resolved>, CredentialError> {
        let perr = |message: String| CredentialError::Profile {
            profile: p.name.clone(),
            message,
        };
        if p.get("mfa_serial").is_some() {
            return Err(perr("mfa_serial needs an MFA code, which a git credential helper cannot ask for; use a profile without mfa_serial".into()));
        }
        if let Some(token_file) = p.get("web_identity_token_file") {
            let token_file = self.env.expand_home(token_file);
            return self
                .web_identity(shared, p, role_arn, &token_file)
                .map(Some);
        }
        let duration = match p.get("duration_seconds") {
            Some(d) => Some(
                d.parse::<u32>()
                    .map_err(|_| perr("duration_seconds is not a number".into()))?,
            ),
            None => None,
        };
        let params = AssumeRoleParams {
            role_arn: role_arn.to_owned(),
            role_session_name: p
                .get("role_session_name")
                .map(str::to_owned)
                .unwrap_or_else(|| self.generated_session_name()),
            duration_seconds: duration,
            external_id: p.get("external_id").map(str::to_owned),
        };
        let client_settings = self.sts_settings(shared, p)?;
        let cache_key = format!(
            "AssumeRole\n{role_arn}\n{}\n{}\n{duration:?}\n{}",
            p.get("role_session_name").unwrap_or(""),
            params.external_id.as_deref().unwrap_or(""),
            client_settings.endpoint
        );
        if let Some(c) = self.cached(&p.name, &cache_key) {
            return Ok(Some(Resolved {
                credentials: c,
                source: format!("cached AssumeRole of {role_arn}"),
            }));
        }
        let source = self.role_source(shared, p, chain)?;
        self.debug(|| {
            format!(
                "AssumeRole {role_arn} at {} (region {})",
                client_settings.endpoint, client_settings.region
            )
        });
        let client = client_settings.client()?;
        let creds = client.assume_role(&source, &params)?;
        self.remember(&p.name, &cache_key, &creds);
        Ok(Some(Resolved {
            credentials: creds,
            source: format!("AssumeRole of {role_arn}"),
        }))
    }

    /// The credentials that call AssumeRole for profile `p`: its
    /// `source_profile`'s (followed through `chain`) or, with
    /// `credential_source = Environment`, the environment's.
    fn role_source(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        chain: &mut Vec<String>,
    ) -> Result<Credentials, CredentialError> {
        let perr = |message: String| CredentialError::Profile {
            profile: p.name.clone(),
            message,
        };
        let source = if let Some(src) = p.get("source_profile") {
            if src == p.name {
                self.static_keys(p).ok_or_else(|| perr("source_profile is the profile itself but it has no aws_access_key_id / aws_secret_access_key".into()))?
            } else {
                let sp = shared
                    .profile(src)
                    .ok_or_else(|| perr(format!("source_profile `{src}` does not exist")))?;
                let r = self
                    .resolve_profile(shared, sp, chain)?
                    .ok_or_else(|| perr(format!("source_profile `{src}` has no credentials")))?;
                r.credentials
            }
        } else if let Some(cs) = p.get("credential_source") {
            match cs {
                "Environment" => self
                    .env_static()?
                    .ok_or_else(|| perr("credential_source = Environment but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set".into()))?,
                other => return Err(perr(format!("credential_source = {other} is not supported (only Environment)"))),
            }
        } else {
            return Err(perr(
                "role_arn needs source_profile, credential_source or web_identity_token_file"
                    .into(),
            ));
        };
        Ok(source)
    }

    fn generated_session_name(&self) -> String {
        format!(
            "gitiam-{}",
            self.now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        )
    }

    pub(super) fn cached(&self, profile: &str, key: &str) -> Option<Credentials> {
        let c = self.cache.as_ref()?.load(profile, key, self.now)?;
        self.debug(|| format!("using cached temporary credentials for profile `{profile}`"));
        Some(c)
    }

    pub(super) fn remember(&self, profile: &str, key: &str, creds: &Credentials) {
        if let Some(cache) = &self.cache
            && let Err(e) = cache.store(profile, key, creds)
        {
            // Not fatal: the credentials work, they just are not reused.
            self.debug(|| {
                format!(
                    "cannot cache credentials in {}: {}",
                    cache.dir().display(),
                    e.kind()
                )
            });
        }
    }

    fn web_identity(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        role_arn: &str,
        token_file: &std::path::Path,
    ) -> Result<Resolved, CredentialError> {
        let session_name = p
            .get("role_session_name")
            .or_else(|| self.env.get("AWS_ROLE_SESSION_NAME"))
            .map(str::to_owned);
        let settings = self.sts_settings(shared, p)?;
        let cache_key = format!(
            "AssumeRoleWithWebIdentity\n{role_arn}\n{}\n{}\n{}",
            session_name.as_deref().unwrap_or(""),
            token_file.display(),
            settings.endpoint
        );
        if let Some(c) = self.cached(&p.name, &cache_key) {
            return Ok(Resolved {
                credentials: c,
                source: format!("cached AssumeRoleWithWebIdentity of {role_arn}"),
            });
        }
        let token = std::fs::read_to_string(token_file).map_err(|e| CredentialError::Profile {
            profile: p.name.clone(),
            message: format!(
                "cannot read web identity token file {}: {}",
                token_file.display(),
                e.kind()
            ),
        })?;
        let duration = p.get("duration_seconds").and_then(|d| d.parse().ok());
        let params = WebIdentityParams {
            role_arn: role_arn.to_owned(),
            role_session_name: session_name.unwrap_or_else(|| self.generated_session_name()),
            duration_seconds: duration,
            web_identity_token: token.trim().to_owned(),
        };
        self.debug(|| {
            format!(
                "AssumeRoleWithWebIdentity {role_arn} at {}",
                settings.endpoint
            )
        });
        let creds = settings.client()?.assume_role_with_web_identity(&params)?;
        self.remember(&p.name, &cache_key, &creds);
        Ok(Resolved {
            credentials: creds,
            source: format!("AssumeRoleWithWebIdentity of {role_arn}"),
        })
    }

    pub(super) fn env_web_identity(&self) -> Result<Option<Resolved>, CredentialError> {
        let (Some(role_arn), Some(token_file)) = (
            self.env.get("AWS_ROLE_ARN"),
            self.env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
        ) else {
            return Ok(None);
        };
        let shared = self.shared()?;
        let (name, _) = self.profile_name();
        let empty = Profile::empty(&name);
        let p = shared.profile(&name).unwrap_or(&empty);
        let token_file = self.env.expand_home(token_file);
        self.web_identity(shared, p, role_arn, &token_file)
            .map(Some)
    }

    /// Where and how to call STS for profile `p`: endpoint from
    /// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the profile's `services`
    /// section, the profile's `endpoint_url`, else AWS's regional endpoint;
    /// CA bundle from `AWS_CA_BUNDLE` or the profile's `ca_bundle`.
    pub(super) fn sts_settings(
        &self,
        shared: &SharedConfig,
        p: &Profile,
    ) -> Result<StsSettings, CredentialError> {
        let region = match self.configured_region()? {
            Some(r) => r,
            None => p.get("region").unwrap_or("us-east-1").to_owned(),
        };
        let ignore_configured = self
            .env
            .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || p.get("ignore_configured_endpoint_urls")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let configured = if ignore_configured {
            None
        } else {
            self.env
                .get("AWS_ENDPOINT_URL_STS")
                .or_else(|| self.env.get("AWS_ENDPOINT_URL"))
                .or_else(|| shared.service_endpoint(p, "sts"))
                .or_else(|| p.get("endpoint_url"))
                .map(str::to_owned)
        };
        let endpoint = configured.unwrap_or_else(|| sts_client::default_endpoint(&region));
        let ca_bundle = self
            .env
            .get("AWS_CA_BUNDLE")
            .or_else(|| p.get("ca_bundle"))
            .map(|b| self.env.expand_home(b));
        Ok(StsSettings {
            endpoint,
            region,
            ca_bundle,
        })
    }
}

/// Where and how to call STS.
pub(super) struct StsSettings {
    pub(super) endpoint: String,
    pub(super) region: String,
    pub(super) ca_bundle: Option<PathBuf>,
}

impl StsSettings {
    fn client(&self) -> Result<StsClient, CredentialError> {
        Ok(StsClient::new(
            &self.endpoint,
            &self.region,
            self.ca_bundle.as_deref(),
        )?)
    }
}
