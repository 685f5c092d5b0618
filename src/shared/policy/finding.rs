//! What is wrong with a policy document: [`Finding`]s (Access-Analyzer-style
//! errors and warnings, each naming its statement and field), the
//! [`PolicyError`] a failed load returns, and the [`PolicyKind`] some rules
//! depend on.
//!
//! These are plain data, kept apart from the builder that produces them
//! (`parser`) and from the [`validate`](super::validate()) entry point, so
//! that the model, the builder and the entry point can all name them
//! without depending on one another.

use std::fmt;

use super::raw::{self, Json};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The document is rejected.
    Error,
    /// The document works, but probably not as its author meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What a document is used as; some rules depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a user, group or role: needs `Resource`, has no
    /// `Principal`.
    Identity,
    /// A role trust policy (resource-based; the role is the resource): needs
    /// `Principal`, has no `Resource`.
    Trust,
    /// A session policy passed to AssumeRole: like an identity policy.
    Session,
}

impl PolicyKind {
    /// Guesses the kind of a document that names none: a trust policy when
    /// every statement has a `Principal`/`NotPrincipal` and grants only
    /// `sts:` actions; otherwise an identity policy (so that a `Principal`
    /// in a permissions policy is reported).
    pub fn guess(text: &str) -> PolicyKind {
        let Ok(Json::Object(top)) = raw::parse(text) else {
            return PolicyKind::Identity;
        };
        let statements: Vec<&Json> =
            match top.iter().find(|(k, _)| k == "Statement").map(|(_, v)| v) {
                Some(Json::Array(items)) => items.iter().collect(),
                Some(one) => vec![one],
                None => return PolicyKind::Identity,
            };
        let trust_like = |s: &&Json| {
            let Json::Object(fields) = s else {
                return false;
            };
            let has = |name: &str| fields.iter().any(|(k, _)| k == name);
            let sts_only = match fields.iter().find(|(k, _)| k == "Action").map(|(_, v)| v) {
                Some(Json::String(a)) => a.to_ascii_lowercase().starts_with("sts:"),
                Some(Json::Array(items)) => items.iter().all(
                    |a| matches!(a, Json::String(a) if a.to_ascii_lowercase().starts_with("sts:")),
                ),
                _ => false,
            };
            (has("Principal") || has("NotPrincipal")) && sts_only
        };
        if !statements.is_empty() && statements.iter().all(trust_like) {
            PolicyKind::Trust
        } else {
            PolicyKind::Identity
        }
    }

    /// The kind's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity",
            PolicyKind::Trust => "trust",
            PolicyKind::Session => "session",
        }
    }
}

/// One problem found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The statement: its `Sid`, or `#INDEX` (0-based) when it has none;
    /// `None` for document-level findings.
    pub statement: Option<String>,
    /// The element: `Effect`, `Action`, `Condition.StringEquals.aws:username`,
    /// ...; empty for the document as a whole.
    pub field: String,
    /// What is wrong, and what to write instead where there is a guess.
    pub message: String,
    /// `(line, column)`, 1-based, for JSON syntax errors.
    pub location: Option<(usize, usize)>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.location {
            write!(f, "{line}:{column}: ")?;
        }
        write!(f, "{}: ", self.severity)?;
        if let Some(statement) = &self.statement {
            write!(f, "statement {statement}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a document could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyError {
    /// Not JSON (or a duplicate key). Displays as `source:line:column: message`.
    Syntax {
        /// The document's name (file name).
        source: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// JSON, but not a valid policy: the error findings (warnings are left
    /// out). Displays one `source: finding` line per error.
    Invalid {
        /// The document's name (file name).
        source: String,
        /// The errors, in document order.
        findings: Vec<Finding>,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Syntax {
                source,
                line,
                column,
                message,
            } => write!(f, "{source}:{line}:{column}: {message}"),
            PolicyError::Invalid { source, findings } => {
                for (i, finding) in findings.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{source}: {finding}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_trust_policies() {
        let trust = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}"#;
        assert_eq!(PolicyKind::guess(trust), PolicyKind::Trust);
        let identity = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"codecommit:GitPull","Resource":"*"}}"#;
        assert_eq!(PolicyKind::guess(identity), PolicyKind::Identity);
        assert_eq!(PolicyKind::guess("not json"), PolicyKind::Identity);
    }

    #[test]
    fn display() {
        let f = Finding {
            severity: Severity::Warning,
            statement: Some("AllowPull".into()),
            field: "Action".into(),
            message: "unknown action".into(),
            location: None,
        };
        assert_eq!(
            f.to_string(),
            "warning: statement AllowPull: Action: unknown action"
        );
    }
}
