//! The builder: lowers the JSON tree of [`raw`](super::raw) into the
//! validated model of [`ast`](super::ast), collecting every
//! [`Finding`] on the way instead of stopping at the first.
//!
//! Everything is compiled once here: action patterns (case-insensitive),
//! resource patterns (with or without policy variables), principals and
//! conditions. Evaluation then only matches.
//!
//! The files follow the document: `document` (top level and each
//! statement's `Sid`/`Effect`), `elements` (`Action`, `Resource`),
//! `principal`, `condition`; `builder` holds the finding collector they
//! share. [`Policy::parse`] is defined here rather than in `ast` so that the
//! model does not depend on its builder.

mod builder;
mod condition;
mod document;
mod elements;
mod principal;

use super::ast::Policy;
use super::finding::{Finding, PolicyError, PolicyKind, Severity};
use super::raw;

use self::document::build_document;

impl Policy {
    /// Parses and validates `json`; `source` names the document in messages
    /// and in [`StatementRef`](super::StatementRef)s (usually the file name).
    ///
    /// Only errors that hold for every kind of policy are rejected here; use
    /// [`Policy::parse_as`] to also reject what is wrong for one kind (a
    /// `Principal` in an identity policy, a missing `Resource`).
    pub fn parse(source: &str, json: &str) -> Result<Policy, PolicyError> {
        Self::parse_inner(source, json, None)
    }

    /// Like [`Policy::parse`], also rejecting the errors specific to `kind`.
    pub fn parse_as(source: &str, json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Self::parse_inner(source, json, Some(kind))
    }

    fn parse_inner(
        source: &str,
        json: &str,
        kind: Option<PolicyKind>,
    ) -> Result<Policy, PolicyError> {
        let (policy, findings) = build(source, json, kind);
        if let Some(syntax) = findings.iter().find(|f| f.location.is_some()) {
            let (line, column) = syntax.location.unwrap_or((1, 1));
            return Err(PolicyError::Syntax {
                source: source.to_string(),
                line,
                column,
                message: syntax.message.clone(),
            });
        }
        let errors: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        match policy {
            Some(policy) if errors.is_empty() => Ok(policy),
            _ => Err(PolicyError::Invalid {
                source: source.to_string(),
                findings: errors,
            }),
        }
    }
}

/// Builds a policy from text, collecting every finding. The policy is
/// returned only when there is no error finding. A JSON syntax error is one
/// finding with a `location`.
pub(crate) fn build(
    source: &str,
    text: &str,
    kind: Option<PolicyKind>,
) -> (Option<Policy>, Vec<Finding>) {
    let mut findings = Vec::new();
    let json = match raw::parse(text) {
        Ok(json) => json,
        Err(e) => {
            findings.push(Finding {
                severity: Severity::Error,
                statement: None,
                field: String::new(),
                message: e.message,
                location: Some((e.line, e.column)),
            });
            return (None, findings);
        }
    };
    let policy = build_document(source, &json, kind, &mut findings);
    let has_error = findings.iter().any(|f| f.severity == Severity::Error);
    (policy.filter(|_| !has_error), findings)
}
