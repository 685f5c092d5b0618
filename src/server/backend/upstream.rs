//! Forwarding to any Git smart-HTTP server (Gitea, GitLab, nginx +
//! `git http-backend`, ...) with hyper-util's pooled client, over plain
//! HTTP or HTTPS (rustls; the webpki roots or a CA file).
//!
//! The upstream URL is a template such as
//! `http://127.0.0.1:3000/{account}/{repo}.git`; the endpoint's path
//! (`/info/refs`, `/git-upload-pack`, `/git-receive-pack`) and canonical
//! query are appended. The client's `Authorization` never leaves the proxy;
//! the upstream may instead get a fixed credential of gitiam's own
//! ([`UpstreamAuth`]), which is never logged or shown in `Debug`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use bytes::Bytes;

use super::symrefs::{self, RefTargets};
use super::{BackendBody, BackendError, BackendRequest, RequestBody};
use crate::server::body::Activity;
use crate::shared::BoxError;
use crate::shared::git::{GitEndpoint, GitService, RepoName};

/// A header gitiam adds to every upstream request (e.g.
/// `Authorization: Basic ...`). Its value is a secret.
#[derive(Clone)]
pub struct UpstreamAuth {
    name: http::HeaderName,
    value: http::HeaderValue,
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamAuth")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl UpstreamAuth {
    /// A header `name: value`.
    pub fn new(name: &str, value: &str) -> Result<Self, String> {
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| "invalid upstream auth header name".to_owned())?;
        let mut value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| "invalid upstream auth header value".to_owned())?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }

    /// Parses a full header line, `Name: value`.
    pub fn parse_line(line: &str) -> Result<Self, String> {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| "upstream auth header must look like `Name: value`".to_owned())?;
        Self::new(name, value)
    }

    /// Reads a `Name: value` line from environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, String> {
        let line = std::env::var(var)
            .map_err(|_| format!("environment variable {var} is not set or not UTF-8"))?;
        Self::parse_line(&line).map_err(|e| format!("{var}: {e}"))
    }

    /// The header name.
    pub fn name(&self) -> &http::HeaderName {
        &self.name
    }
}

/// Settings of an upstream backend.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `http(s)://host[:port]/path/{account}/{repo}.git` (`{account}` optional).
    pub url_template: String,
    /// PEM file of CA certificates trusted for an `https` upstream instead
    /// of the built-in web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Credential presented to the upstream.
    pub auth: Option<UpstreamAuth>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the response head while the request body is idle.
    pub response_timeout: Duration,
    /// Longest silence from the upstream once its answer has started.
    pub response_idle_timeout: Duration,
}

impl UpstreamConfig {
    /// Defaults: no CA file, no credential, 10 s connect, 60 s to the
    /// response head, 300 s of silence mid-answer.
    pub fn new(url_template: impl Into<String>) -> Self {
        Self {
            url_template: url_template.into(),
            ca_file: None,
            auth: None,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
            response_idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Forwards to a smart-HTTP server.
#[derive(Clone)]
pub struct UpstreamBackend {
    inner: Arc<UpstreamInner>,
}

struct UpstreamInner {
    config: UpstreamConfig,
    client: Client<UpstreamConnector, RequestBody>,
}

impl std::fmt::Debug for UpstreamBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBackend")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn bad_config(msg: impl Into<String>) -> BackendError {
    BackendError::BadRequest(msg.into())
}

impl UpstreamBackend {
    /// Validates the template and builds the client (TLS roots loaded now).
    pub fn new(config: UpstreamConfig) -> Result<Self, BackendError> {
        let probe = config
            .url_template
            .replace("{account}", "0")
            .replace("{repo}", "r");
        let uri: http::Uri = probe
            .parse()
            .map_err(|_| bad_config("upstream URL template is not a valid URL"))?;
        if !config.url_template.contains("{repo}") {
            return Err(bad_config("upstream URL template must contain {repo}"));
        }
        if !matches!(uri.scheme_str(), Some("http") | Some("https")) || uri.host().is_none() {
            return Err(bad_config(
                "upstream URL must be http:// or https:// with a host",
            ));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad_config(
                "upstream URL must not carry credentials; use the upstream auth header",
            ));
        }
        if uri.query().is_some() {
            return Err(bad_config("upstream URL must not have a query string"));
        }

        let connector = UpstreamConnector::new(config.ca_file.as_deref(), config.connect_timeout)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            inner: Arc::new(UpstreamInner { config, client }),
        })
    }

    /// The URL a request is sent to.
    fn url(&self, request: &BackendRequest) -> Result<http::Uri, BackendError> {
        self.endpoint_url(&request.account, &request.repo, request.endpoint)
    }

    /// The URL of `endpoint` of `repo` of `account`.
    fn endpoint_url(
        &self,
        account: &str,
        repo: &RepoName,
        endpoint: GitEndpoint,
    ) -> Result<http::Uri, BackendError> {
        super::check_account(account)?;
        let base = self
            .inner
            .config
            .url_template
            .replace("{account}", account)
            .replace("{repo}", repo.as_str());
        let mut url = format!("{}{}", base.trim_end_matches('/'), endpoint.subpath());
        if let Some(q) = endpoint.query() {
            url.push('?');
            url.push_str(&q);
        }
        url.parse()
            .map_err(|_| BackendError::BadRequest("upstream URL does not parse".to_owned()))
    }

    /// Streams the request to the upstream.
    pub async fn forward(
        &self,
        request: BackendRequest,
    ) -> Result<http::Response<BackendBody>, BackendError> {
        let uri = self.url(&request)?;
        let mut headers = request.headers;
        super::strip_hop_by_hop(&mut headers);
        for name in [
            http::header::AUTHORIZATION,
            http::header::HOST,
            http::header::COOKIE,
            http::header::FORWARDED,
            http::HeaderName::from_static("x-forwarded-for"),
            http::HeaderName::from_static("x-forwarded-proto"),
            http::HeaderName::from_static("x-forwarded-host"),
            // hyper's client does not do 100-continue; the upstream must
            // not wait for it.
            http::header::EXPECT,
        ] {
            headers.remove(name);
        }
        if let Ok(v) = http::HeaderValue::from_str(&request.client_ip.to_string()) {
            headers.insert("x-forwarded-for", v);
        }
        headers.insert(
            "x-forwarded-proto",
            http::HeaderValue::from_static(request.client_scheme),
        );
        if let Some(auth) = &self.inner.config.auth {
            headers.insert(auth.name.clone(), auth.value.clone());
        }

        let activity = Activity::new();
        let body = activity.track(request.body).boxed_unsync();
        let mut upstream = http::Request::new(body);
        *upstream.method_mut() = request.method;
        *upstream.uri_mut() = uri;
        *upstream.headers_mut() = headers;

        let response = super::wait_active(
            &activity,
            self.inner.config.response_timeout,
            self.inner.client.request(upstream),
        )
        .await?
        .map_err(|e| {
            if e.is_connect() {
                BackendError::Connect(Box::new(e))
            } else {
                BackendError::InvalidResponse(error_chain(&e))
            }
        })?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED
            || status == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED
        {
            return Err(BackendError::UpstreamAuth(status.as_u16()));
        }
        let (mut parts, body) = response.into_parts();
        super::strip_hop_by_hop(&mut parts.headers);
        let body = body.map_err(BoxError::from).boxed_unsync();
        let timeout = self.inner.config.response_idle_timeout;
        Ok(http::Response::from_parts(
            parts,
            super::idle_response(body, timeout, activity),
        ))
    }
}

impl UpstreamBackend {
    /// See [`Backend::push_targets`](super::Backend::push_targets): asks the
    /// upstream with Git protocol v2 `ls-refs` (`symrefs`, one `ref-prefix`
    /// per name), through the same client, URL template and credential as
    /// [`forward`](Self::forward). Each of the two requests (capability
    /// advertisement, `ls-refs`) must be answered in full within the
    /// response timeout and within [`MAX_LS_REFS_BYTES`](symrefs::MAX_LS_REFS_BYTES) bytes.
    ///
    /// An upstream that does not answer in protocol v2 fails with
    /// [`BackendError::UpstreamNotV2`]. What `ls-refs` cannot show (a
    /// dangling symref, intermediate links of a chain, refs hidden by
    /// `uploadpack.hideRefs`) is described in [`symrefs`].
    pub async fn push_targets(
        &self,
        account: &str,
        repo: &RepoName,
        names: &[&str],
    ) -> Result<Vec<RefTargets>, BackendError> {
        symrefs::check_names(names)?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let service = GitService::UploadPack;
        let info_refs = self.endpoint_url(account, repo, GitEndpoint::InfoRefs(service))?;
        let rpc = self.endpoint_url(account, repo, GitEndpoint::Rpc(service))?;

        let advert = self
            .v2_exchange(
                http::Method::GET,
                info_refs,
                None,
                service.advertisement_content_type(),
            )
            .await?;
        let advert = symrefs::parse_v2_advertisement(&advert)?;
        let request = symrefs::ls_refs_request(&advert, names)?;
        let answer = self
            .v2_exchange(
                http::Method::POST,
                rpc,
                Some(request),
                service.result_content_type(),
            )
            .await?;
        symrefs::parse_ls_refs(&answer, names)
    }

    /// One protocol v2 request to the upstream; returns the whole body
    /// (at most [`MAX_LS_REFS_BYTES`](symrefs::MAX_LS_REFS_BYTES)) once it is in, within the response
    /// timeout. A response of another content type than `content_type`
    /// (e.g. a dumb-HTTP or v0-only server's `text/plain`) is
    /// [`BackendError::UpstreamNotV2`].
    async fn v2_exchange(
        &self,
        method: http::Method,
        uri: http::Uri,
        body: Option<Bytes>,
        content_type: &'static str,
    ) -> Result<Bytes, BackendError> {
        let config = &self.inner.config;
        let mut request = http::Request::new(
            http_body_util::Full::new(body.clone().unwrap_or_default())
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert("git-protocol", http::HeaderValue::from_static("version=2"));
        if body.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(GitService::UploadPack.request_content_type()),
            );
            headers.insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static(content_type),
            );
        }
        if let Some(auth) = &config.auth {
            headers.insert(auth.name.clone(), auth.value.clone());
        }
        let timeout = config.response_timeout;
        let exchange = async {
            let response = self.inner.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    BackendError::Connect(Box::new(e))
                } else {
                    BackendError::InvalidResponse(error_chain(&e))
                }
            })?;
            let status = response.status();
            if status == http::StatusCode::UNAUTHORIZED
                || status == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED
            {
                return Err(BackendError::UpstreamAuth(status.as_u16()));
            }
            if status != http::StatusCode::OK {
                return Err(BackendError::InvalidResponse(format!(
                    "upstream answered HTTP {} to a protocol v2 request",
                    status.as_u16()
                )));
            }
            let actual = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !actual.eq_ignore_ascii_case(content_type) {
                return Err(BackendError::UpstreamNotV2(format!(
                    "expected content type {content_type}, got {actual:?}"
                )));
            }
            read_capped(response.into_body(), symrefs::MAX_LS_REFS_BYTES).await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| BackendError::Timeout(timeout))?
    }
}

/// Reads a whole body, failing once it exceeds `max` bytes.
async fn read_capped(mut body: hyper::body::Incoming, max: usize) -> Result<Bytes, BackendError> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BackendError::InvalidResponse(error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            if out.len().saturating_add(data.len()) > max {
                return Err(BackendError::InvalidResponse(format!(
                    "upstream protocol v2 answer exceeds {max} bytes"
                )));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl UpstreamConnector {
    /// Plain TCP for `http`, rustls for `https` trusting `ca_file` (PEM)
    /// or the web PKI roots; also what webhook deliveries connect with.
    pub(crate) fn new(
        ca_file: Option<&std::path::Path>,
        connect_timeout: Duration,
    ) -> Result<Self, BackendError> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                use rustls_pki_types::pem::PemObject;
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad_config(format!("reading CA file {}: {e}", path.display())))?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        bad_config(format!("reading CA file {}: {e}", path.display()))
                    })?;
                    roots
                        .add(cert)
                        .map_err(|e| bad_config(format!("CA file {}: {e}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(bad_config(format!(
                        "CA file {} has no certificate",
                        path.display()
                    )));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        Ok(UpstreamConnector {
            http,
            tls: TlsConnector::from(Arc::new(tls)),
        })
    }
}

/// Plain TCP for `http`, rustls over TCP for `https`.
#[derive(Clone)]
pub(crate) struct UpstreamConnector {
    http: HttpConnector,
    tls: TlsConnector,
}

type ConnectFuture = Pin<Box<dyn Future<Output = Result<UpstreamStream, BoxError>> + Send>>;

impl tower_service::Service<http::Uri> for UpstreamConnector {
    type Response = UpstreamStream;
    type Error = BoxError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        tower_service::Service::<http::Uri>::poll_ready(&mut self.http, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> ConnectFuture {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let https = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_matches(|c| c == '[' || c == ']')
                .to_owned();
            let tcp = http.call(uri).await?;
            if !https {
                return Ok(UpstreamStream::Plain(tcp));
            }
            let name = rustls_pki_types::ServerName::try_from(host)?;
            let stream = tls.connect(name, tcp.into_inner()).await?;
            Ok(UpstreamStream::Tls(Box::new(TokioIo::new(stream))))
        })
    }
}

pub(crate) enum UpstreamStream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        match self {
            UpstreamStream::Plain(s) => s.connected(),
            UpstreamStream::Tls(s) => s.inner().get_ref().0.connected(),
        }
    }
}

impl Read for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(
            UpstreamBackend::new(UpstreamConfig::new(
                "http://127.0.0.1:3000/{account}/{repo}.git"
            ))
            .is_ok()
        );
        assert!(
            UpstreamBackend::new(UpstreamConfig::new("https://git.example.com/{repo}")).is_ok()
        );
        for bad in [
            "http://127.0.0.1:3000/x.git",
            "ftp://h/{repo}",
            "http://user:pw@h/{repo}",
            "not a url {repo}",
            "http://h/{repo}?a=b",
        ] {
            assert!(
                UpstreamBackend::new(UpstreamConfig::new(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn auth_is_redacted() {
        let a = UpstreamAuth::parse_line("Authorization: Basic c2VjcmV0").unwrap();
        assert_eq!(a.name(), "authorization");
        assert!(!format!("{a:?}").contains("c2VjcmV0"));
        assert!(UpstreamAuth::parse_line("no colon").is_err());
    }
}
