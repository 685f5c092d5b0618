//! A running `gitiam serve` for integration tests: a temporary folder with
//! `gitiam.toml`, policies and bare repositories; the real binary started
//! with `--listen 127.0.0.1:0` (the port is read from its stdout); and `git`
//! commands set up to trust its self-signed certificate and to sign with
//! the real `git-credential-gitiam` helper (or a fixed password, for the
//! tests that present bad credentials on purpose).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::CommandExt as _;

/// Default test account.
pub const ACCOUNT: &str = "111122223333";
/// Region of the test servers.
pub const REGION: &str = "us-east-1";

/// A group policy of the kind most tests use: the quickstart demo's (pull
/// and push on every repository of the account, no push to
/// `refs/heads/main`, statement `DenyPushToMain`).
pub use gitiam::cli::quickstart::DEVELOPERS_POLICY as DEVELOPERS;

/// Long-term credentials of a test user.
#[derive(Debug, Clone)]
pub struct Creds {
    pub akid: String,
    pub secret: String,
}

impl Creds {
    pub fn new(akid: &str, secret: &str) -> Self {
        Self {
            akid: akid.into(),
            secret: secret.into(),
        }
    }
}

/// Writes `contents` to `dir/rel`, creating folders.
pub fn write(dir: &Path, rel: &str, contents: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// Runs `git` with a clean, isolated configuration in `cwd`.
pub fn git_cmd(cwd: &Path) -> Command {
    let mut cmd = super::isolated_git(cwd);
    cmd.env_remove("GIT_SSL_CAINFO")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS");
    cmd
}

/// Runs git, asserting it succeeds; returns stdout.
#[track_caller]
pub fn git_ok(cwd: &Path, args: &[&str]) -> String {
    git_cmd(cwd).args(args).ok().stdout
}

/// Commits a new file `file` (its name as its content, the message too) in
/// the work tree `work`; returns the new HEAD.
pub fn commit_file(work: &Path, file: &str) -> String {
    std::fs::write(work.join(file), file).unwrap();
    git_ok(work, &["add", file]);
    git_ok(work, &["commit", "-q", "-m", file]);
    git_ok(work, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// Creates the bare repository `repos/ACCOUNT/NAME.git` under `root` with one
/// commit on `main`; returns its path.
pub fn bare_repo_with_commit(root: &Path, account: &str, name: &str) -> PathBuf {
    let bare = root.join("repos").join(account).join(format!("{name}.git"));
    std::fs::create_dir_all(&bare).unwrap();
    git_ok(&bare, &["init", "-q", "--bare", "-b", "main"]);
    let work = root.join(format!("seed-{account}-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    git_ok(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README.md"), format!("# {name}\n")).unwrap();
    git_ok(&work, &["add", "README.md"]);
    git_ok(&work, &["commit", "-q", "-m", "first commit"]);
    git_ok(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    std::fs::remove_dir_all(&work).unwrap();
    bare
}

/// The commit `reference` points to in the bare repository, if any.
pub fn rev(bare: &Path, reference: &str) -> Option<String> {
    let out = git_cmd(bare)
        .args(["rev-parse", "--verify", "--quiet", reference])
        .run();
    out.succeeded().then(|| out.stdout.trim().to_string())
}

/// A running `gitiam serve`.
pub struct TestServer {
    /// Folder holding the configuration file.
    pub dir: PathBuf,
    pub port: u16,
    /// The server's state folder (TLS certificate, audit log).
    state: PathBuf,
    /// Where the server's stderr goes.
    log: PathBuf,
    child: Child,
}

impl TestServer {
    /// Starts `gitiam serve --config DIR/gitiam.toml --listen 127.0.0.1:0`.
    pub fn start(dir: &Path) -> TestServer {
        Self::try_start(dir).unwrap_or_else(|e| panic!("gitiam serve did not start: {e}"))
    }

    /// Like [`TestServer::start`]; `Err(stderr)` when the server exits.
    pub fn try_start(dir: &Path) -> Result<TestServer, String> {
        Self::try_start_with_env(dir, &[])
    }

    /// Like [`TestServer::start`], with extra environment variables.
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)]) -> TestServer {
        Self::try_start_with_env(dir, env)
            .unwrap_or_else(|e| panic!("gitiam serve did not start: {e}"))
    }

    /// Like [`TestServer::try_start`], with extra environment variables.
    pub fn try_start_with_env(dir: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        Self::launch(
            dir,
            &dir.join("gitiam.toml"),
            &dir.join(".gitiam"),
            &dir.join("server.log"),
            env,
        )
    }

    /// Starts `gitiam serve --config CONFIG` for a configuration whose
    /// `state_dir` is `STATE` (relative to `dir`, the folder holding the
    /// configuration); the log goes to `dir/STATE.log`. For several servers
    /// sharing one folder.
    pub fn start_config(dir: &Path, config: &Path, state: &str) -> TestServer {
        Self::launch(
            dir,
            config,
            &dir.join(state),
            &dir.join(format!("{state}.log")),
            &[],
        )
        .unwrap_or_else(|e| panic!("gitiam serve did not start: {e}"))
    }

    fn launch(
        dir: &Path,
        config: &Path,
        state: &Path,
        log_path: &Path,
        env: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        let log = std::fs::File::create(log_path).unwrap();
        let mut child = Command::new(super::bin("gitiam"))
            .envs(env.iter().copied())
            .args(["serve", "--config"])
            .arg(config)
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
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let port = line
                    .strip_prefix("listening on https://127.0.0.1:")
                    .and_then(|p| p.trim().parse().ok())
                    .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
                Ok(TestServer {
                    dir: dir.to_path_buf(),
                    port,
                    state: state.to_path_buf(),
                    log: log_path.to_path_buf(),
                    child,
                })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(std::fs::read_to_string(log_path).unwrap_or_default())
            }
        }
    }

    /// `https://127.0.0.1:PORT` (the STS endpoint).
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT/v1/repos/NAME`.
    pub fn url(&self, repo: &str) -> String {
        format!("{}/v1/repos/{repo}", self.endpoint())
    }

    /// The generated certificate (trust anchor for clients).
    pub fn cert(&self) -> PathBuf {
        self.state.join("tls/cert.pem")
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every audit record so far.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until an audit record satisfies `pred` (records are written
    /// when responses end, which can be just after git exits).
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

    /// `git` trusting this server, signing with the real helper for `creds`.
    pub fn git(&self, cwd: &Path, creds: &Creds) -> Command {
        let helper = super::bin("git-credential-gitiam");
        let mut cmd = self.git_base(cwd);
        cmd.args(["-c", "credential.helper="])
            .arg("-c")
            .arg(format!("credential.helper={}", helper.display()))
            .env("AWS_ACCESS_KEY_ID", &creds.akid)
            .env("AWS_SECRET_ACCESS_KEY", &creds.secret)
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_REGION", REGION);
        cmd
    }

    /// `git` trusting this server, presenting exactly `username`/`password`.
    pub fn git_fixed(&self, cwd: &Path, username: &str, password: &str) -> Command {
        let mut cmd = self.git_base(cwd);
        cmd.args(["-c", "credential.helper="]).arg("-c").arg(format!(
            "credential.helper=!f() {{ echo username={username}; echo password={password}; }}; f"
        ));
        cmd
    }

    /// `git` trusting this server with no credential helper at all.
    pub fn git_anonymous(&self, cwd: &Path) -> Command {
        let mut cmd = self.git_base(cwd);
        cmd.args(["-c", "credential.helper="]);
        cmd
    }

    fn git_base(&self, cwd: &Path) -> Command {
        let mut cmd = git_cmd(cwd);
        let aws = self.dir.join("aws-none");
        cmd.arg("-c")
            .arg(format!("http.sslCAInfo={}", self.cert().display()))
            .args(["-c", "credential.useHttpPath=true"])
            .env("AWS_CONFIG_FILE", aws.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN");
        cmd
    }

    /// A CodeCommit password signed now (or at `time`) for `repo`.
    pub fn password(&self, secret: &str, repo: &str, time: SystemTime) -> String {
        gitiam::shared::sigv4::codecommit::password(
            secret,
            REGION,
            "127.0.0.1",
            &format!("/v1/repos/{repo}"),
            time,
        )
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }

    /// Sends SIGHUP (reload).
    pub fn hangup(&self) {
        let _ = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read by [`TestServer::request`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl TestServer {
    /// Sends one HTTPS request over HTTP/1.1 (trusting the server's
    /// certificate) and reads the whole answer.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let localhost = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        self.request_from(localhost, method, path, headers, "")
    }

    /// [`TestServer::request`] from the local address `source` (another
    /// loopback address is another client to the server), with `body`.
    pub fn request_from(
        &self,
        source: std::net::IpAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        use http_body_util::{BodyExt, Full};
        use std::net::{Ipv4Addr, SocketAddr};

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = client_config(&self.cert());
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(source, 0)).unwrap();
            let tcp = socket
                .connect(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.port))
                .await
                .unwrap();
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let mut req = http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", format!("127.0.0.1:{}", self.port));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = sender
                .send_request(
                    req.body(Full::new(bytes::Bytes::from(body.to_owned())))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            HttpResponse {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        })
    }
}

/// A TLS client configuration that trusts only `cert` (a test server's
/// certificate), for tests that speak TLS themselves.
pub fn client_config(cert: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}
