//! `gitiam serve`: load and validate the configuration, then run the proxy
//! until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::server::https::{self, ServeOptions};
use crate::shared::config;

/// Exit codes of `gitiam serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Served and shut down cleanly.
    Ok = 0,
    /// The server could not start (TLS, bind, backend, key file).
    StartFailed = 1,
    /// The configuration or a policy file is invalid.
    BadConfig = 2,
}

/// Arguments of `gitiam serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); relative paths in it resolve from its folder.
    #[arg(long, short = 'c', value_name = "FILE", default_value = "gitiam.toml")]
    pub config: PathBuf,
    /// Address to listen on, overriding `[server] listen` (port 0 picks a
    /// free port; the real one is printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address of the SSH door, overriding `[server] ssh_listen` (port 0
    /// picks a free port; the real one is printed).
    #[arg(long, value_name = "ADDR")]
    pub ssh_listen: Option<SocketAddr>,
}

/// Runs the command; returns the process exit code.
pub fn run(args: Args) -> anyhow::Result<u8> {
    init_logging();
    let mut config = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gitiam: {e}");
            return Ok(Exit::BadConfig as u8);
        }
    };
    if let Some(ssh) = args.ssh_listen {
        config.server.ssh.listen = Some(ssh);
    }
    serve_config(config, args.config, args.listen)
}

/// Serves an already loaded `config` (also used by `gitiam quickstart`).
pub fn serve_config(
    config: config::Config,
    config_path: PathBuf,
    listen: Option<SocketAddr>,
) -> anyhow::Result<u8> {
    serve_with(
        config,
        ServeOptions {
            config_path,
            listen,
            on_listening: None,
            doors: vec![ssh_door()],
        },
    )
}

/// The SSH door, started by `serve` on its state when `[server]
/// ssh_listen` is set.
pub fn ssh_door() -> https::server::StartDoor {
    Box::new(|state, stop| {
        Box::pin(async move {
            let started = crate::server::ssh::start(state, stop).await?;
            Ok(started.map(|(_, task)| task))
        })
    })
}

/// Serves `config` with `options` on a new multi-threaded runtime.
pub fn serve_with(config: config::Config, options: ServeOptions) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gitiam")
        .build()?;
    let https_addr = options.listen.unwrap_or(config.server.listen);
    let ssh_addr = config.server.ssh.listen;
    match runtime.block_on(https::serve(config, options)) {
        Ok(()) => Ok(Exit::Ok as u8),
        Err(e) => {
            eprintln!("gitiam: {e}{}", busy_port_hint(&e, https_addr, ssh_addr));
            Ok(Exit::StartFailed as u8)
        }
    }
}

/// For a port another program holds: which flag picks another address.
fn busy_port_hint(
    e: &crate::server::state::StartError,
    https_addr: SocketAddr,
    ssh_addr: Option<SocketAddr>,
) -> String {
    let crate::server::state::StartError::Bind { addr, source } = e else {
        return String::new();
    };
    if source.kind() != std::io::ErrorKind::AddrInUse {
        return String::new();
    }
    let flag = if Some(*addr) == ssh_addr && *addr != https_addr {
        "--ssh-listen"
    } else {
        "--listen"
    };
    format!(
        "; another program uses port {}: choose another address with {flag} (e.g. {flag} {}:0 for a free port)",
        addr.port(),
        addr.ip()
    )
}

/// Logs to stderr, filtered by `GITIAM_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GITIAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
