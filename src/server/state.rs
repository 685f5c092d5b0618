//! What every front door and the STS API share while the server runs: the
//! settings read at start, the identity directory and session keys (swapped
//! by [`super::reload`]), the backend, the signing-key cache, the
//! failed-authentication limiter, audit and metrics, and the push events'
//! outbox and endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::server::access::{Authenticated, RefChain};
use crate::server::backend::{
    Backend, BackendError, CgiBackend, CgiConfig, UpstreamAuth, UpstreamBackend, UpstreamConfig,
};
use crate::server::events::Events;
use crate::server::session::keys::{KeyError, KeySet};
use crate::server::throttle::FailureLimiter;
use crate::server::tls::TlsError;
use crate::server::{audit, metrics};
use crate::shared::config::sts::StsSettings;
use crate::shared::config::{BackendConfig, BackendTarget, Config, Directory, ServerConfig};
use crate::shared::git::{PushRequest, RepoName};
use crate::shared::sigv4::SigningKeyCache;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The backend cannot be used.
    #[error("backend: {0}")]
    Backend(#[source] BackendError),
    /// The audit log cannot be opened.
    #[error("audit log {sink}: {source}")]
    Audit {
        /// The configured sink.
        sink: String,
        /// Why.
        source: std::io::Error,
    },
    /// The STS key file cannot be loaded or created.
    #[error("STS signing keys: {0}")]
    StsKeys(#[source] KeyError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The SSH door cannot start (host keys, backend).
    #[error("ssh: {0}")]
    Ssh(String),
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

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
    /// Failed authentications per source address (every door checks it).
    pub auth_failures: FailureLimiter,
    /// The audit log.
    pub audit: audit::AuditLog,
    /// The metrics.
    pub metrics: metrics::Metrics,
    /// Push events: outbox and webhook endpoints (swapped by reload).
    pub events: Arc<Events>,
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
        let auth_failures = FailureLimiter::new(config.server.auth_throttle);
        let metrics = metrics::Metrics::default();
        let events = Arc::new(Events::new(
            &config.server.state_dir,
            config.webhooks,
            Arc::clone(&metrics.webhooks),
        ));
        Ok(Self {
            server: config.server,
            sts: config.sts,
            directory: ArcSwap::from_pointee(config.directory),
            sts_keys: ArcSwap::from_pointee(keys),
            backend,
            signing_keys: SigningKeyCache::default(),
            auth_failures,
            audit,
            metrics,
            events,
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

impl State {
    /// The refs each command of `push` will change in `caller`'s
    /// repository `repo`: its own ref, the ones a symbolic ref of that name
    /// leads to, and in a repository that ignores case the refs stored in
    /// the same files, as the backend holds them. Both doors decide pushes
    /// on these.
    pub async fn push_chains(
        &self,
        caller: &Authenticated,
        repo: &RepoName,
        push: &PushRequest,
    ) -> Result<Vec<RefChain>, BackendError> {
        if push.commands.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = push.commands.iter().map(|c| c.name.as_str()).collect();
        let targets = self
            .backend
            .push_targets(caller.identity().account(), repo, &names)
            .await?;
        Ok(targets
            .into_iter()
            .map(|t| RefChain {
                name: t.name,
                symref_targets: t.targets,
                case_variants: t.relatives,
            })
            .collect())
    }
}
