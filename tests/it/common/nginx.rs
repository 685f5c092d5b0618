//! A real Git smart-HTTP server that is not gitiam: Debian's nginx in front
//! of fcgiwrap running `git http-backend`, optionally behind HTTP basic auth.
//! Used as the upstream in forwarding tests and as the direct path in the
//! benchmark. Everything lives in a temporary directory; both processes are
//! killed when the fixture is dropped.
//!
//! Needs the Debian packages `nginx` and `fcgiwrap` (in `/usr/sbin`), `git`
//! and `openssl` (for the apr1 password hash).

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::CommandExt as _;

/// Path of a tool that Debian installs in `/usr/sbin` (not always on PATH).
fn sbin(name: &str) -> PathBuf {
    let p = Path::new("/usr/sbin").join(name);
    if p.exists() { p } else { PathBuf::from(name) }
}

/// True when nginx, fcgiwrap and openssl can run (see `require_tool`).
pub fn available(test: &str) -> bool {
    super::require_tool(test, sbin("nginx").to_str().unwrap(), &["-v"])
        && super::require_tool(test, sbin("fcgiwrap").to_str().unwrap(), &["-h"])
        && super::require_tool(test, "openssl", &["version"])
}

/// A running nginx + fcgiwrap + `git http-backend`.
pub struct NginxGit {
    /// `http://127.0.0.1:PORT`; repository `REPOS/X/Y.git` is at `{url}/X/Y.git`.
    pub url: String,
    /// Temporary directory with the config, logs and socket.
    pub dir: tempfile::TempDir,
    nginx: Child,
    fcgiwrap: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_backend() -> PathBuf {
    let out = Command::new("git").arg("--exec-path").ok();
    PathBuf::from(out.stdout.trim()).join("git-http-backend")
}

impl NginxGit {
    /// Serves every bare repository under `repos_dir` (receive-pack enabled).
    /// With `basic_auth`, requests need those credentials and the user is
    /// passed to http-backend as `REMOTE_USER`.
    pub fn start(repos_dir: &Path, basic_auth: Option<(&str, &str)>) -> NginxGit {
        Self::start_inner(repos_dir, basic_auth, None)
    }

    /// Like [`start`](Self::start) but over HTTPS with the given PEM
    /// certificate chain and key; `url` is then `https://127.0.0.1:PORT`.
    pub fn start_tls(
        repos_dir: &Path,
        basic_auth: Option<(&str, &str)>,
        cert_pem: &Path,
        key_pem: &Path,
    ) -> NginxGit {
        Self::start_inner(repos_dir, basic_auth, Some((cert_pem, key_pem)))
    }

    fn start_inner(
        repos_dir: &Path,
        basic_auth: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> NginxGit {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["body", "fastcgi", "proxy", "uwsgi", "scgi"] {
            std::fs::create_dir_all(d.join("tmp").join(sub)).unwrap();
        }
        let socket = d.join("fcgiwrap.sock");
        let fcgiwrap = Command::new(sbin("fcgiwrap"))
            .arg("-c")
            .arg("4")
            .arg("-s")
            .arg(format!("unix:{}", socket.display()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("fcgiwrap.log")).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        super::wait_for("fcgiwrap", Duration::from_secs(10), || socket.exists());

        let auth = match basic_auth {
            Some((user, pass)) => {
                let out = Command::new("openssl").args(["passwd", "-apr1", pass]).ok();
                let hash = out.stdout.trim().to_owned();
                let htpasswd = d.join("htpasswd");
                let mut f = std::fs::File::create(&htpasswd).unwrap();
                writeln!(f, "{user}:{hash}").unwrap();
                format!(
                    "auth_basic \"git\";\n            auth_basic_user_file {};\n            fastcgi_param REMOTE_USER $remote_user;",
                    htpasswd.display()
                )
            }
            None => "fastcgi_param REMOTE_USER anonymous;".to_owned(),
        };
        // A free port can be taken between probing and nginx's bind when
        // tests run in parallel: retry on "Address already in use".
        let mut attempt = 0;
        let (nginx, port) = loop {
            attempt += 1;
            let port = free_port();
            // Running as root, nginx would switch its workers to `nobody`,
            // which cannot reach the socket or the repositories.
            let user = if is_root() { "user root root;" } else { "" };
            let t = d.join("tmp");
            let conf = format!(
                r#"{user}
    daemon off;
    master_process on;
    worker_processes 2;
    pid {pid};
    error_log {log} warn;
    events {{ worker_connections 1024; }}
    http {{
        access_log off;
        client_body_temp_path {t}/body;
        fastcgi_temp_path {t}/fastcgi;
        proxy_temp_path {t}/proxy;
        uwsgi_temp_path {t}/uwsgi;
        scgi_temp_path {t}/scgi;
        client_max_body_size 0;
        server {{
            listen 127.0.0.1:{port}{ssl};
            location / {{
                {auth}
                include /etc/nginx/fastcgi_params;
                fastcgi_param SCRIPT_FILENAME {backend};
                fastcgi_param GIT_PROJECT_ROOT {repos};
                fastcgi_param GIT_HTTP_EXPORT_ALL "";
                fastcgi_param PATH_INFO $uri;
                fastcgi_read_timeout 600s;
                fastcgi_pass unix:{socket};
            }}
        }}
    }}
    "#,
                pid = d.join("nginx.pid").display(),
                log = d.join("error.log").display(),
                t = t.display(),
                backend = http_backend().display(),
                repos = repos_dir.display(),
                socket = socket.display(),
                ssl = match tls {
                    Some((cert, key)) => format!(
                        " ssl;\n        ssl_certificate {};\n        ssl_certificate_key {}",
                        cert.display(),
                        key.display()
                    ),
                    None => String::new(),
                },
            );
            let conf_path = d.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let _ = std::fs::remove_file(d.join("nginx.pid"));
            let mut nginx = Command::new(sbin("nginx"))
                .arg("-p")
                .arg(d)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(d.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap();
            // The pid file appears once the listening socket is bound.
            let start = Instant::now();
            let up = loop {
                if let Ok(Some(_)) = nginx.try_wait() {
                    break false;
                }
                if d.join("nginx.pid").exists()
                    && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    break true;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "nginx did not come up"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            if up {
                break (nginx, port);
            }
            let log = std::fs::read_to_string(d.join("error.log")).unwrap_or_default();
            assert!(
                attempt < 5 && log.contains("Address already in use"),
                "nginx exited: {log}"
            );
        };
        // fcgiwrap is only checked for being alive: it answers on first use.
        let mut fixture = NginxGit {
            url: format!(
                "{}://127.0.0.1:{port}",
                if tls.is_some() { "https" } else { "http" }
            ),
            dir,
            nginx,
            fcgiwrap,
        };
        assert!(
            fixture.fcgiwrap.try_wait().unwrap().is_none(),
            "fcgiwrap exited"
        );
        fixture
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Signals the process group led by `child` (both servers fork workers
/// that would outlive their parent otherwise).
fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{}", child.id()))
        .stderr(Stdio::null())
        .status();
}

impl Drop for NginxGit {
    fn drop(&mut self) {
        for child in [&mut self.nginx, &mut self.fcgiwrap] {
            signal_group(child, "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            signal_group(child, "KILL");
            let _ = child.wait();
        }
    }
}
