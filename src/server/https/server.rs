//! The listener: TLS over TCP, HTTP/1.1 and HTTP/2 (ALPN), under limits on
//! concurrent connections, TLS handshake and request-head time, and header
//! size; graceful shutdown on SIGTERM/SIGINT (stop accepting, let requests
//! in flight finish within the configured time).

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::shared::config::Config;

use super::service;
use crate::server::connections::{ConnectionSlot, ConnectionSlots};
use crate::server::state::{StartError, State};
use crate::server::tls;
use crate::server::{proxy_protocol, reload};

/// Called once with the bound address, after `listening on` is printed.
pub type OnListening = Box<dyn FnOnce(SocketAddr) + Send>;

/// Another front door on the same state (the SSH door, started by the
/// CLI): gets the state and the shutdown signal, returns once it is bound
/// (and has printed its own lines) with `Some(task)` if it serves, the task
/// ending once its sessions are done after shutdown.
pub type StartDoor = Box<
    dyn FnOnce(
            Arc<State>,
            watch::Receiver<bool>,
        ) -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = Result<Option<tokio::task::JoinHandle<()>>, StartError>,
                    > + Send,
            >,
        > + Send,
>;

/// Options of [`serve`] that do not come from the configuration file.
pub struct ServeOptions {
    /// The configuration file, watched for reloads.
    pub config_path: PathBuf,
    /// Overrides `[server] listen`.
    pub listen: Option<SocketAddr>,
    /// Runs once the socket is bound (quickstart prints its instructions
    /// with the real port).
    pub on_listening: Option<OnListening>,
    /// Other front doors, started after `listening on` is printed.
    pub doors: Vec<StartDoor>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("config_path", &self.config_path)
            .field("listen", &self.listen)
            .field("on_listening", &self.on_listening.is_some())
            .field("doors", &self.doors.len())
            .finish()
    }
}

/// Serves `config` until SIGTERM or SIGINT. Prints `listening on
/// https://ADDR` (with the real port) to stdout once the socket is bound.
pub async fn serve(config: Config, options: ServeOptions) -> Result<(), StartError> {
    let tls_files = tls::certificate_files(config.server.tls.as_ref(), &config.server.state_dir)?;
    let acceptor = TlsAcceptor::from(tls::server_config(&tls_files, config.server.http2)?);
    let watched = config.files.clone();
    let addr = options.listen.unwrap_or(config.server.listen);
    let state = Arc::new(State::new(config)?);

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(StartError::Signals)?;
    let sighup = signal(SignalKind::hangup()).map_err(StartError::Signals)?;
    let reloader = reload::spawn(
        Arc::clone(&state),
        options.config_path.clone(),
        watched,
        sighup,
    );
    let _deliveries = state.events.spawn();

    tracing::info!(%local, cert = %tls_files.cert.display(), "serving");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on https://{local}");
        let _ = out.flush();
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut doors = Vec::new();
    if let Some(addr) = state.server.fleet.health_listen {
        let (_, task) = super::health::start(addr, shutdown_rx.clone()).await?;
        doors.push(task);
    }
    for door in options.doors {
        doors.extend(door(Arc::clone(&state), shutdown_rx.clone()).await?);
    }
    if let Some(f) = options.on_listening {
        f(local);
    }

    let http = Arc::new(HttpBuilders::new(&state));
    let slots = ConnectionSlots::new(state.server.max_connections);

    loop {
        let slot = tokio::select! {
            s = slots.take() => match s {
                Some(s) => s,
                None => break,
            },
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        };
        tokio::spawn(connection(
            Arc::clone(&state),
            acceptor.clone(),
            Arc::clone(&http),
            tcp,
            peer,
            slot,
            shutdown_rx.clone(),
        ));
    }

    drop(listener);
    tracing::info!("shutting down: no new connections; waiting for requests in flight");
    let _ = shutdown_tx.send(true);
    match slots.drained(state.server.shutdown_timeout).await {
        true => tracing::info!("all connections closed"),
        false => tracing::warn!(
            timeout = ?state.server.shutdown_timeout,
            "shutdown timeout: closing remaining connections"
        ),
    }
    for door in doors {
        let _ = tokio::time::timeout(state.server.shutdown_timeout, door).await;
    }
    reloader.abort();
    Ok(())
}

/// One builder per protocol. The protocol comes from ALPN: hyper-util's
/// automatic detection reads the first bytes of a connection with no
/// timeout, so a client that completes the TLS handshake and then sends
/// nothing would hold its connection slot forever. HTTP/2 over TLS is only
/// ever negotiated with ALPN (RFC 9113, section 3.2).
struct HttpBuilders {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

impl HttpBuilders {
    fn new(state: &State) -> Self {
        let builder = http_builder(state);
        Self {
            http1: builder.clone().http1_only(),
            http2: builder.http2_only(),
        }
    }
}

fn http_builder(state: &State) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper requires at least 8 KiB of read buffer.
    let max_header = state.server.max_header_bytes.max(8192);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.server.header_read_timeout)
        .max_buf_size(max_header)
        .half_close(false);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_header).unwrap_or(u32::MAX))
        .max_concurrent_streams(64)
        .keep_alive_interval(Some(std::time::Duration::from_secs(30)));
    builder
}

async fn connection(
    state: Arc<State>,
    acceptor: TlsAcceptor,
    http: Arc<HttpBuilders>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    _slot: ConnectionSlot,
    mut shutdown: watch::Receiver<bool>,
) {
    state.metrics.connection_opened();
    let _open = OpenConnection(&state);
    let _ = tcp.set_nodelay(true);
    // Behind a load balancer the client is who its header says: from here
    // on `peer` is that address (aws:SourceIp, audit, throttling, the
    // upstream's X-Forwarded-For).
    let Some(peer) = proxy_protocol::client_address(
        state.server.fleet.proxy_protocol.as_ref(),
        &mut tcp,
        peer,
        state.server.header_read_timeout,
        "https",
    )
    .await
    else {
        return;
    };
    let tls =
        match tokio::time::timeout(state.server.header_read_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
    let service_state = Arc::clone(&state);
    let svc = hyper::service::service_fn(move |req| {
        let state = Arc::clone(&service_state);
        async move { Ok::<_, Infallible>(service::handle(state, req, peer).await) }
    });
    let http = if tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice()) {
        &http.http2
    } else {
        // hyper's HTTP/1 header read timeout runs from the start of the
        // connection, so a silent client is closed like a slow one.
        &http.http1
    };
    let conn = http.serve_connection(TokioIo::new(tls), svc);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error during shutdown");
            }
        }
    }
}

/// Decrements the open-connections gauge however the connection ends.
struct OpenConnection<'a>(&'a State);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}
