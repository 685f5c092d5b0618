//! Access-Analyzer-style validation: every problem of a document, each with
//! its statement and field, as errors (the document is unusable) or warnings
//! (it works, but probably not as meant).

use std::fmt;

use super::ast;

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
        let Ok(super::raw::Json::Object(top)) = super::raw::parse(text) else {
            return PolicyKind::Identity;
        };
        let statements: Vec<&super::raw::Json> =
            match top.iter().find(|(k, _)| k == "Statement").map(|(_, v)| v) {
                Some(super::raw::Json::Array(items)) => items.iter().collect(),
                Some(one) => vec![one],
                None => return PolicyKind::Identity,
            };
        let trust_like = |s: &&super::raw::Json| {
            let super::raw::Json::Object(fields) = s else {
                return false;
            };
            let has = |name: &str| fields.iter().any(|(k, _)| k == name);
            let sts_only = match fields.iter().find(|(k, _)| k == "Action").map(|(_, v)| v) {
                Some(super::raw::Json::String(a)) => a.to_ascii_lowercase().starts_with("sts:"),
                Some(super::raw::Json::Array(items)) => items.iter().all(|a| {
                    matches!(a, super::raw::Json::String(a) if a.to_ascii_lowercase().starts_with("sts:"))
                }),
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

/// Every finding for `policy_text` used as `kind`; `source` names the
/// document. An empty result, or only warnings, means the document is valid.
pub fn validate(policy_text: &str, source: &str, kind: PolicyKind) -> Vec<Finding> {
    ast::build(source, policy_text, Some(kind)).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str, kind: PolicyKind) -> Vec<String> {
        validate(text, "t.json", kind)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn guesses_trust_policies() {
        let trust = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}"#;
        assert_eq!(PolicyKind::guess(trust), PolicyKind::Trust);
        let identity = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"codecommit:GitPull","Resource":"*"}}"#;
        assert_eq!(PolicyKind::guess(identity), PolicyKind::Identity);
        assert_eq!(PolicyKind::guess("not json"), PolicyKind::Identity);
    }

    #[test]
    fn kind_rules() {
        let trust_with_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Resource":"*"}}"#;
        let e = errors(trust_with_resource, PolicyKind::Trust);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("Resource is not allowed in a role trust policy"));
        let e = errors(trust_with_resource, PolicyKind::Identity);
        assert!(
            e[0].contains("Principal is not allowed in an identity policy"),
            "{e:?}"
        );
        let no_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"codecommit:GitPull"}}"#;
        assert!(errors(no_resource, PolicyKind::Session)[0].contains("missing Resource"));
        assert!(errors(no_resource, PolicyKind::Trust)[0].contains("missing Principal"));
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
