//! `gitiam quickstart [DIR]`: writes a working demo (configuration, one
//! account, a user with fresh random keys and an AWS profile for them,
//! policies with main-branch protection, a bare repository with a first
//! commit, a self-signed certificate), serves it, and prints the exact git
//! commands to clone, push a branch and see a push to `main` refused.
//!
//! Run again with the same DIR it reuses the demo; a DIR that holds
//! something else is refused rather than overwritten.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use base64::Engine as _;

use crate::server::https::ServeOptions;
use crate::server::tls;
use crate::shared::config;
use crate::shared::secret_file::{self, Create};

use super::serve::{self, Exit};

/// Default folder of the demo.
pub const DEFAULT_DIR: &str = "gitiam-quickstart";
/// First line of the generated configuration; marks a folder as ours.
const MARKER: &str = "# gitiam quickstart demo";
/// The demo account (AWS's documentation account id).
pub const ACCOUNT: &str = "111122223333";
/// AWS profile name written for the demo user.
pub const PROFILE: &str = "gitiam-quickstart";
/// The demo repository.
pub const REPO: &str = "demo";

/// Arguments of `gitiam quickstart`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the demo (created; reused when it already holds one).
    #[arg(value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Address to serve on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Write (or check) the demo and print the commands, but do not serve.
    #[arg(long)]
    pub no_serve: bool,
}

/// Runs the command; returns the process exit code.
pub fn run(args: Args) -> anyhow::Result<u8> {
    serve::init_logging();
    let config_path = args.dir.join("gitiam.toml");
    if config_path.is_file() {
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?;
        if !text.starts_with(MARKER) {
            eprintln!(
                "gitiam: {} exists and was not written by `gitiam quickstart`; choose another folder",
                config_path.display()
            );
            return Ok(Exit::BadConfig as u8);
        }
        eprintln!(
            "gitiam: reusing the demo in {} (delete the folder to start over)",
            args.dir.display()
        );
    } else if args.dir.exists() && !is_empty_dir(&args.dir)? {
        eprintln!(
            "gitiam: {} exists and is not empty; choose another folder (or remove it)",
            args.dir.display()
        );
        return Ok(Exit::BadConfig as u8);
    } else {
        write_demo(&args.dir)?;
    }
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let config_path = dir.join("gitiam.toml");
    let config = match config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gitiam: {e}");
            return Ok(Exit::BadConfig as u8);
        }
    };
    // The certificate exists before the commands naming it are printed.
    tls::certificate_files(config.server.tls.as_ref(), &config.server.state_dir)?;
    let cert = config.server.state_dir.join("tls/cert.pem");
    let helper = helper_path();
    ensure_helper_built(&helper);
    if args.no_serve {
        print_instructions(&dir, &cert, &helper, args.listen);
        return Ok(Exit::Ok as u8);
    }
    let on_listening =
        Box::new(move |addr: SocketAddr| print_instructions(&dir, &cert, &helper, addr));
    serve::serve_with(
        config,
        ServeOptions {
            config_path,
            listen: Some(args.listen),
            on_listening: Some(on_listening),
            doors: vec![serve::ssh_door()],
        },
    )
}

fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    Ok(entries.next().is_none())
}

/// `git-credential-gitiam` next to the running `gitiam`.
fn helper_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("git-credential-gitiam")))
        .unwrap_or_else(|| PathBuf::from("git-credential-gitiam"))
}

/// `cargo run -- quickstart` builds only `gitiam`: build the helper the
/// printed commands use, with the same cargo and profile, when it is
/// missing. Outside cargo a missing helper is reported with the commands.
fn ensure_helper_built(helper: &Path) {
    if helper.is_file() {
        return;
    }
    let (Some(cargo), Some(manifest)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_PATH"),
    ) else {
        return;
    };
    if std::env::var("CARGO_PKG_NAME").ok().as_deref() != Some("gitiam") {
        return;
    }
    let release = helper
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    eprintln!("gitiam: building git-credential-gitiam (the credential helper) ...");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "--bin",
        "git-credential-gitiam",
        "--manifest-path",
    ])
    .arg(manifest);
    if release {
        cmd.arg("--release");
    }
    match cmd.stdout(std::process::Stdio::null()).status() {
        Ok(status) if status.success() => {}
        _ => eprintln!("gitiam: building git-credential-gitiam failed"),
    }
}

/// A random access key id: `AKIA` and 16 characters of AWS's alphabet.
fn new_access_key_id() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes: [u8; 16] = rand::random();
    let mut id = String::from("AKIA");
    for b in bytes {
        let c = ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'A');
        id.push(char::from(c));
    }
    id
}

/// A random 40-character secret (240 bits), shaped like AWS's.
fn new_secret() -> String {
    let bytes: [u8; 30] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const DEVELOPERS_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "PullAndPush",
      "Effect": "Allow",
      "Action": ["codecommit:GitPull", "codecommit:GitPush"],
      "Resource": "arn:aws:codecommit:us-east-1:111122223333:*"
    },
    {
      "Sid": "DenyPushToMain",
      "Effect": "Deny",
      "Action": "codecommit:GitPush",
      "Resource": "arn:aws:codecommit:us-east-1:111122223333:*",
      "Condition": {
        "StringEqualsIfExists": { "codecommit:References": ["refs/heads/main"] },
        "Null": { "codecommit:References": "false" }
      }
    }
  ]
}
"#;

const READ_ONLY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "PullOnly",
      "Effect": "Allow",
      "Action": "codecommit:GitPull",
      "Resource": "arn:aws:codecommit:us-east-1:111122223333:*"
    }
  ]
}
"#;

fn write_demo(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("policies"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let akid = new_access_key_id();
    let secret = new_secret();
    let config = format!(
        r#"{MARKER}: `gitiam quickstart` wrote this file; edit it while the
# server runs and it reloads. Reference: the README's "Configuration reference".

[server]
listen = "127.0.0.1:8443"
region = "us-east-1"
state_dir = ".gitiam"       # self-signed certificate, STS keys, audit.jsonl

[backend]
repos = "repos"             # repos/ACCOUNT/NAME.git, served by `git http-backend`

[[accounts]]
id = "{ACCOUNT}"

[[accounts.groups]]
name = "developers"
policies = ["policies/developers.json"]   # pull and push, but not to main

[[accounts.users]]
name = "alice"
groups = ["developers"]
tags = {{ team = "demo" }}
access_keys = [{{ id = "{akid}", secret = "{secret}" }}]
"#
    );
    write_private(&dir.join("gitiam.toml"), &config)?;
    std::fs::write(dir.join("policies/developers.json"), DEVELOPERS_POLICY)?;
    std::fs::write(dir.join("policies/read-only.json"), READ_ONLY_POLICY)?;
    std::fs::create_dir_all(dir.join("aws"))?;
    write_private(
        &dir.join("aws/credentials"),
        &format!("[{PROFILE}]\naws_access_key_id = {akid}\naws_secret_access_key = {secret}\n"),
    )?;
    std::fs::write(
        dir.join("aws/config"),
        format!("[profile {PROFILE}]\nregion = us-east-1\n"),
    )?;
    create_repo(&dir.join("repos").join(ACCOUNT).join(format!("{REPO}.git")))?;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    secret_file::write(path, text.as_bytes(), Create::Truncate)
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs `git --git-dir BARE args`, feeding `input`, returning trimmed stdout.
fn git(bare: &Path, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir")
        .arg(bare)
        .args(args)
        .env("GIT_AUTHOR_NAME", "gitiam quickstart")
        .env("GIT_AUTHOR_EMAIL", "quickstart@gitiam.invalid")
        .env("GIT_COMMITTER_NAME", "gitiam quickstart")
        .env("GIT_COMMITTER_EMAIL", "quickstart@gitiam.invalid")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().context("running git (is it installed?)")?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A bare repository with one commit on `main`, made with plumbing (no
/// work tree, no user configuration needed).
fn create_repo(bare: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(bare)?;
    git(
        bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
        None,
    )?;
    let readme = "# demo\n\nServed through gitiam: every request is authenticated with SigV4\n\
                  and authorized by the IAM policies in ../../../policies/.\n";
    let blob = git(bare, &["hash-object", "-w", "--stdin"], Some(readme))?;
    let tree = git(
        bare,
        &["mktree"],
        Some(&format!("100644 blob {blob}\tREADME.md\n")),
    )?;
    let commit = git(bare, &["commit-tree", &tree, "-m", "First commit"], None)?;
    git(bare, &["update-ref", "refs/heads/main", &commit], None)?;
    Ok(())
}

fn print_instructions(dir: &Path, cert: &Path, helper: &Path, addr: SocketAddr) {
    let url = format!("https://{addr}/v1/repos/{REPO}");
    let quoted_helper = format!("{} --profile {PROFILE}", helper.display());
    let mut out = String::new();
    out.push_str(&format!(
        "\ngitiam quickstart: demo in {}\n\
         \x20 account 111122223333, user alice (group developers: pull and push, but not to main)\n\
         \x20 keys in {}/aws/credentials (profile {PROFILE}); audit log {}/.gitiam/audit.jsonl\n",
        dir.display(),
        dir.display(),
        dir.display()
    ));
    if !helper.is_file() {
        out.push_str(&format!(
            "\n  note: {} is not built; run `cargo build --release` first\n",
            helper.display()
        ));
    }
    out.push_str("\nIn another terminal:\n\n");
    if std::env::var_os("GIT_SSL_CAINFO").is_some() {
        // It would override http.sslCAInfo below.
        out.push_str("  unset GIT_SSL_CAINFO\n");
    }
    out.push_str(&format!(
        "  export AWS_SHARED_CREDENTIALS_FILE={dir}/aws/credentials AWS_CONFIG_FILE={dir}/aws/config\n\
         \x20 git clone -c credential.helper='{quoted_helper}' -c credential.useHttpPath=true \\\n\
         \x20     -c http.sslCAInfo={cert} {url}\n\
         \x20 cd {REPO}\n\
         \x20 git switch -c feature && echo hello > hello.txt && git add hello.txt && git commit -m hello\n\
         \x20 git push origin feature          # allowed\n\
         \x20 git push origin feature:main     # ! [remote rejected] ... (denied by policy policies/developers.json statement DenyPushToMain)\n\n\
         Edit {dir}/gitiam.toml or {dir}/policies/*.json while this runs: changes apply at once.\n\
         Stop with Ctrl-C.\n",
        dir = dir.display(),
        cert = cert.display(),
    ));
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_look_like_aws_keys() {
        let id = new_access_key_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert_ne!(id, new_access_key_id());
        let secret = new_secret();
        assert_eq!(secret.len(), 40);
        assert_ne!(secret, new_secret());
    }
}
