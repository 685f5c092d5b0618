//! `gitiam serve`: the HTTPS access-control proxy in front of Git.
//!
//! A request goes through layers, each in its own module:
//! [`server`] accepts TLS connections under limits and hands requests to
//! [`service`], which [`route`]s them; Git requests are authenticated
//! ([`authn`]: SigV4 Git credentials, yielding the `SignatureVerified`
//! proof), authorized ([`authz`]: IAM policies per repository, action and
//! ref) and forwarded ([`forward`]) to the backend. [`error`] is the one
//! place turning failures into HTTP responses; [`audit`] and [`metrics`]
//! record every request when its response is over; [`reload`] swaps the
//! identity directory when the configuration changes.

pub mod audit;
pub mod authn;
pub mod authz;
mod body;
pub mod error;
pub mod forward;
pub mod metrics;
pub mod reload;
pub mod route;
pub mod server;
pub mod service;
pub mod tls;

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

use crate::backend::{
    Backend, BackendError, CgiBackend, CgiConfig, UpstreamAuth, UpstreamBackend, UpstreamConfig,
};
use crate::config::{BackendConfig, BackendTarget, Config, Directory, ServerConfig};
use crate::git::BoxError;
use crate::sigv4::SigningKeyCache;
use crate::sts::config::StsSettings;
use crate::sts::keys::{KeyError, KeySet};

pub use server::{ServeOptions, StartError, serve};

/// Body type of every response.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// What every request handler shares.
#[derive(Debug)]
pub struct State {
    /// `[server]` as loaded at start (a reload does not change it).
    pub server: ServerConfig,
    /// `[sts]` as loaded at start.
    pub sts: StsSettings,
    /// The identities, swapped whole by [`reload`].
    pub directory: ArcSwap<Directory>,
    /// Session-token keys, swapped when the key file changes.
    pub sts_keys: ArcSwap<KeySet>,
    /// Where authorized requests go.
    pub backend: Backend,
    /// Derived SigV4 signing keys (Git and STS requests).
    pub signing_keys: SigningKeyCache,
    /// The audit log.
    pub audit: audit::AuditLog,
    /// The metrics.
    pub metrics: metrics::Metrics,
}

impl State {
    /// Builds the shared state from a validated configuration: opens the
    /// audit log, loads (or creates) the STS key file, sets up the backend.
    pub fn new(config: Config) -> Result<Self, StartError> {
        let backend = build_backend(&config.backend).map_err(StartError::Backend)?;
        let audit =
            audit::AuditLog::open(&config.server.audit).map_err(|source| StartError::Audit {
                sink: format!("{:?}", config.server.audit),
                source,
            })?;
        let keys = load_sts_keys(&config.sts)?;
        Ok(Self {
            server: config.server,
            sts: config.sts,
            directory: ArcSwap::from_pointee(config.directory),
            sts_keys: ArcSwap::from_pointee(keys),
            backend,
            signing_keys: SigningKeyCache::default(),
            audit,
            metrics: metrics::Metrics::default(),
        })
    }
}

fn load_sts_keys(settings: &StsSettings) -> Result<KeySet, StartError> {
    if let Some(parent) = settings.signing_keys.parent() {
        std::fs::create_dir_all(parent).map_err(|source| {
            StartError::StsKeys(KeyError::Io {
                path: parent.display().to_string(),
                source,
            })
        })?;
    }
    KeySet::load_or_generate(&settings.signing_keys).map_err(StartError::StsKeys)
}

/// The backend described by `[backend]`.
pub fn build_backend(config: &BackendConfig) -> Result<Backend, BackendError> {
    match &config.target {
        BackendTarget::Embedded { repos, git } => {
            let mut cgi = CgiConfig::new(repos.clone());
            cgi.git = git.clone();
            cgi.response_timeout = config.response_timeout;
            Ok(CgiBackend::new(cgi)?.into())
        }
        BackendTarget::Upstream {
            url,
            auth_header,
            ca,
        } => {
            let mut upstream = UpstreamConfig::new(url.clone());
            upstream.ca_file = ca.clone();
            upstream.response_timeout = config.response_timeout;
            if let Some(h) = auth_header {
                upstream.auth = Some(
                    UpstreamAuth::new(h.name.as_str(), h.value.expose())
                        .map_err(BackendError::BadRequest)?,
                );
            }
            Ok(UpstreamBackend::new(upstream)?.into())
        }
    }
}

/// Convenience for tests and embedders: the state for `config`, in an `Arc`.
pub fn state(config: Config) -> Result<Arc<State>, StartError> {
    State::new(config).map(Arc::new)
}
