//! The credential chain, in the order the AWS SDKs use:
//!
//! 1. environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!    `AWS_SESSION_TOKEN` (skipped when `--profile` is given, as in the AWS
//!    CLI: an explicit profile wins over the environment);
//! 2. the profile (`--profile`, `AWS_PROFILE`, `AWS_DEFAULT_PROFILE`,
//!    `default`) from the shared files: `role_arn` with `source_profile`,
//!    `credential_source = Environment` or `web_identity_token_file` (STS
//!    `AssumeRole` / `AssumeRoleWithWebIdentity`, cached on disk), then
//!    static keys, then `credential_process`;
//! 3. `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` from the environment
//!    (CI jobs).
//!
//! Shared files are read only when the environment does not already answer,
//! and TLS is set up only when STS must be called.

use super::aws_config::{Profile, SharedConfig};
use super::cache::DiskCache;

use super::{CredentialError, Credentials, Env};
use std::cell::OnceCell;

use std::path::PathBuf;
use std::time::SystemTime;

mod process;
mod roles;
mod sso;

/// Most `source_profile` hops followed.
const MAX_CHAIN: usize = 8;

/// Command-line choices that affect resolution.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// Print resolution steps to stderr (`GITIAM_LOG=debug`); never secrets.
    pub debug: bool,
}

/// Credentials and where they came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The credentials.
    pub credentials: Credentials,
    /// A short description of the source, for debug output.
    pub source: String,
}

/// Resolves credentials and regions for one helper invocation.
#[derive(Debug)]
pub struct Resolver<'a> {
    env: &'a Env,
    opts: &'a Options,
    cache: Option<DiskCache>,
    shared: OnceCell<SharedConfig>,
    now: SystemTime,
}

impl<'a> Resolver<'a> {
    /// A resolver reading `env`, caching STS credentials in `cache`.
    pub fn new(env: &'a Env, opts: &'a Options, cache: Option<DiskCache>, now: SystemTime) -> Self {
        Self {
            env,
            opts,
            cache,
            shared: OnceCell::new(),
            now,
        }
    }

    fn debug(&self, msg: impl FnOnce() -> String) {
        if self.opts.debug {
            eprintln!("git-credential-gitiam: debug: {}", msg());
        }
    }

    /// The profile in use and whether it was named explicitly (`--profile`
    /// or `AWS_PROFILE`).
    pub fn profile_name(&self) -> (String, bool) {
        if let Some(p) = self.opts.profile.as_deref().filter(|p| !p.is_empty()) {
            return (p.to_owned(), true);
        }
        if let Some(p) = self.env.get("AWS_PROFILE") {
            return (p.to_owned(), true);
        }
        if let Some(p) = self.env.get("AWS_DEFAULT_PROFILE") {
            return (p.to_owned(), true);
        }
        ("default".to_owned(), false)
    }

    fn config_path(&self) -> Option<PathBuf> {
        self.env.config_file()
    }

    fn credentials_path(&self) -> Option<PathBuf> {
        self.env.credentials_file()
    }

    /// The shared files, read on first use.
    pub fn shared(&self) -> Result<&SharedConfig, CredentialError> {
        if let Some(s) = self.shared.get() {
            return Ok(s);
        }
        let loaded = SharedConfig::load(
            self.config_path().as_deref(),
            self.credentials_path().as_deref(),
        )?;
        Ok(self.shared.get_or_init(|| loaded))
    }

    fn display(path: Option<PathBuf>) -> String {
        path.map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no home directory)".into())
    }

    /// The region to sign the Git password for `host`.
    pub fn git_region(&self, host: &str) -> Result<String, CredentialError> {
        if let Some(r) = super::region::region_from_host(host) {
            self.debug(|| format!("region {r} from the CodeCommit host name"));
            return Ok(r.to_owned());
        }
        if let Some(r) = self.configured_region()? {
            return Ok(r);
        }
        // A misspelt profile is the likelier cause: say so before asking
        // for a region the profile may well have.
        let (name, explicit) = self.profile_name();
        if explicit && self.shared()?.profile(&name).is_none() {
            return Err(self.unknown_profile(name)?);
        }
        Err(CredentialError::NoRegion {
            host: host.to_owned(),
            profile: name,
        })
    }

    fn unknown_profile(&self, profile: String) -> Result<CredentialError, CredentialError> {
        Ok(CredentialError::UnknownProfile {
            profile,
            config_file: Self::display(self.config_path()),
            credentials_file: Self::display(self.credentials_path()),
            known: self
                .shared()?
                .profile_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's
    /// `region`.
    pub fn configured_region(&self) -> Result<Option<String>, CredentialError> {
        if let Some(r) = self.opts.region.as_deref().filter(|r| !r.is_empty()) {
            return Ok(Some(r.to_owned()));
        }
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let Some(r) = self.env.get(var) {
                return Ok(Some(r.to_owned()));
            }
        }
        let (name, _) = self.profile_name();
        Ok(self
            .shared()?
            .profile(&name)
            .and_then(|p| p.get("region"))
            .map(str::to_owned))
    }

    /// Resolves credentials through the chain.
    pub fn credentials(&self) -> Result<Resolved, CredentialError> {
        let explicit_cli = self.opts.profile.as_deref().is_some_and(|p| !p.is_empty());
        if !explicit_cli && let Some(c) = self.env_static()? {
            return Ok(Resolved {
                credentials: c,
                source: "environment variables".into(),
            });
        }
        let (name, explicit) = self.profile_name();
        let shared = self.shared()?;
        if let Some(profile) = shared.profile(&name) {
            let mut chain = Vec::new();
            if let Some(r) = self.resolve_profile(shared, profile, &mut chain)? {
                return Ok(r);
            }
            if !explicit_cli && let Some(r) = self.env_web_identity()? {
                return Ok(r);
            }
            return Err(CredentialError::Profile {
                profile: name,
                message: "has no credentials: set aws_access_key_id and aws_secret_access_key, credential_process, sso_session with sso_account_id and sso_role_name, or role_arn with source_profile / web_identity_token_file".into(),
            });
        }
        if !explicit_cli && let Some(r) = self.env_web_identity()? {
            return Ok(r);
        }
        if explicit {
            return Err(self.unknown_profile(name)?);
        }
        Err(CredentialError::NoCredentials {
            profile: name,
            credentials_file: Self::display(self.credentials_path()),
        })
    }

    /// Drops cached STS credentials of the profile in use and of its
    /// `source_profile` chain. Never calls STS.
    pub fn erase(&self) -> Result<usize, CredentialError> {
        let Some(cache) = &self.cache else {
            return Ok(0);
        };
        let (mut name, _) = self.profile_name();
        let shared = self.shared()?;
        let mut removed = 0;
        for _ in 0..MAX_CHAIN {
            removed += cache
                .erase_profile(&name)
                .map_err(|e| CredentialError::Profile {
                    profile: name.clone(),
                    message: format!(
                        "cannot remove cached credentials in {}: {}",
                        cache.dir().display(),
                        e.kind()
                    ),
                })?;
            match shared.profile(&name).and_then(|p| p.get("source_profile")) {
                Some(next) if next != name => name = next.to_owned(),
                _ => break,
            }
        }
        Ok(removed)
    }

    fn env_static(&self) -> Result<Option<Credentials>, CredentialError> {
        let akid = self.env.get("AWS_ACCESS_KEY_ID");
        let secret = self.env.get("AWS_SECRET_ACCESS_KEY");
        match (akid, secret) {
            (Some(a), Some(s)) => {
                let token = self
                    .env
                    .get("AWS_SESSION_TOKEN")
                    .or_else(|| self.env.get("AWS_SECURITY_TOKEN"));
                Ok(Some(Credentials::new(a, s, token.map(str::to_owned), None)))
            }
            (Some(_), None) => Err(CredentialError::PartialEnvironment(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both or unset both",
            )),
            (None, Some(_)) => Err(CredentialError::PartialEnvironment(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both or unset both",
            )),
            (None, None) => Ok(None),
        }
    }

    fn resolve_profile(
        &self,
        shared: &SharedConfig,
        p: &Profile,
        chain: &mut Vec<String>,
    ) -> Result<Option<Resolved>, CredentialError> {
        let perr = |message: String| CredentialError::Profile {
            profile: p.name.clone(),
            message,
        };
        if chain.iter().any(|n| n == &p.name) {
            return Err(perr(format!(
                "source_profile loop: {} -> {}",
                chain.join(" -> "),
                p.name
            )));
        }
        if chain.len() >= MAX_CHAIN {
            return Err(perr("source_profile chain is too long".into()));
        }
        chain.push(p.name.clone());

        if let Some(role_arn) = p.get("role_arn") {
            return self.assume_role_profile(shared, p, role_arn, chain);
        }
        if p.get("web_identity_token_file").is_some() {
            return Err(perr("web_identity_token_file needs role_arn".into()));
        }
        if sso::is_sso_profile(p) {
            return self.sso_profile(shared, p).map(Some);
        }
        if let Some(c) = self.static_keys(p) {
            return Ok(Some(Resolved {
                credentials: c,
                source: format!("profile `{}`", p.name),
            }));
        }
        if p.get("aws_access_key_id").is_some() || p.get("aws_secret_access_key").is_some() {
            return Err(perr(
                "has only one of aws_access_key_id and aws_secret_access_key: set both".into(),
            ));
        }
        if let Some(cmd) = p.get("credential_process") {
            return self.credential_process(&p.name, cmd).map(|c| {
                Some(Resolved {
                    credentials: c,
                    source: format!("credential_process of profile `{}`", p.name),
                })
            });
        }
        Ok(None)
    }

    fn static_keys(&self, p: &Profile) -> Option<Credentials> {
        let akid = p.get("aws_access_key_id")?;
        let secret = p.get("aws_secret_access_key")?;
        let token = p
            .get("aws_session_token")
            .or_else(|| p.get("aws_security_token"));
        Some(Credentials::new(
            akid,
            secret,
            token.map(str::to_owned),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::process::{parse_process_output, split_command};
    use super::*;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    fn files(config: &str, credentials: &str) -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(dir.path().join("credentials"), credentials).unwrap();
        let c = dir.path().join("config").display().to_string();
        let k = dir.path().join("credentials").display().to_string();
        let env = Env::from_pairs([
            ("AWS_CONFIG_FILE", c.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", k.as_str()),
            ("HOME", "/nonexistent"),
        ]);
        (dir, env)
    }

    fn with(env: &Env, extra: &[(&str, &str)]) -> Env {
        let mut e = env.clone();
        for (k, v) in extra {
            e.vars.insert((*k).to_owned(), (*v).to_owned());
        }
        e
    }

    const NOW: u64 = 1_700_000_000;

    fn resolve(env: &Env, opts: &Options) -> Result<Resolved, CredentialError> {
        Resolver::new(env, opts, None, UNIX_EPOCH + Duration::from_secs(NOW)).credentials()
    }

    #[test]
    fn environment_first_unless_profile_flag() {
        let (_d, env) = files(
            "",
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n",
        );
        let e = with(
            &env,
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("AWS_SESSION_TOKEN", "tok"),
            ],
        );
        let r = resolve(&e, &Options::default()).unwrap();
        assert_eq!(r.credentials.git_username(), "AKIDENV%tok");
        // AWS_PROFILE does not beat environment keys (as in the AWS CLI)...
        let e2 = with(&e, &[("AWS_PROFILE", "dev")]);
        assert_eq!(
            resolve(&e2, &Options::default())
                .unwrap()
                .credentials
                .access_key_id,
            "AKIDENV"
        );
        // ...but --profile does.
        let opts = Options {
            profile: Some("dev".into()),
            ..Options::default()
        };
        assert_eq!(
            resolve(&e, &opts).unwrap().credentials.access_key_id,
            "AKIDDEV"
        );
        assert_eq!(
            resolve(&env, &Options::default())
                .unwrap()
                .credentials
                .access_key_id,
            "AKIDFILE"
        );
        assert_eq!(
            resolve(&with(&env, &[("AWS_PROFILE", "dev")]), &Options::default())
                .unwrap()
                .credentials
                .access_key_id,
            "AKIDDEV"
        );
    }

    #[test]
    fn partial_environment_and_missing_profiles() {
        let (_d, env) = files("[profile other]\nregion = x\n", "");
        let e = with(&env, &[("AWS_ACCESS_KEY_ID", "AKID")]);
        assert!(matches!(
            resolve(&e, &Options::default()),
            Err(CredentialError::PartialEnvironment(_))
        ));
        let err = resolve(
            &env,
            &Options {
                profile: Some("nope".into()),
                ..Options::default()
            },
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("profile `nope` not found in ")
                && msg.contains("known profiles: other"),
            "{msg}"
        );
        let err = resolve(&env, &Options::default()).unwrap_err();
        assert!(
            matches!(err, CredentialError::NoCredentials { .. }),
            "{err}"
        );
        let err = resolve(
            &with(&env, &[("AWS_PROFILE", "other")]),
            &Options::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("has no credentials"), "{err}");
    }

    #[test]
    fn config_file_static_keys_and_session_token() {
        let (_d, env) = files(
            "[profile cfg]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s\naws_session_token = t\n",
            "",
        );
        let r = resolve(
            &env,
            &Options {
                profile: Some("cfg".into()),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(r.credentials.git_username(), "AKIDCFG%t");
    }

    #[test]
    fn credential_process_output() {
        let ok = br#"{"Version": 1, "AccessKeyId": "AKIDP", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-01-01T00:00:00Z"}"#;
        let c = parse_process_output(ok, UNIX_EPOCH + Duration::from_secs(NOW)).unwrap();
        assert_eq!(c.git_username(), "AKIDP%t");
        let expired = br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "s", "Expiration": "2001-01-01T00:00:00Z"}"#;
        assert!(parse_process_output(expired, UNIX_EPOCH + Duration::from_secs(NOW)).is_err());
        let e = parse_process_output(
            br#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "topsecret"}"#,
            UNIX_EPOCH,
        )
        .unwrap_err();
        assert!(!e.contains("topsecret"));
        let e =
            parse_process_output(br#"{"SecretAccessKey": "topsecret"}"#, UNIX_EPOCH).unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
    }

    #[test]
    fn credential_process_runs_without_a_shell() {
        let (_d, env) = files(
            "[profile p]\ncredential_process = sh -c 'printf \"{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"AKIDPROC\\\",\\\"SecretAccessKey\\\":\\\"s\\\"}\"'\n",
            "",
        );
        let r = resolve(
            &env,
            &Options {
                profile: Some("p".into()),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(r.credentials.access_key_id, "AKIDPROC");
        let (_d, env) = files("[profile p]\ncredential_process = false\n", "");
        let e = resolve(
            &env,
            &Options {
                profile: Some("p".into()),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("exited with"), "{e}");
    }

    #[test]
    fn role_profiles_are_validated_before_calling_sts() {
        let (_d, env) = files(
            "[profile loop1]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop2\n[profile loop2]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = loop1\n\
             [profile nosrc]\nrole_arn = arn:aws:iam::1:role/a\n[profile mfa]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = default\nmfa_serial = x\n\
             [profile missing]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = ghost\n",
            "",
        );
        let msg = |p: &str| {
            resolve(
                &env,
                &Options {
                    profile: Some(p.into()),
                    ..Options::default()
                },
            )
            .unwrap_err()
            .to_string()
        };
        assert!(
            msg("loop1").contains("source_profile loop"),
            "{}",
            msg("loop1")
        );
        assert!(msg("nosrc").contains("needs source_profile"));
        assert!(msg("mfa").contains("mfa_serial"));
        assert!(msg("missing").contains("`ghost` does not exist"));
    }

    #[test]
    fn sts_endpoint_and_region_settings() {
        let (_d, env) = files(
            "[profile r]\nregion = eu-west-1\nendpoint_url = https://profile.example\nservices = s\nca_bundle = ~/ca.pem\n[services s]\nsts =\n  endpoint_url = https://services.example\n\
             [profile plain]\nregion = ap-south-1\n",
            "",
        );
        let opts = Options::default();
        let res = Resolver::new(&env, &opts, None, UNIX_EPOCH);
        let shared = res.shared().unwrap();
        let r = shared.profile("r").unwrap();
        let s = res.sts_settings(shared, r).unwrap();
        assert_eq!(s.endpoint, "https://services.example");
        assert_eq!(s.ca_bundle, Some(PathBuf::from("/nonexistent/ca.pem")));
        let env2 = with(
            &env,
            &[
                ("AWS_ENDPOINT_URL", "https://global.example"),
                ("AWS_CA_BUNDLE", "/etc/ca.pem"),
            ],
        );
        let res2 = Resolver::new(&env2, &opts, None, UNIX_EPOCH);
        let s = res2.sts_settings(res2.shared().unwrap(), r).unwrap();
        assert_eq!(s.endpoint, "https://global.example");
        assert_eq!(s.ca_bundle, Some(PathBuf::from("/etc/ca.pem")));
        let env3 = with(
            &env2,
            &[("AWS_ENDPOINT_URL_STS", "https://sts-only.example")],
        );
        let res3 = Resolver::new(&env3, &opts, None, UNIX_EPOCH);
        assert_eq!(
            res3.sts_settings(res3.shared().unwrap(), r)
                .unwrap()
                .endpoint,
            "https://sts-only.example"
        );
        let plain = shared.profile("plain").unwrap();
        let s = res.sts_settings(shared, plain).unwrap();
        assert_eq!(s.endpoint, "https://sts.ap-south-1.amazonaws.com");
        assert_eq!(s.region, "ap-south-1");
    }

    #[test]
    fn git_region_order() {
        let (_d, env) = files("[default]\nregion = eu-central-1\n", "");
        let opts = Options::default();
        let r = Resolver::new(&env, &opts, None, UNIX_EPOCH);
        assert_eq!(
            r.git_region("git-codecommit.us-west-2.amazonaws.com")
                .unwrap(),
            "us-west-2"
        );
        assert_eq!(r.git_region("git.example.com").unwrap(), "eu-central-1");
        let e = with(&env, &[("AWS_DEFAULT_REGION", "ca-central-1")]);
        assert_eq!(
            Resolver::new(&e, &opts, None, UNIX_EPOCH)
                .git_region("h")
                .unwrap(),
            "ca-central-1"
        );
        let e = with(&e, &[("AWS_REGION", "sa-east-1")]);
        assert_eq!(
            Resolver::new(&e, &opts, None, UNIX_EPOCH)
                .git_region("h")
                .unwrap(),
            "sa-east-1"
        );
        let o = Options {
            region: Some("me-south-1".into()),
            ..Options::default()
        };
        assert_eq!(
            Resolver::new(&e, &o, None, UNIX_EPOCH)
                .git_region("h")
                .unwrap(),
            "me-south-1"
        );
        let (_d2, bare) = files("", "");
        let err = Resolver::new(&bare, &opts, None, UNIX_EPOCH)
            .git_region("h:1")
            .unwrap_err();
        assert!(err.to_string().contains("pass --region"), "{err}");
        // A named profile that does not exist is reported before the region.
        let nope = Options {
            profile: Some("nope".into()),
            ..Options::default()
        };
        let err = Resolver::new(&env, &nope, None, UNIX_EPOCH)
            .git_region("h")
            .unwrap_err();
        assert!(
            err.to_string().starts_with("profile `nope` not found")
                && err.to_string().contains("known profiles: default"),
            "{err}"
        );
    }

    #[test]
    fn split_command_like_shlex() {
        assert_eq!(
            split_command("a 'b c' \"d \\\"e\\\"\" f\\ g").unwrap(),
            vec!["a", "b c", "d \"e\"", "f g"]
        );
        assert_eq!(split_command("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_command("''").unwrap(), vec![""]);
        assert!(split_command("'open").is_none());
    }
}
