//! A running `gitiam serve` with its SSH door, and the real OpenSSH client
//! pointed at it: a temporary identity file per user, a `known_hosts` file
//! holding the server's host key (`StrictHostKeyChecking=yes`), no user or
//! system ssh configuration, no agent.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::git_cmd;

/// A key pair made by `ssh-keygen` in `dir`.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// Private key file.
    pub private: PathBuf,
    /// `TYPE BASE64 COMMENT`.
    pub public: String,
}

/// `ssh-keygen -t TYPE` (ed25519, ecdsa, rsa) into `dir/NAME`.
pub fn keygen(dir: &Path, name: &str, kind: &str) -> KeyPair {
    let private = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&private)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(private.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string();
    KeyPair { private, public }
}

/// `ssh-keygen -s CA -I KEY_ID -n PRINCIPALS -V VALIDITY` on `key`'s
/// public key; the certificate is moved to `dir/NAME-cert.pub` and its path
/// returned.
#[allow(clippy::too_many_arguments)] // mirrors ssh-keygen's own options
pub fn sign_certificate(
    dir: &Path,
    name: &str,
    ca: &KeyPair,
    key: &KeyPair,
    key_id: &str,
    principals: &str,
    validity: &str,
    options: &[&str],
) -> PathBuf {
    let public = key.private.with_extension("pub");
    let mut cmd = Command::new("ssh-keygen");
    cmd.arg("-q")
        .arg("-s")
        .arg(&ca.private)
        .args(["-I", key_id, "-n", principals, "-V", validity]);
    for o in options {
        cmd.args(["-O", o]);
    }
    let out = cmd.arg(&public).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = PathBuf::from(format!("{}-cert.pub", key.private.display()));
    let dest = dir.join(format!("{name}-cert.pub"));
    std::fs::rename(made, &dest).unwrap();
    dest
}

/// A running `gitiam serve` with `ssh_listen` set.
pub struct SshServer {
    /// Folder holding `gitiam.toml`.
    pub dir: PathBuf,
    /// HTTPS port.
    pub https_port: u16,
    /// SSH port.
    pub port: u16,
    /// `SHA256:...` printed at start.
    pub fingerprint: String,
    child: Child,
}

impl SshServer {
    /// Starts `gitiam serve --config DIR/gitiam.toml --listen 127.0.0.1:0`;
    /// the configuration must set `ssh_listen` (port 0 is fine).
    pub fn start(dir: &Path) -> SshServer {
        Self::try_start(dir).unwrap_or_else(|e| panic!("gitiam serve did not start: {e}"))
    }

    /// Like [`SshServer::start`]; `Err(log)` when the server does not print
    /// its SSH line.
    pub fn try_start(dir: &Path) -> Result<SshServer, String> {
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let mut child = Command::new(super::bin("gitiam"))
            .args(["serve", "--config"])
            .arg(dir.join("gitiam.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env("GITIAM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut https_port, mut port, mut fingerprint) = (None, None, None);
        while fingerprint.is_none() {
            let wait = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(wait) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::fs::read_to_string(dir.join("server.log")).unwrap_or_default());
            };
            if let Some(p) = line.strip_prefix("listening on https://127.0.0.1:") {
                https_port = p.trim().parse().ok();
            } else if let Some(p) = line.strip_prefix("ssh listening on 127.0.0.1:") {
                port = p.trim().parse().ok();
            } else if let Some(f) = line.strip_prefix("ssh host key ") {
                fingerprint = Some(f.trim().to_string());
            }
        }
        let server = SshServer {
            dir: dir.to_path_buf(),
            https_port: https_port.unwrap(),
            port: port.unwrap(),
            fingerprint: fingerprint.unwrap(),
            child,
        };
        server.write_known_hosts();
        Ok(server)
    }

    /// `known_hosts` with the generated host key, for `[127.0.0.1]:PORT`.
    /// (Nothing when the configuration names its own `ssh_host_keys`: the
    /// test then knows the key.)
    fn write_known_hosts(&self) {
        let generated = self.dir.join(".gitiam/ssh/host_ed25519_key");
        if !generated.exists() {
            return;
        }
        let out = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(generated)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
        std::fs::write(
            self.known_hosts(),
            format!("[127.0.0.1]:{} {key}\n", self.port),
        )
        .unwrap();
    }

    /// The `known_hosts` file the clients trust.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The ssh options every client here uses (identity `key` only).
    pub fn ssh_options(&self, key: &Path) -> Vec<String> {
        vec![
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts().display()),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ConnectTimeout=20".into(),
        ]
    }

    /// `ssh -p PORT ... USER@127.0.0.1` (add the rest).
    pub fn ssh(&self, key: &Path, user: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.ssh_options(key))
            .args(["-p", &self.port.to_string()])
            .arg(format!("{user}@127.0.0.1"))
            .stdin(Stdio::null());
        cmd
    }

    /// `GIT_SSH_COMMAND` for `key`.
    pub fn git_ssh_command(&self, key: &Path) -> String {
        format!("ssh {}", self.ssh_options(key).join(" "))
    }

    /// `git` in `cwd` using `key` for SSH.
    pub fn git(&self, cwd: &Path, key: &Path) -> Command {
        let mut cmd = git_cmd(cwd);
        cmd.env("GIT_SSH_COMMAND", self.git_ssh_command(key))
            .env_remove("GIT_SSH")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        cmd
    }

    /// `ssh://KEY_ID@127.0.0.1:PORT/v1/repos/NAME`.
    pub fn url(&self, key_id: &str, repo: &str) -> String {
        format!("ssh://{key_id}@127.0.0.1:{}/v1/repos/{repo}", self.port)
    }

    /// Every audit record so far.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join(".gitiam/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until an audit record satisfies `pred`.
    pub fn wait_audit(&self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.audit().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no matching audit record in:\n{:#?}",
                self.audit()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
