//! The validated model of a policy document: [`Policy`], [`Statement`] and
//! the compiled element types they hold (action and resource patterns,
//! principals, [`Condition`]s).
//!
//! Only data and what can be read off it lives here. Building it from JSON
//! (and reporting what is wrong) is `parser`'s job, deciding whether it
//! covers a request is `eval`'s: keeping both out lets each depend on the
//! model without the model depending on them.

use std::fmt;

use super::condition::Condition;
use super::matcher::Wildcard;
use super::variables::{Part, Template};

// `PolicyError` lives with the findings it carries; re-exported here, where
// it has always been named.
pub use super::finding::PolicyError;

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17`, also what an absent `Version` means: `${...}` is text.
    V2008_10_17,
}

impl Version {
    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }

    /// True when policy variables are substituted.
    pub fn substitutes_variables(self) -> bool {
        self == Version::V2012_10_17
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`
    Allow,
    /// `"Deny"`
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    // Written by the builder (`parser`), read through the accessors below.
    pub(super) source: String,
    pub(super) version: Version,
    pub(super) id: Option<String>,
    pub(super) statements: Vec<Statement>,
}

impl Policy {
    /// The document's name, as given to [`Policy::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The language version (`2008-10-17` when the document has none).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The optional `Id`.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// True when some statement has `Principal` or `NotPrincipal` (a
    /// resource-based policy such as a role trust policy).
    pub fn has_principal(&self) -> bool {
        self.statements.iter().any(|s| s.principals.is_some())
    }
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Actions {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<Wildcard>,
    pub(crate) written: Vec<String>,
}

/// One `Resource` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResourcePattern {
    /// No variable: compiled once.
    Static(Wildcard),
    /// Has variables: substituted per request.
    Dynamic(Template),
}

impl ResourcePattern {
    /// The literal bytes every matching resource starts with.
    pub(crate) fn literal_prefix(&self) -> Vec<u8> {
        match self {
            ResourcePattern::Static(w) => w.literal_prefix(),
            ResourcePattern::Dynamic(t) => {
                let mut prefix = Vec::new();
                for part in t.parts() {
                    match part {
                        Part::Text(text) => {
                            let lit = text.split(['*', '?']).next().unwrap_or_default();
                            prefix.extend_from_slice(lit.as_bytes());
                            if lit.len() < text.len() {
                                break;
                            }
                        }
                        Part::Escaped(c) => {
                            prefix.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
                        }
                        Part::Var { .. } => break,
                    }
                }
                prefix
            }
        }
    }

    /// The exact resource when the pattern has no wildcard and no variable.
    pub(crate) fn exact(&self) -> Option<String> {
        match self {
            ResourcePattern::Static(w) if w.is_exact() => {
                String::from_utf8(w.literal_prefix()).ok()
            }
            _ => None,
        }
    }
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resources {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<ResourcePattern>,
    pub(crate) written: Vec<String>,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Principals {
    pub(crate) negated: bool,
    /// `"*"`, or `{"AWS": "*"}`.
    pub(crate) everyone: bool,
    pub(crate) aws: Vec<String>,
    pub(crate) federated: Vec<String>,
    pub(crate) service: Vec<String>,
    pub(crate) canonical_user: Vec<String>,
}

impl Principals {
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.everyone {
            parts.push("\"*\"".to_string());
        }
        for (kind, list) in [
            ("AWS", &self.aws),
            ("Federated", &self.federated),
            ("Service", &self.service),
            ("CanonicalUser", &self.canonical_user),
        ] {
            for v in list {
                parts.push(format!("{kind}:{v}"));
            }
        }
        parts.join(", ")
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) index: usize,
    pub(crate) sid: Option<String>,
    pub(crate) label: String,
    pub(crate) effect: Effect,
    pub(crate) actions: Actions,
    pub(crate) resources: Option<Resources>,
    pub(crate) principals: Option<Principals>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    /// Position in the document (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// The name used in explanations: the `Sid`, or `#INDEX` (0-based).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The `Action` / `NotAction` entries as written, and whether it is
    /// `NotAction`.
    pub fn actions(&self) -> (&[String], bool) {
        (&self.actions.written, self.actions.negated)
    }

    /// The `Resource` / `NotResource` entries as written, and whether it is
    /// `NotResource`; `None` when the statement has neither.
    pub fn resources(&self) -> Option<(&[String], bool)> {
        self.resources
            .as_ref()
            .map(|r| (r.written.as_slice(), r.negated))
    }

    /// The conditions (all must hold).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// True when the statement has `Principal` or `NotPrincipal`.
    pub fn has_principal(&self) -> bool {
        self.principals.is_some()
    }

    /// The `Principal`/`NotPrincipal` entries, described (`AWS:111122223333`,
    /// `Federated:arn:...`), and whether it is `NotPrincipal`.
    pub fn principals(&self) -> Option<(String, bool)> {
        self.principals.as_ref().map(|p| (p.describe(), p.negated))
    }
}
