//! gitiam: AWS-style identity and access control (SigV4 Git credentials, IAM
//! policies, STS) in front of any Git server.
//!
//! The crate has three floors; a module imports only from its own floor or
//! the ones below (a test in `tests/` checks it):
//! - [`shared`]: what both sides speak: IAM policies, SigV4, Git wire
//!   formats, the `gitiam.toml` model, secret files. No server, no client.
//! - [`client`]: the `git-credential-gitiam` side: the git credential
//!   protocol, AWS config files, credential providers, the STS client.
//! - [`server`]: `gitiam serve`: session tokens, identities, the access core
//!   that decides for every front door, audit and metrics, backends, the STS
//!   API, and the HTTPS front door.
//!
//! [`cli`] sits on top: the `gitiam` subcommands.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod server;
pub mod shared;
