//! Evaluation: the decision ([`evaluate`]) and its explanation ([`trace`]).
//!
//! IAM's rules ("Policy evaluation logic" in the IAM User Guide), for policy
//! sets ("layers") that must all allow:
//! 1. an applicable `Deny` statement in any layer: **explicit deny**;
//! 2. otherwise, if every layer has an applicable `Allow`: **allowed**;
//! 3. otherwise: **implicit deny**.
//!
//! A layer is e.g. the identity policies of a user (all its own and its
//! groups' policies together), a session policy, a permissions boundary, or
//! a role's trust policy. A statement applies when its action, resource and
//! principal elements cover the request and all its conditions hold.
//!
//! The files: [`Request`] and [`PrincipalInfo`] (the question); `matching`
//! (does one element of a statement cover the request); `decision`
//! ([`PolicyLayer`], [`evaluate`]); `explain` ([`trace`], element by element).

mod decision;
mod explain;
mod matching;
mod request;

pub use decision::{Decision, Evaluation, PolicyLayer, StatementRef, evaluate};
pub use explain::{ConditionTrace, StatementTrace, trace};
pub use request::{PrincipalInfo, Request};
