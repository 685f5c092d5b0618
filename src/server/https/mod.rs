//! The HTTPS front door: Git smart HTTP at CodeCommit's URLs and the STS API.
//!
//! A request goes through layers, each in its own module:
//! [`server`] accepts TLS connections under limits and hands requests to
//! [`service`], which [`route`]s them; Git requests are authenticated
//! ([`authn`]: SigV4 Git credentials, yielding the `SignatureVerified`
//! proof), decided by the access core ([`crate::server::access`]) and
//! forwarded ([`forward`]) to the backend. [`error`] is the one place turning
//! failures into HTTP responses. [`health`] is the separate plain-HTTP
//! `/healthz` listener for probes (`[server] health_listen`).

pub mod authn;
mod completion;
pub mod error;
pub mod forward;
pub mod health;
pub mod route;
pub mod server;
pub mod service;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

use crate::shared::BoxError;

pub use server::{ServeOptions, serve};

/// Body type of every response.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
