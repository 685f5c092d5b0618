//! The last layer: hand an authorized request to the backend, streaming
//! the body both ways. The client's `Authorization` never leaves the proxy
//! (the backends drop it); the principal travels as `REMOTE_USER` for the
//! embedded backend so that `git http-backend` enables receive-pack only
//! for requests gitiam authorized.

use std::net::IpAddr;

use bytes::Bytes;
use http::Response;

use crate::server::backend::{self, Backend, BackendRequest};
use crate::shared::BoxError;
use crate::shared::git::{GitEndpoint, RepoName};

use super::ProxyBody;
use super::error::HttpError;
use crate::server::access::Authenticated;
use crate::server::state::State;

/// What the request looked like, minus its body.
pub struct Forward<'a> {
    /// The authenticated caller (its proof shows authorization ran on a
    /// verified caller).
    pub caller: &'a Authenticated,
    /// Repository.
    pub repo: RepoName,
    /// Endpoint.
    pub endpoint: GitEndpoint,
    /// Request method.
    pub method: http::Method,
    /// Request headers (the backend filters them).
    pub headers: http::HeaderMap,
    /// Client address.
    pub client_ip: IpAddr,
}

/// Streams the request to the backend and returns its response.
pub async fn forward<B>(
    state: &State,
    request: Forward<'_>,
    body: B,
) -> Result<Response<ProxyBody>, HttpError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let backend_request = BackendRequest {
        account: request.caller.identity().account().to_string(),
        repo: request.repo,
        endpoint: request.endpoint,
        method: request.method,
        headers: request.headers,
        principal_arn: request.caller.identity().arn().to_string(),
        client_ip: request.client_ip.to_canonical(),
        client_scheme: "https",
        body: backend::request_body(body),
    };
    let response = state.backend.forward(backend_request).await?;
    // `git http-backend` answers a bare 500 when git fails in the
    // repository; its stderr is in the log. The client gets a 502 that
    // says the backend failed. (An upstream's own 5xx, which may explain
    // itself, is passed on; its 401/407 the upstream backend already
    // turned into an error, since a challenge there is about gitiam's own
    // credential.)
    let status = response.status();
    if status.is_server_error() && matches!(state.backend, Backend::Cgi(_)) {
        return Err(HttpError::BackendFailed(status.as_u16()));
    }
    Ok(response)
}
