//! The SSH front door, as CodeCommit's: `ssh://KEY_ID@HOST/v1/repos/NAME`,
//! where `KEY_ID` is the id of one of the IAM user's uploaded SSH public
//! keys (`[[accounts.users]] ssh_keys`).
//!
//! - [`server`]: the listener, russh's transport and its limits;
//! - [`auth`]: public-key authentication (the user name is the key id; the
//!   identity is bound only once russh has verified the signature);
//! - [`session`]: the channel requests of a connection (exec and
//!   `GIT_PROTOCOL` only);
//! - [`command`]: `git-upload-pack '/v1/repos/NAME'` and its kin;
//! - [`bridge`]: authorization through the access core, then
//!   `git upload-pack` / `git receive-pack` on the embedded backend's
//!   repository, with a push's refs decided before receive-pack reads them;
//! - [`host_keys`]: the server's host keys;
//! - [`error`]: how a refusal reaches the client (stderr and exit status).
//!
//! The upstream backend is not bridged: with `backend.upstream` and
//! `ssh_listen` set, the server refuses to start.

pub mod auth;
pub mod bridge;
pub mod command;
pub mod error;
pub mod host_keys;
pub mod server;
pub mod session;

use std::io::Write as _;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::server::backend::Backend;
use crate::server::state::{StartError, State};

/// Starts the SSH door when `[server] ssh_listen` asks for one; prints
/// `ssh listening on ADDR` and the host keys' fingerprints to stdout. The
/// task ends once `stop` turned true and the sessions in flight are done.
pub async fn start(
    state: Arc<State>,
    stop: watch::Receiver<bool>,
) -> Result<Option<(std::net::SocketAddr, JoinHandle<()>)>, StartError> {
    let Some(addr) = state.server.ssh.listen else {
        return Ok(None);
    };
    if matches!(state.backend, Backend::Upstream(_)) {
        return Err(StartError::Ssh(
            "ssh_listen needs the embedded backend (backend.repos); SSH is not bridged to an upstream Git server".into(),
        ));
    }
    let keys = host_keys::load(&state.server).map_err(|e| StartError::Ssh(e.to_string()))?;
    let fingerprints: Vec<String> = keys.iter().map(host_keys::fingerprint).collect();
    let config = server::russh_config(&state, keys);
    let (local, task) = server::bind(Arc::clone(&state), config, addr, stop).await?;
    tracing::info!(%local, "serving ssh");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ssh listening on {local}");
    for f in fingerprints {
        let _ = writeln!(out, "ssh host key {f}");
    }
    let _ = out.flush();
    Ok(Some((local, task)))
}
