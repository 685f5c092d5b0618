//! The integration tests, as one test binary (one link of the crate instead
//! of one per area). Each module covers one area; `common` holds the shared
//! helpers: test servers, the command harness, tool checks.
//!
//! Run one area with `cargo test --test it AREA::`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

mod access_review;
mod architecture;
mod backend_cgi;
mod backend_symrefs;
mod backend_upstream;
mod credential_helper;
mod credential_interop;
mod credential_sso;
mod fleet;
mod git_credentials;
mod git_protocol;
mod iam_cli;
mod policy_cli;
mod policy_findings;
mod policy_matcher;
mod policy_scenarios;
mod proxy_git;
mod proxy_reliability;
mod proxy_upstream;
mod push_events;
mod remote_codecommit;
mod serve_cli;
mod sigv4_botocore;
mod ssh;
mod sts_cli;
mod throttle;
