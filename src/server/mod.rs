//! `gitiam serve`: everything that runs in the server, floor by floor.
//!
//! - [`session`]: session tokens and their key set (temporary credentials);
//! - [`identity`]: an access key (and session token) to an identity;
//! - [`access`]: the access core: authenticated identity + repository + Git
//!   service (+ the push's commands) to decisions, refusal and audit record;
//!   every front door and the STS API decide through it;
//! - [`audit`] and [`metrics`]: one audit line and one sample per request;
//! - [`proxy_protocol`]: the client's address from a load balancer's
//!   PROXY protocol header (`proxy_protocol = "required"`);
//! - [`throttle`]: failed authentications counted per source address, and
//!   the sources refused for a while;
//! - [`body`] and [`backend`]: streaming bodies, and forwarding to
//!   `git http-backend` or an upstream smart-HTTP server;
//! - [`events`]: push events: the tap on a push's answer, the durable
//!   outbox and the webhook delivery workers;
//! - [`sts`]: the STS Query API;
//! - [`state`], [`reload`] and [`tls`]: what the front doors share at run
//!   time;
//! - [`https`]: the HTTPS front door;
//! - [`review`]: access review for policy editors (simulate a principal,
//!   who can, what a change grants), with the access core's decisions;
//! - [`ssh`]: the SSH front door (public keys, `git-upload-pack` and
//!   `git-receive-pack` run on the embedded backend's repositories).

pub mod access;
pub mod audit;
pub mod backend;
pub(crate) mod body;
pub mod connections;
pub mod events;
pub mod https;
pub mod identity;
pub mod metrics;
pub mod proxy_protocol;
pub mod reload;
pub mod review;
pub mod session;
pub mod ssh;
pub mod state;
pub mod sts;
pub mod throttle;
pub mod tls;
