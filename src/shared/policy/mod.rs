//! IAM policy documents: parse once into a validated representation, evaluate
//! many times.
//!
//! The layers, each in its own module:
//! - [`raw`]: the JSON layer (serde), which keeps `line:column` for syntax
//!   errors and rejects duplicate keys;
//! - [`ast`]: the validated representation ([`Policy`], statements,
//!   compiled patterns and conditions);
//! - [`matcher`]: the `*`/`?` wildcard matcher (linear-time, no backtracking
//!   blow-up);
//! - [`variables`]: policy variables (`${aws:username}`, defaults, escapes);
//! - [`condition`]: every condition operator family;
//! - [`arn`]: ARN splitting and per-component matching;
//! - [`context`]: the request context ([`Context`]);
//! - [`eval`]: the decision ([`evaluate`]) and its explanation ([`trace`]);
//! - [`index`]: [`PolicyIndex`], a store that only looks at the statements
//!   that could apply to a request;
//! - [`validate`]: Access-Analyzer-style findings ([`validate()`]).
//!
//! Nothing here depends on an async runtime or on network code.

pub mod arn;
pub mod ast;
pub mod condition;
pub mod context;
pub mod eval;
pub mod index;
pub mod matcher;
pub mod raw;
pub mod validate;
pub mod variables;

mod actions;
mod finding;
mod parser;

pub use ast::{Effect, Policy, PolicyError, Statement, Version};
pub use context::Context;
pub use eval::{
    ConditionTrace, Decision, Evaluation, PolicyLayer, PrincipalInfo, Request, StatementRef,
    StatementTrace, evaluate, trace,
};
pub use index::PolicyIndex;
pub use validate::{Finding, PolicyKind, Severity, validate};
