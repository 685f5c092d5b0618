//! The shared floor: formats and algorithms that the client and the server
//! both build on, with no listener and no outbound connection of their own.
//!
//! - [`policy`]: IAM policy documents, validation and evaluation;
//! - [`sigv4`]: the CodeCommit Git password and standard SigV4 (sign and
//!   verify), and the `SignatureVerified` proof;
//! - [`git`]: Git wire formats, read exactly as Git reads them;
//! - [`config`]: `gitiam.toml`, lowered to a validated `Directory`;
//! - [`secret_file`]: owner-only files replaced by rename;
//! - [`timestamp`]: times as text, AWS's way and RFC 3339.

/// A boxed error from a body or transport (request and response bodies,
/// connections), shared by the Git wire formats and the server.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub mod config;
pub mod git;
pub mod policy;
pub mod secret_file;
pub mod sigv4;
pub mod timestamp;
