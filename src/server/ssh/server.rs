//! The listener: TCP, russh's SSH transport with public-key
//! authentication only, under limits on concurrent connections, the time to
//! the SSH banner and to a successful login, authentication attempts (each
//! rejection takes a constant time) and silence; stops accepting on
//! shutdown and lets sessions in flight finish within the configured time.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};
use russh::server::Config;
use russh::{MethodKind, MethodSet, Preferred, SshId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::bridge;
use super::error::SshError;
use super::session::{Connection, Outcome};
use crate::server::connections::{ConnectionSlot, ConnectionSlots, stopped};
use crate::server::proxy_protocol;
use crate::server::state::{StartError, State};

/// Time from TCP accept to a successful login (OpenSSH's LoginGraceTime).
pub const LOGIN_GRACE: Duration = Duration::from_secs(30);
/// Time every rejected authentication attempt takes.
pub const REJECTION_TIME: Duration = Duration::from_secs(1);
/// Authentication attempts per connection.
pub const MAX_AUTH_ATTEMPTS: usize = 6;
/// Shortest silence after which a connection is closed (whatever
/// `body_idle_timeout` says): git's own keepalives (every 5 s while
/// upload-pack or receive-pack works quietly) keep a busy one alive.
pub const MIN_IDLE: Duration = Duration::from_secs(120);

/// Host and user key algorithms: no `ssh-rsa` (SHA-1) signatures.
const KEY_ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// The russh configuration for `keys`.
pub fn russh_config(state: &State, keys: Vec<PrivateKey>) -> Config {
    Config {
        server_id: SshId::Standard(Cow::Borrowed("SSH-2.0-gitiam")),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: REJECTION_TIME,
        // OpenSSH opens with a `none` attempt to learn the methods; that
        // answer reveals nothing and need not wait.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        // No SSH keepalives: a client answering them could hold a
        // connection slot forever while doing nothing.
        inactivity_timeout: Some(state.server.body_idle_timeout.max(MIN_IDLE)),
        keepalive_interval: None,
        nodelay: true,
        preferred: Preferred {
            key: Cow::Borrowed(KEY_ALGORITHMS),
            ..Preferred::DEFAULT
        },
        ..Config::default()
    }
}

/// Binds `addr` and serves SSH in the background until `stop` turns true;
/// returns the bound address and the task, which ends once the sessions in
/// flight are done (or the shutdown timeout passed).
pub async fn bind(
    state: Arc<State>,
    config: Config,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let task = tokio::spawn(accept_loop(state, Arc::new(config), listener, stop));
    Ok((local, task))
}

async fn accept_loop(
    state: Arc<State>,
    config: Arc<Config>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let slots = ConnectionSlots::new(state.server.max_connections);
    loop {
        let slot = tokio::select! {
            s = slots.take() => match s {
                Some(s) => s,
                None => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "ssh accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        tokio::spawn(connection(
            Arc::clone(&state),
            Arc::clone(&config),
            tcp,
            peer,
            slot,
        ));
    }
    drop(listener);
    if !slots.drained(state.server.shutdown_timeout).await {
        tracing::warn!("ssh: closing remaining sessions");
    }
}

async fn connection(
    state: Arc<State>,
    config: Arc<Config>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    _slot: ConnectionSlot,
) {
    state.metrics.connection_opened();
    let _open = OpenConnection(&state);
    let _ = tcp.set_nodelay(true);
    // Behind a load balancer the client is who its header says: from here
    // on `peer` is that address (aws:SourceIp, audit, throttling).
    let Some(peer) = proxy_protocol::client_address(
        state.server.fleet.proxy_protocol.as_ref(),
        &mut tcp,
        peer,
        state.server.header_read_timeout,
        "ssh",
    )
    .await
    else {
        return;
    };
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let handler = Connection::new(Arc::clone(&state), peer, Arc::clone(&outcome));
    // run_stream reads the client's banner before it returns.
    let started = tokio::time::timeout(
        state.server.header_read_timeout,
        russh::server::run_stream(config, tcp, handler),
    )
    .await;
    let session = match started {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "ssh handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "ssh banner timed out");
            return;
        }
    };
    let handle = session.handle();
    let watched = Arc::clone(&outcome);
    let grace = tokio::spawn(async move {
        tokio::time::sleep(LOGIN_GRACE).await;
        let authenticated = watched.lock().map(|o| o.authenticated).unwrap_or(false);
        if !authenticated {
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "login grace time exceeded".into(),
                    String::new(),
                )
                .await;
        }
    });
    if let Err(e) = session.await {
        tracing::debug!(%peer, error = %e, "ssh session ended with an error");
    }
    grace.abort();
    audit_failed_login(&state, peer, &outcome);
}

/// One audit line for a connection that tried a key and never logged in.
fn audit_failed_login(state: &State, peer: SocketAddr, outcome: &Mutex<Outcome>) {
    let Ok(o) = outcome.lock() else {
        return;
    };
    if o.authenticated {
        return;
    }
    let Some(key_id) = &o.key_id else {
        return;
    };
    let mut record = bridge::new_record(SystemTime::now(), peer, "auth", "");
    record.ssh_key_id = Some(key_id.clone());
    let reason = if o.refusals.is_empty() {
        "the signature did not verify".to_owned()
    } else {
        let reasons: Vec<String> = o.refusals.iter().map(ToString::to_string).collect();
        reasons.join("; ")
    };
    bridge::audit_refused(state, record, &SshError::Unauthenticated(reason));
}

/// Decrements the open-connections gauge however the connection ends.
struct OpenConnection<'a>(&'a State);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}
