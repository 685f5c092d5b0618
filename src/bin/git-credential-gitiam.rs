//! `git-credential-gitiam`: a Git credential helper that answers with
//! CodeCommit-style SigV4 passwords, for AWS CodeCommit and gitiam servers.
//!
//! Git runs it as `git credential-gitiam get|store|erase` once configured
//! with `git config --global credential.helper gitiam` and
//! `credential.useHttpPath true`. Static credentials are answered without
//! touching the network, an async runtime or TLS; STS is only called for
//! role profiles, and its temporary credentials are cached on disk.
#![forbid(unsafe_code)]

use clap::Parser;
use gitiam::client::cache::DiskCache;
use gitiam::client::protocol::{self, CredentialRequest, CredentialResponse};
use gitiam::client::provider::{Options, Resolver};
use gitiam::client::{CredentialError, Env};
use gitiam::shared::sigv4::codecommit;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long git may reuse a password. Servers accept signatures up to 15
/// minutes old; 10 leaves room for clock differences.
const PASSWORD_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Git credential helper producing AWS SigV4 (CodeCommit-style) passwords.
///
/// Configure with `git config --global credential.helper gitiam` and
/// `git config --global credential.useHttpPath true`. Credentials come from
/// the environment, the AWS shared files (static keys, credential_process,
/// role_arn with source_profile or web_identity_token_file), in the AWS
/// SDKs' order. Set GITIAM_LOG=debug to see the canonical request and
/// string to sign on stderr.
#[derive(Debug, Parser)]
#[command(name = "git-credential-gitiam", version)]
struct Args {
    /// AWS profile to use from ~/.aws/config and ~/.aws/credentials. Takes
    /// precedence over AWS_PROFILE and over credentials in the environment.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,

    /// Region to sign for when the host is not a CodeCommit host name
    /// (git-codecommit.REGION.amazonaws.com). Takes precedence over
    /// AWS_REGION, AWS_DEFAULT_REGION and the profile's region.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,

    /// The operation git asks for: `get` prints a username and password,
    /// `store` does nothing, `erase` drops cached temporary credentials.
    /// Other operations are ignored, as git expects of helpers.
    #[arg(value_name = "OPERATION")]
    operation: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let debug = std::env::var("GITIAM_LOG")
        .is_ok_and(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("debug")));
    match run(&args, debug) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("git-credential-gitiam: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, debug: bool) -> Result<(), CredentialError> {
    let request = protocol::read_request(std::io::stdin().lock())?;
    let env = Env::from_process();
    let opts = Options {
        profile: args.profile.clone(),
        region: args.region.clone(),
        debug,
    };
    let now = SystemTime::now();
    let resolver = Resolver::new(&env, &opts, DiskCache::default_location(), now);
    match args.operation.as_str() {
        "get" => get(&request, &resolver, now, debug),
        "erase" => {
            let removed = resolver.erase()?;
            if debug {
                eprintln!(
                    "git-credential-gitiam: debug: erased {removed} cached credential file(s)"
                );
            }
            Ok(())
        }
        // `store` has nothing to keep: passwords are signatures, made fresh.
        _ => Ok(()),
    }
}

fn get(
    request: &CredentialRequest,
    resolver: &Resolver<'_>,
    now: SystemTime,
    debug: bool,
) -> Result<(), CredentialError> {
    // Git also asks helpers about other things (e.g. `protocol=cert` for a
    // client certificate passphrase): stay silent so other helpers answer.
    if request
        .protocol
        .as_deref()
        .is_some_and(|p| p != "https" && p != "http")
    {
        return Ok(());
    }
    let host = request
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or(CredentialError::MissingHost)?;
    let path = request
        .path
        .as_deref()
        .ok_or(CredentialError::MissingPath)?;
    // As the AWS CLI does (urlsplit of PROTOCOL://HOST/PATH): the signed
    // path is `/` + git's path, without any query or fragment.
    let full = format!("/{path}");
    let path = full.split(['?', '#']).next().unwrap_or(&full);
    let region = resolver.git_region(host)?;
    let resolved = resolver.credentials()?;
    let creds = &resolved.credentials;
    if debug {
        let canonical = codecommit::canonical_request(host, path);
        let sts = codecommit::string_to_sign(now, &region, &canonical);
        eprintln!(
            "git-credential-gitiam: debug: credentials from {} (access key id {})",
            resolved.source, creds.access_key_id
        );
        eprintln!("git-credential-gitiam: debug: region {region}");
        eprintln!("git-credential-gitiam: debug: CanonicalRequest:\n{canonical}");
        eprintln!("git-credential-gitiam: debug: StringToSign:\n{sts}");
    }
    let password = codecommit::password(creds.secret_access_key(), &region, host, path, now);
    let mut expiry = now + PASSWORD_LIFETIME;
    if let Some(exp) = creds.expiration
        && exp < expiry
    {
        expiry = exp;
    }
    let response = CredentialResponse {
        username: creds.git_username(),
        password,
        password_expiry_utc: expiry.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()),
    };
    protocol::write_response(std::io::stdout().lock(), &response)
        .map_err(|e| CredentialError::Output(e.kind().to_string()))
}
