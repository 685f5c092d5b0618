//! [`Builder`]: the state the lowering functions share (the policy kind and
//! version that some rules depend on, the statement being built) and the
//! findings they report into.

use crate::shared::policy::actions;
use crate::shared::policy::ast::Version;
use crate::shared::policy::finding::{Finding, PolicyKind, Severity};
use crate::shared::policy::raw::Json;

/// Collects findings while a document is lowered.
pub(super) struct Builder<'a> {
    /// What the document is used as; `None` checks only the rules that hold
    /// for every kind ([`Policy::parse`](crate::shared::policy::Policy::parse)).
    pub(super) kind: Option<PolicyKind>,
    /// Set from `Version` before the statements are built: it decides
    /// whether `${...}` is a variable.
    pub(super) version: Version,
    pub(super) findings: &'a mut Vec<Finding>,
    /// The label of the statement being built (`Sid` or `#INDEX`), so that
    /// each finding names it; `None` at document level.
    pub(super) statement: Option<String>,
}

impl Builder<'_> {
    fn push(&mut self, severity: Severity, field: &str, message: String) {
        self.findings.push(Finding {
            severity,
            statement: self.statement.clone(),
            field: field.to_string(),
            message,
            location: None,
        });
    }
    pub(super) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.push(Severity::Error, field, message.into());
    }
    pub(super) fn warning(&mut self, field: &str, message: impl Into<String>) {
        self.push(Severity::Warning, field, message.into());
    }

    /// A string or a non-empty list of strings.
    pub(super) fn strings(&mut self, field: &str, value: &Json) -> Option<Vec<String>> {
        match value {
            Json::String(s) => Some(vec![s.clone()]),
            Json::Array(items) if items.is_empty() => {
                self.error(field, format!("{field} must not be an empty list"));
                None
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::String(s) => out.push(s.clone()),
                        other => {
                            self.error(
                                field,
                                format!(
                                    "{field} entries must be strings, found {}",
                                    other.type_name()
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.error(
                    field,
                    format!(
                        "{field} must be a string or a list of strings, found {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }
}

/// `" (did you mean \"...\"?)"` when some candidate is close to `key`.
pub(super) fn suggestion<'a>(key: &str, candidates: impl Iterator<Item = &'a &'a str>) -> String {
    let candidates: Vec<&str> = candidates.copied().collect();
    match actions::closest(key, &candidates) {
        Some(best) => format!(" (did you mean \"{best}\"?)"),
        None => String::new(),
    }
}
