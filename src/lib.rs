//! gitiam: AWS-style identity and access control (SigV4 Git credentials, IAM
//! policies, STS) in front of any Git server.
//!
//! The request path of `gitiam serve` is a stack of layers, each in its own
//! module: [`proxy`] accepts TLS connections and routes; [`sigv4`] verifies
//! signatures (and only it can mint the proof that authorization requires);
//! [`policy`] decides; [`git`] reads what Git sends exactly as Git reads it;
//! [`backend`] streams the request to `git http-backend` or an upstream.
//! [`sts`] issues and verifies temporary credentials. [`credential`] is the
//! client side: the `git-credential-gitiam` helper.
#![forbid(unsafe_code)]

pub mod backend;
mod body;
pub mod cli;
pub mod config;
pub mod credential;
pub mod git;
pub mod identity;
pub mod policy;
pub mod proxy;
pub mod secret_file;
pub mod sigv4;
pub mod sts;
