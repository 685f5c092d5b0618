//! Access review: what the configuration grants, answered offline with the
//! server's own decision code, for `gitiam policy simulate --config` and
//! `gitiam access who-can|diff`.
//!
//! Nothing here decides by itself. A configuration principal becomes the
//! [`Identity`](crate::server::identity::Identity) the server would build
//! for it (a user, or a session of a role), its context is filled by
//! [`access::caller_context`](crate::server::access::caller_context), and
//! requests are decided by
//! [`access::evaluate_identity_of`](crate::server::access::evaluate_identity_of),
//! [`access::decide_assume_role_of`](crate::server::access::decide_assume_role_of)
//! and [`access::evaluate_trust`](crate::server::access::evaluate_trust):
//! the answer a tool gives is the answer a request gets.
//!
//! - [`principal`]: configuration principals as the server sees them;
//! - [`simulate`](mod@simulate): one request (`policy simulate --config`);
//! - [`reach`]: who can become which role (AssumeRole, web identity, role
//!   chains), with the conditions the caller must meet;
//! - [`who_can`](mod@who_can): every principal allowed one request;
//! - [`diff`](mod@diff): the access two configurations grant, compared over
//!   representative repositories and refs.

pub mod diff;
pub mod principal;
pub mod reach;
pub mod simulate;
pub mod who_can;

pub use diff::{AccessEntry, AccessSet, Change, Universe, access_set, diff};
pub use principal::{ReviewError, Reviewer};
pub use simulate::{Simulation, simulate};
pub use who_can::{Grant, who_can};
