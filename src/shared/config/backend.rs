//! `[backend]`: the embedded `git http-backend` or an upstream smart-HTTP
//! server, validated from [`raw::RawBackend`](super::raw::RawBackend).

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::{ConfigError, Loader, Secret, raw};

/// `[backend]`, with defaults applied.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Where requests go.
    pub target: BackendTarget,
    /// Longest wait for the backend's response head (then `504`).
    pub response_timeout: Duration,
}

/// The Git server behind the proxy.
#[derive(Debug, Clone)]
pub enum BackendTarget {
    /// `git http-backend` run by gitiam on `REPOS/ACCOUNT_ID/NAME.git`.
    Embedded {
        /// Root of the repositories.
        repos: PathBuf,
        /// The `git` program (`git` from `PATH` unless configured).
        git: PathBuf,
    },
    /// Any smart-HTTP Git server.
    Upstream {
        /// URL template with `{account}` and `{repo}` placeholders.
        url: String,
        /// Header presented to the upstream on every request.
        auth_header: Option<UpstreamHeader>,
        /// Extra CA certificates (PEM) trusted for an `https` upstream.
        ca: Option<PathBuf>,
    },
}

/// A header gitiam adds to upstream requests (credentials of gitiam itself).
#[derive(Debug, Clone)]
pub struct UpstreamHeader {
    /// Header name.
    pub name: http::HeaderName,
    /// Header value, never logged.
    pub value: Secret,
}

impl Loader<'_> {
    pub(super) fn backend(&self, raw: raw::RawBackend) -> Result<BackendConfig, ConfigError> {
        let response_timeout = Duration::from_secs(self.positive(raw.response_timeout_secs, 120)?);
        let target = match (raw.repos, raw.upstream) {
            (Some(repos), Some(_)) => {
                return Err(self.err(
                    &repos,
                    "set either backend.repos or backend.upstream, not both",
                ));
            }
            (repos, None) => {
                for (name, field) in [
                    (
                        "upstream_auth_header",
                        raw.upstream_auth_header.as_ref().map(|s| s.span()),
                    ),
                    ("upstream_ca", raw.upstream_ca.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = field {
                        return Err(self.at(&span, format!("{name} needs backend.upstream")));
                    }
                }
                let git = match raw.git {
                    None => PathBuf::from("git"),
                    Some(g) if g.get_ref().contains('/') => self.resolve(g.get_ref()),
                    Some(g) => PathBuf::from(g.into_inner()),
                };
                BackendTarget::Embedded {
                    repos: self.resolve(repos.as_ref().map_or("repos", |s| s.get_ref().as_str())),
                    git,
                }
            }
            (None, Some(url)) => {
                if let Some(g) = &raw.git {
                    return Err(self.err(
                        g,
                        "backend.git applies to the embedded backend, not to upstream",
                    ));
                }
                let u = url.get_ref();
                let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
                let sample = u
                    .replace("{repo}", "r")
                    .replace("{account}", "111122223333");
                if !scheme_ok || !u.contains("{repo}") || sample.parse::<http::Uri>().is_err() {
                    return Err(self.err(&url, "upstream: expected an http:// or https:// URL template containing {repo} (and optionally {account})"));
                }
                let auth_header = match raw.upstream_auth_header {
                    None => None,
                    Some(h) => Some(self.upstream_header(&h)?),
                };
                let ca = match raw.upstream_ca {
                    None => None,
                    Some(ca) => {
                        if !u.starts_with("https://") {
                            return Err(self.err(&ca, "upstream_ca needs an https:// upstream"));
                        }
                        let p = self.resolve(ca.get_ref());
                        if !p.is_file() {
                            return Err(self
                                .err(&ca, format!("upstream_ca: {} is not a file", p.display())));
                        }
                        Some(p)
                    }
                };
                BackendTarget::Upstream {
                    url: url.into_inner(),
                    auth_header,
                    ca,
                }
            }
        };
        Ok(BackendConfig {
            target,
            response_timeout,
        })
    }

    pub(super) fn upstream_header(
        &self,
        h: &Spanned<raw::RawHeader>,
    ) -> Result<UpstreamHeader, ConfigError> {
        let raw = h.get_ref();
        let name = http::HeaderName::from_bytes(raw.name.as_bytes()).map_err(|_| {
            self.err(
                h,
                format!("upstream_auth_header: `{}` is not a header name", raw.name),
            )
        })?;
        let value = match (&raw.value, &raw.value_env) {
            (Some(v), None) => v.clone(),
            (None, Some(var)) => self
                .env
                .value(var, || "placeholder".to_string())
                .ok_or_else(|| {
                    self.err(
                        h,
                        format!("upstream_auth_header: environment variable {var} is not set"),
                    )
                })?,
            _ => {
                return Err(self.err(
                    h,
                    "upstream_auth_header: set exactly one of value and value_env",
                ));
            }
        };
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(self.err(
                h,
                "upstream_auth_header: the value is not a valid header value",
            ));
        }
        Ok(UpstreamHeader {
            name,
            value: Secret::new(value),
        })
    }
}
