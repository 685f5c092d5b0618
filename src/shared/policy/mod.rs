//! IAM policy documents: parse once into a validated representation, evaluate
//! many times.
//!
//! The modules, bottom to top (each imports only modules listed before it;
//! the layout follows cedar-policy: a raw syntax layer, a builder that lowers
//! it into a validated model, and evaluation apart from both):
//! - [`matcher`]: the `*`/`?` wildcard matcher (linear-time, no backtracking
//!   blow-up); [`raw`]: the JSON layer (serde), which keeps `line:column`
//!   for syntax errors and rejects duplicate keys; [`context`]: the request
//!   context ([`Context`]); `actions`: the known action names;
//! - [`arn`]: ARN splitting and per-component matching; [`variables`]:
//!   policy variables (`${aws:username}`, defaults, escapes);
//! - `finding`: what is wrong with a document ([`Finding`], [`PolicyError`],
//!   [`PolicyKind`]);
//! - [`condition`]: every condition operator family, compiled and evaluated;
//! - [`ast`]: the validated model ([`Policy`], [`Statement`], compiled
//!   patterns, principals and conditions), data only;
//! - `parser`: raw JSON -> model, collecting findings ([`Policy::parse`]);
//! - [`validate`](mod@validate): Access-Analyzer-style findings ([`validate()`]);
//! - [`spans`]: where each statement starts and ends in its file;
//! - [`analyzer`]: findings with Access Analyzer's types and issue codes;
//! - [`index`]: [`PolicyIndex`], a store that only looks at the statements
//!   that could apply to a request;
//! - [`eval`]: whether statements cover a request, the decision
//!   ([`evaluate`]) and its explanation ([`trace`]).
//!
//! Nothing here depends on an async runtime or on network code.

pub mod analyzer;
pub mod arn;
pub mod ast;
pub mod condition;
pub mod context;
pub mod eval;
pub mod index;
pub mod matcher;
pub mod raw;
pub mod spans;
pub mod validate;
pub mod variables;

mod actions;
mod finding;
mod parser;

pub use ast::{Effect, Policy, Statement, Version};
pub use context::Context;
pub use eval::{
    ConditionTrace, Decision, Evaluation, PolicyLayer, PrincipalInfo, Request, StatementRef,
    StatementTrace, evaluate, trace,
};
pub use finding::{Finding, PolicyError, PolicyKind, Severity};
pub use index::PolicyIndex;
pub use validate::validate;
