//! `[server] health_listen`: a plain-HTTP listener that answers
//! `GET /healthz` and nothing else, for probes that cannot send a PROXY
//! protocol header or speak TLS (Kubernetes' readiness and liveness
//! probes). It stops with the server's listeners, so a draining replica
//! fails its readiness probe at once.
//!
//! It carries no Git traffic and no credentials, so it needs neither TLS
//! nor the PROXY protocol; it still limits what a client can hold: a few
//! connections at once, a deadline for the request head, small heads.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::error;
use crate::server::connections::stopped;
use crate::server::state::StartError;

/// Connections served at once (probes open one at a time).
const MAX_CONNECTIONS: usize = 16;
/// Time allowed for a request head, and for the whole connection.
const DEADLINE: Duration = Duration::from_secs(5);

/// Binds `addr`, prints `health on http://ADDR`, and serves `/healthz`
/// until `stop` turns true.
pub async fn start(
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    tracing::info!(%local, "health listener");
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "health on http://{local}");
        let _ = out.flush();
    }
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "health accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped(&mut stop) => break,
            };
            // More probes than this at once are not probes: close.
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                continue;
            };
            tokio::spawn(async move {
                let _permit = permit;
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(DEADLINE)
                    .max_buf_size(8192)
                    .keep_alive(false)
                    .serve_connection(
                        TokioIo::new(tcp),
                        hyper::service::service_fn(|req| async move {
                            Ok::<_, Infallible>(answer(req.method(), req.uri().path()))
                        }),
                    );
                let _ = tokio::time::timeout(DEADLINE, conn).await;
            });
        }
    });
    Ok((local, task))
}

/// `GET`/`HEAD /healthz` is 200 `ok`; the path with another method is
/// 405; anything else 404.
fn answer(method: &Method, path: &str) -> http::Response<super::ProxyBody> {
    match (path, method) {
        ("/healthz", &Method::GET | &Method::HEAD) => error::text(StatusCode::OK, "ok\n"),
        ("/healthz", _) => {
            let mut r = error::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, HEAD"),
            );
            r
        }
        _ => error::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_healthz_is_served() {
        assert_eq!(answer(&Method::GET, "/healthz").status(), StatusCode::OK);
        assert_eq!(answer(&Method::HEAD, "/healthz").status(), StatusCode::OK);
        assert_eq!(
            answer(&Method::POST, "/healthz").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        for path in ["/metrics", "/", "/v1/repos/x", "/healthz/"] {
            assert_eq!(answer(&Method::GET, path).status(), StatusCode::NOT_FOUND);
        }
    }
}
