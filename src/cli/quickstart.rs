//! `gitiam quickstart [DIR]`: writes a working demo (configuration, one
//! account, a user with fresh random keys and an AWS profile for them, an
//! SSH key pair with its key id, policies with main-branch protection, a
//! bare repository with a first commit, a self-signed certificate), serves
//! it over HTTPS and SSH, and prints the exact git commands to clone, push
//! a branch and see a push to `main` refused.
//!
//! Run again with the same DIR it reuses the demo; a DIR that holds
//! something else is refused rather than overwritten.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use base64::Engine as _;

use crate::server::https::ServeOptions;
use crate::server::ssh::host_keys;
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
    /// Address of the SSH door (default 127.0.0.1:2222, or port 0 when
    /// `--listen` has port 0).
    #[arg(long, value_name = "ADDR")]
    pub ssh_listen: Option<SocketAddr>,
    /// Write (or check) the demo and print the commands, but do not serve.
    #[arg(long)]
    pub no_serve: bool,
}

/// Default SSH address of the demo.
pub const DEFAULT_SSH_LISTEN: &str = "127.0.0.1:2222";

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
    let mut config = match config::load(&config_path) {
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
    // A demo written before SSH existed has no ssh_listen: it stays HTTPS only.
    if config.server.ssh.listen.is_some() {
        config.server.ssh.listen = Some(args.ssh_listen.unwrap_or_else(|| {
            let mut addr = args.listen;
            if addr.port() != 0 {
                addr.set_port(2222);
            }
            addr
        }));
        // The host key exists before the known_hosts line naming it.
        host_keys::load(&config.server).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let ssh = config.server.ssh.clone();
    let state_dir = config.server.state_dir.clone();
    if args.no_serve {
        let ssh = ssh.listen.map(|a| (a, &state_dir));
        print_instructions(&dir, &cert, &helper, args.listen, ssh);
        return Ok(Exit::Ok as u8);
    }
    // The SSH door's real address, for the instructions.
    let ssh_addr: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let bound = Arc::clone(&ssh_addr);
    let door: crate::server::https::server::StartDoor = Box::new(move |state, stop| {
        Box::pin(async move {
            let started = crate::server::ssh::start(state, stop).await?;
            Ok(started.map(|(addr, task)| {
                if let Ok(mut slot) = bound.lock() {
                    *slot = Some(addr);
                }
                task
            }))
        })
    });
    let on_listening = Box::new(move |addr: SocketAddr| {
        let ssh = ssh_addr.lock().ok().and_then(|a| *a);
        print_instructions(&dir, &cert, &helper, addr, ssh.map(|a| (a, &state_dir)));
    });
    serve::serve_with(
        config,
        ServeOptions {
            config_path,
            listen: Some(args.listen),
            on_listening: Some(on_listening),
            doors: vec![door],
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
    // Cargo's own progress lines (stderr) show that something happens:
    // the first build takes about a minute.
    eprintln!(
        "gitiam: building git-credential-gitiam (the credential helper; about a minute the first time) ..."
    );
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--bin", "git-credential-gitiam", "--manifest-path"])
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

/// A random SSH key id: `APKA` and 16 characters of AWS's alphabet.
fn new_ssh_key_id() -> String {
    format!("APKA{}", new_access_key_id().trim_start_matches("AKIA"))
}

/// A fresh ed25519 key pair for the demo user: `ssh/alice` (0600) and
/// `ssh/alice.pub`; returns the public key line.
fn write_ssh_key_pair(dir: &Path) -> anyhow::Result<String> {
    use russh::keys::PrivateKey;
    use russh::keys::ssh_key::LineEnding;
    use russh::keys::ssh_key::private::Ed25519Keypair;
    std::fs::create_dir_all(dir.join("ssh"))?;
    let seed: [u8; 32] = rand::random();
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment("alice@gitiam-quickstart");
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the demo SSH key: {e}"))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| anyhow::anyhow!("encoding the demo SSH key: {e}"))?;
    write_private(&dir.join("ssh/alice"), &private)?;
    std::fs::write(dir.join("ssh/alice.pub"), format!("{public}\n"))?;
    Ok(public)
}

/// A random 40-character secret (240 bits), shaped like AWS's.
fn new_secret() -> String {
    let bytes: [u8; 30] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The demo's group policy: pull and push on every repository of the
/// account, no push to `refs/heads/main`. The integration tests use it too.
pub const DEVELOPERS_POLICY: &str = r#"{
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
    let ssh_key_id = new_ssh_key_id();
    let ssh_public = write_ssh_key_pair(dir)?;
    let config = format!(
        r#"{MARKER}: `gitiam quickstart` wrote this file; edit it while the
# server runs and it reloads. Reference: the README's "Configuration reference".

[server]
listen = "127.0.0.1:8443"
region = "us-east-1"
state_dir = ".gitiam"       # self-signed certificate, STS keys, SSH host key, audit.jsonl
ssh_listen = "{DEFAULT_SSH_LISTEN}"  # ssh://KEY_ID@HOST:2222/v1/repos/NAME

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
ssh_keys = [{{ id = "{ssh_key_id}", public_key = "{ssh_public}" }}]   # private key: ssh/alice
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

/// The SSH commands of the demo, once the door listens on `addr`; writes
/// `ssh/known_hosts` with the host key for that address.
fn ssh_instructions(dir: &Path, addr: SocketAddr, state_dir: &Path) -> Option<String> {
    let config = config::load(&dir.join("gitiam.toml")).ok()?;
    let key_id = config
        .directory
        .ssh_keys()
        .find(|k| k.user.name == "alice" && k.active)?
        .id
        .clone();
    let host =
        host_keys::load_or_generate(&state_dir.join(crate::shared::config::ssh::DEFAULT_HOST_KEY))
            .ok()?;
    let host_line = host.public_key().to_openssh().ok()?;
    let known_hosts = dir.join("ssh/known_hosts");
    let host_name = match addr.port() {
        22 => addr.ip().to_string(),
        port => format!("[{}]:{port}", addr.ip()),
    };
    std::fs::write(&known_hosts, format!("{host_name} {host_line}\n")).ok()?;
    Some(format!(
        "Over SSH (key id {key_id}, the SSH user name, as in CodeCommit):\n\n\
         \x20 export GIT_SSH_COMMAND=\"ssh -i {key} -o IdentitiesOnly=yes -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes\"\n\
         \x20 git clone ssh://{key_id}@{addr}/v1/repos/{REPO} {REPO}-ssh\n\
         \x20 cd {REPO}-ssh\n\
         \x20 git switch -c feature-ssh && echo hello > ssh.txt && git add ssh.txt && git commit -m ssh\n\
         \x20 git push -u origin feature-ssh       # allowed\n\
         \x20 git push origin feature-ssh:main     # ! [remote rejected] ... (denied by policy policies/developers.json statement DenyPushToMain)\n\n",
        key = dir.join("ssh/alice").display(),
        known_hosts = known_hosts.display(),
    ))
}

fn print_instructions(
    dir: &Path,
    cert: &Path,
    helper: &Path,
    addr: SocketAddr,
    ssh: Option<(SocketAddr, &PathBuf)>,
) {
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
    if let Some(bin_dir) = helper.parent().filter(|d| !d.as_os_str().is_empty()) {
        // `cargo run` puts nothing on PATH; the README's later examples
        // run bare `gitiam` and `git-credential-gitiam`.
        out.push_str(&format!(
            "  binaries: gitiam and git-credential-gitiam are in {bin}; to run them by name:\n\
             \x20   export PATH=\"{bin}:$PATH\"      (or install them: cargo install --path .)\n",
            bin = bin_dir.display()
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
         \x20 git push -u origin feature       # allowed (-u: later `git pull`s know the branch)\n\
         \x20 git push origin feature:main     # ! [remote rejected] ... (denied by policy policies/developers.json statement DenyPushToMain)\n\n",
        dir = dir.display(),
        cert = cert.display(),
    ));
    if let Some(text) = ssh.and_then(|(a, state_dir)| ssh_instructions(dir, a, state_dir)) {
        out.push_str(&text);
    }
    out.push_str(&format!(
        "Edit {dir}/gitiam.toml or {dir}/policies/*.json while this runs: changes apply at once.\n\
         Stop with Ctrl-C.\n",
        dir = dir.display(),
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
