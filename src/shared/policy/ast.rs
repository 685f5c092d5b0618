//! The validated representation of a policy document, and the builder that
//! turns the JSON tree into it while collecting findings.
//!
//! Everything is compiled once here: action patterns (case-insensitive),
//! resource patterns (with or without policy variables), principals and
//! conditions. Evaluation then only matches.

use std::collections::HashMap;
use std::fmt;

use super::actions;
use super::arn::{Arn, check_policy_arn, is_account_id};
use super::condition::{Condition, Operator, SetQualifier};
use super::finding::{Finding, PolicyKind, Severity};
use super::matcher::Wildcard;
use super::raw::{self, Json};
use super::variables::Template;

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
    source: String,
    version: Version,
    id: Option<String>,
    statements: Vec<Statement>,
}

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
                        super::variables::Part::Text(text) => {
                            let lit = text.split(['*', '?']).next().unwrap_or_default();
                            prefix.extend_from_slice(lit.as_bytes());
                            if lit.len() < text.len() {
                                break;
                            }
                        }
                        super::variables::Part::Escaped(c) => {
                            prefix.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
                        }
                        super::variables::Part::Var { .. } => break,
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

// ---------------------------------------------------------------------------
// The builder.

const TOP_KEYS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

struct Builder<'a> {
    kind: Option<PolicyKind>,
    version: Version,
    findings: &'a mut Vec<Finding>,
    statement: Option<String>,
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
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.push(Severity::Error, field, message.into());
    }
    fn warning(&mut self, field: &str, message: impl Into<String>) {
        self.push(Severity::Warning, field, message.into());
    }

    /// A string or a non-empty list of strings.
    fn strings(&mut self, field: &str, value: &Json) -> Option<Vec<String>> {
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

fn build_document(
    source: &str,
    json: &Json,
    kind: Option<PolicyKind>,
    findings: &mut Vec<Finding>,
) -> Option<Policy> {
    let mut b = Builder {
        kind,
        version: Version::V2008_10_17,
        findings,
        statement: None,
    };
    let Json::Object(entries) = json else {
        b.error(
            "",
            format!(
                "a policy document must be a JSON object, found {}",
                json.type_name()
            ),
        );
        return None;
    };
    for (key, _) in entries {
        if !TOP_KEYS.contains(&key.as_str()) {
            let hint = suggestion(key, TOP_KEYS.iter().chain(STATEMENT_KEYS));
            b.error(key, format!("unknown top-level key \"{key}\"{hint}"));
        }
    }
    let get = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| v);

    match get("Version") {
        None => b.warning(
            "Version",
            "no Version: the document is read as 2008-10-17, where policy variables are not substituted; add \"Version\": \"2012-10-17\"",
        ),
        Some(Json::String(v)) if v == "2012-10-17" => b.version = Version::V2012_10_17,
        Some(Json::String(v)) if v == "2008-10-17" => {
            b.version = Version::V2008_10_17;
        }
        Some(other) => {
            let shown = other.scalar_text().unwrap_or_else(|| other.type_name().to_string());
            b.error("Version", format!("Version must be \"2012-10-17\" or \"2008-10-17\", found \"{shown}\""));
        }
    }
    let id = match get("Id") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => {
            b.error(
                "Id",
                format!("Id must be a string, found {}", other.type_name()),
            );
            None
        }
    };

    let raw_statements: Vec<&Json> = match get("Statement") {
        None => {
            b.error("Statement", "missing Statement");
            Vec::new()
        }
        Some(Json::Array(items)) => {
            if items.is_empty() {
                b.error("Statement", "Statement must not be an empty list");
            }
            items.iter().collect()
        }
        Some(obj @ Json::Object(_)) => vec![obj],
        Some(other) => {
            b.error(
                "Statement",
                format!(
                    "Statement must be an object or a list of objects, found {}",
                    other.type_name()
                ),
            );
            Vec::new()
        }
    };

    let mut statements = Vec::with_capacity(raw_statements.len());
    let mut sids: HashMap<String, usize> = HashMap::new();
    for (index, raw) in raw_statements.into_iter().enumerate() {
        if let Some(s) = build_statement(&mut b, index, raw, &mut sids) {
            statements.push(s);
        }
    }
    if b.version == Version::V2008_10_17 && uses_variables(json) {
        b.statement = None;
        b.warning(
            "Version",
            "the document contains \"${\" but policy variables are substituted only under Version 2012-10-17: they are matched as literal text",
        );
    }
    Some(Policy {
        source: source.to_string(),
        version: b.version,
        id,
        statements,
    })
}

fn uses_variables(json: &Json) -> bool {
    match json {
        Json::String(s) => s.contains("${"),
        Json::Array(items) => items.iter().any(uses_variables),
        Json::Object(entries) => entries.iter().any(|(_, v)| uses_variables(v)),
        _ => false,
    }
}

fn suggestion<'a>(key: &str, candidates: impl Iterator<Item = &'a &'a str>) -> String {
    let candidates: Vec<&str> = candidates.copied().collect();
    match actions::closest(key, &candidates) {
        Some(best) => format!(" (did you mean \"{best}\"?)"),
        None => String::new(),
    }
}

fn build_statement(
    b: &mut Builder<'_>,
    index: usize,
    raw: &Json,
    sids: &mut HashMap<String, usize>,
) -> Option<Statement> {
    b.statement = Some(format!("#{index}"));
    let Json::Object(entries) = raw else {
        b.error(
            "",
            format!("a statement must be an object, found {}", raw.type_name()),
        );
        return None;
    };
    let get = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| v);

    // Sid first, so that every finding of the statement names it.
    let sid = match get("Sid") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => {
            b.error(
                "Sid",
                format!("Sid must be a string, found {}", other.type_name()),
            );
            None
        }
    };
    let label = match &sid {
        Some(s) if !s.is_empty() => s.clone(),
        _ => format!("#{index}"),
    };
    b.statement = Some(label.clone());
    if let Some(s) = &sid {
        if let Some(first) = sids.get(s) {
            b.error(
                "Sid",
                format!("duplicate Sid \"{s}\" (statement #{first} has it too)"),
            );
        } else {
            sids.insert(s.clone(), index);
        }
        if !s.bytes().all(|c| c.is_ascii_alphanumeric()) && b.kind != Some(PolicyKind::Trust) {
            b.warning("Sid", format!("Sid \"{s}\" should contain only letters and digits (IAM rejects others in identity policies)"));
        }
    }

    for (key, _) in entries {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            let hint = suggestion(key, STATEMENT_KEYS.iter());
            b.error(key, format!("unknown statement key \"{key}\"{hint}"));
        }
    }

    let effect = match get("Effect") {
        None => {
            b.error("Effect", "missing Effect");
            None
        }
        Some(Json::String(e)) if e == "Allow" => Some(Effect::Allow),
        Some(Json::String(e)) if e == "Deny" => Some(Effect::Deny),
        Some(Json::String(e)) => {
            let hint = if e.eq_ignore_ascii_case("allow") {
                " (did you mean \"Allow\"?)"
            } else if e.eq_ignore_ascii_case("deny") {
                " (did you mean \"Deny\"?)"
            } else {
                ""
            };
            b.error(
                "Effect",
                format!("Effect must be exactly \"Allow\" or \"Deny\", found \"{e}\"{hint}"),
            );
            None
        }
        Some(other) => {
            b.error(
                "Effect",
                format!(
                    "Effect must be \"Allow\" or \"Deny\", found {}",
                    other.type_name()
                ),
            );
            None
        }
    };

    let actions = build_actions(b, get("Action"), get("NotAction"));
    let resources = build_resources(b, get("Resource"), get("NotResource"));
    let principals = build_principals(b, get("Principal"), get("NotPrincipal"), effect);
    let conditions = match get("Condition") {
        None => Some(Vec::new()),
        Some(c) => build_conditions(b, c, effect),
    };

    Some(Statement {
        index,
        sid,
        label,
        effect: effect?,
        actions: actions?,
        resources: resources?,
        principals: principals?,
        conditions: conditions?,
    })
}

fn build_actions(
    b: &mut Builder<'_>,
    action: Option<&Json>,
    not_action: Option<&Json>,
) -> Option<Actions> {
    let (field, value, negated) = match (action, not_action) {
        (Some(_), Some(_)) => {
            b.error(
                "Action",
                "a statement cannot have both Action and NotAction",
            );
            return None;
        }
        (None, None) => {
            b.error("Action", "missing Action (or NotAction)");
            return None;
        }
        (Some(v), None) => ("Action", v, false),
        (None, Some(v)) => ("NotAction", v, true),
    };
    let written = b.strings(field, value)?;
    let mut ok = true;
    for a in &written {
        if let Err(e) = check_action(b, field, a) {
            b.error(field, e);
            ok = false;
        }
    }
    if b.kind == Some(PolicyKind::Trust) && !negated {
        for a in &written {
            let trust_ok = a == "*"
                || a.split_once(':').is_some_and(|(svc, name)| {
                    svc.eq_ignore_ascii_case("sts") && {
                        let w = Wildcard::new_ignore_case(name);
                        actions::TRUST.iter().any(|t| w.matches(t))
                    }
                });
            if !trust_ok {
                b.warning(
                    field,
                    format!("\"{a}\" is not an action a trust policy grants (expected sts:AssumeRole, sts:AssumeRoleWithWebIdentity, sts:TagSession, ...)"),
                );
            }
        }
    }
    ok.then(|| Actions {
        negated,
        patterns: written
            .iter()
            .map(|a| Wildcard::new_ignore_case(a))
            .collect(),
        written,
    })
}

/// Format check of one action; warnings for unknown `codecommit:`/`sts:`
/// actions.
fn check_action(b: &mut Builder<'_>, field: &str, action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let Some((service, name)) = action.split_once(':') else {
        return Err(format!(
            "\"{action}\" is not an action: expected SERVICE:ACTION such as codecommit:GitPull"
        ));
    };
    if service.is_empty()
        || !service
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return Err(format!(
            "\"{action}\" has an invalid service prefix \"{service}\""
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'*' | b'?' | b'-' | b'_'))
    {
        return Err(format!(
            "\"{action}\" has an invalid action name \"{name}\""
        ));
    }
    let service_lower = service.to_ascii_lowercase();
    if let Some(known) = actions::known(&service_lower) {
        let pattern = Wildcard::new_ignore_case(name);
        if !known.iter().any(|k| pattern.matches(k)) {
            let message = match actions::closest(name, known) {
                Some(best) if pattern.is_exact() => {
                    format!(
                        "unknown action \"{action}\" (did you mean \"{service_lower}:{best}\"?)"
                    )
                }
                _ if pattern.is_exact() => format!("unknown action \"{action}\""),
                _ => format!("\"{action}\" matches no known {service_lower} action"),
            };
            b.warning(field, message);
        }
    }
    Ok(())
}

fn build_resources(
    b: &mut Builder<'_>,
    resource: Option<&Json>,
    not_resource: Option<&Json>,
) -> Option<Option<Resources>> {
    let (field, value, negated) = match (resource, not_resource) {
        (Some(_), Some(_)) => {
            b.error(
                "Resource",
                "a statement cannot have both Resource and NotResource",
            );
            return None;
        }
        (None, None) => {
            match b.kind {
                Some(PolicyKind::Identity | PolicyKind::Session) => {
                    b.error("Resource", "missing Resource (or NotResource)")
                }
                Some(PolicyKind::Trust) | None => {}
            }
            return Some(None);
        }
        (Some(v), None) => ("Resource", v, false),
        (None, Some(v)) => ("NotResource", v, true),
    };
    if b.kind == Some(PolicyKind::Trust) {
        b.error(
            field,
            format!("{field} is not allowed in a role trust policy (the role is the resource)"),
        );
    }
    let written = b.strings(field, value)?;
    let substitute = b.version.substitutes_variables();
    let mut patterns = Vec::with_capacity(written.len());
    let mut ok = true;
    for r in &written {
        let template = match Template::parse(r, substitute) {
            Ok(t) => t,
            Err(e) => {
                b.error(field, e);
                ok = false;
                continue;
            }
        };
        let checked = template.placeholder_text();
        if r != "*"
            && let Err(e) = check_policy_arn(&checked)
        {
            // Name the ARN as written, not with its variables blanked out.
            b.error(field, e.replace(&checked, r));
            ok = false;
            continue;
        }
        patterns.push(match template.static_tokens() {
            Some(toks) => ResourcePattern::Static(Wildcard::from_tokens(toks, false)),
            None => ResourcePattern::Dynamic(template),
        });
    }
    ok.then_some(Some(Resources {
        negated,
        patterns,
        written,
    }))
}

fn build_principals(
    b: &mut Builder<'_>,
    principal: Option<&Json>,
    not_principal: Option<&Json>,
    effect: Option<Effect>,
) -> Option<Option<Principals>> {
    let (field, value, negated) = match (principal, not_principal) {
        (Some(_), Some(_)) => {
            b.error(
                "Principal",
                "a statement cannot have both Principal and NotPrincipal",
            );
            return None;
        }
        (None, None) => {
            if b.kind == Some(PolicyKind::Trust) {
                b.error(
                    "Principal",
                    "missing Principal: a trust policy must say who may assume the role",
                );
            }
            return Some(None);
        }
        (Some(v), None) => ("Principal", v, false),
        (None, Some(v)) => ("NotPrincipal", v, true),
    };
    match b.kind {
        Some(PolicyKind::Identity) => b.error(
            field,
            format!("{field} is not allowed in an identity policy (the principal is whoever the policy is attached to)"),
        ),
        Some(PolicyKind::Session) => b.error(field, format!("{field} is not allowed in a session policy")),
        _ => {}
    }
    if negated && effect == Some(Effect::Allow) {
        b.error(
            "NotPrincipal",
            "NotPrincipal cannot be used with \"Effect\": \"Allow\"",
        );
    }
    let mut p = Principals {
        negated,
        ..Principals::default()
    };
    let mut ok = true;
    match value {
        Json::String(s) if s == "*" => p.everyone = true,
        Json::Object(entries) => {
            if entries.is_empty() {
                b.error(field, format!("{field} must name at least one principal"));
                ok = false;
            }
            for (kind, v) in entries {
                let sub = format!("{field}.{kind}");
                let Some(list) = b.strings(&sub, v) else {
                    ok = false;
                    continue;
                };
                match kind.as_str() {
                    "AWS" => {
                        for entry in list {
                            if entry == "*" {
                                p.everyone = true;
                            } else if let Err(e) = check_aws_principal(&entry) {
                                b.error(&sub, e);
                                ok = false;
                            } else {
                                p.aws.push(entry);
                            }
                        }
                    }
                    "Federated" => {
                        for entry in list {
                            if entry.is_empty() || entry.contains(['*', '?']) {
                                b.error(&sub, format!("invalid federated principal \"{entry}\""));
                                ok = false;
                            } else if entry.starts_with("arn:")
                                && let Err(e) = check_policy_arn(&entry)
                            {
                                b.error(&sub, e);
                                ok = false;
                            } else {
                                p.federated.push(entry);
                            }
                        }
                    }
                    "Service" => p.service.extend(list),
                    "CanonicalUser" => p.canonical_user.extend(list),
                    other => {
                        let hint = suggestion(
                            other,
                            ["AWS", "Federated", "Service", "CanonicalUser"].iter(),
                        );
                        b.error(&sub, format!("unknown principal type \"{other}\"{hint}"));
                        ok = false;
                    }
                }
            }
        }
        other => {
            let shown = other
                .scalar_text()
                .map(|t| format!("\"{t}\""))
                .unwrap_or_else(|| other.type_name().to_string());
            b.error(
                field,
                format!("{field} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::111122223333:root\"}}, found {shown}"),
            );
            ok = false;
        }
    }
    ok.then_some(Some(p))
}

fn check_aws_principal(entry: &str) -> Result<(), String> {
    if is_account_id(entry) {
        return Ok(());
    }
    if entry.contains(['*', '?']) {
        return Err(format!(
            "AWS principal \"{entry}\": wildcards are not allowed in principals (use \"*\" alone, or a condition on aws:PrincipalArn)"
        ));
    }
    check_policy_arn(entry)?;
    match Arn::parse(entry) {
        Some(arn) if arn.service == "iam" || arn.service == "sts" => Ok(()),
        _ => Err(format!(
            "AWS principal \"{entry}\" must be an account id or an IAM/STS ARN (arn:aws:iam::ACCOUNT:root, :user/NAME, :role/NAME)"
        )),
    }
}

fn build_conditions(
    b: &mut Builder<'_>,
    value: &Json,
    effect: Option<Effect>,
) -> Option<Vec<Condition>> {
    let Json::Object(operators) = value else {
        b.error(
            "Condition",
            format!("Condition must be an object, found {}", value.type_name()),
        );
        return None;
    };
    let substitute = b.version.substitutes_variables();
    // Keys that a `"Null": {"key": "false"}` in this block requires to be
    // present: `ForAllValues` over them cannot be vacuously true.
    let required_present: Vec<String> = operators
        .iter()
        .filter(|(op, _)| op == "Null")
        .filter_map(|(_, keys)| match keys {
            Json::Object(keys) => Some(keys),
            _ => None,
        })
        .flatten()
        .filter(|(_, v)| {
            v.scalar_text()
                .is_some_and(|t| t.eq_ignore_ascii_case("false"))
        })
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    let mut ok = true;
    for (op_name, keys) in operators {
        let field = format!("Condition.{op_name}");
        let operator = match Operator::parse(op_name) {
            Ok(op) => op,
            Err(e) => {
                b.error(&field, e);
                ok = false;
                continue;
            }
        };
        let Json::Object(keys) = keys else {
            b.error(
                &field,
                format!(
                    "{op_name} must map condition keys to values, found {}",
                    keys.type_name()
                ),
            );
            ok = false;
            continue;
        };
        if keys.is_empty() {
            b.error(&field, format!("{op_name} has no condition key"));
            ok = false;
        }
        for (key, raw_values) in keys {
            let key_field = format!("{field}.{key}");
            if !key.contains(':') {
                b.warning(&key_field, format!("condition key \"{key}\" has no service prefix (such as aws: or codecommit:)"));
            }
            let values: Option<Vec<String>> = match raw_values {
                Json::Array(items) => items.iter().map(Json::scalar_text).collect(),
                other => other.scalar_text().map(|t| vec![t]),
            };
            let Some(values) = values else {
                b.error(
                    &key_field,
                    format!("values of \"{key}\" must be strings, numbers or booleans"),
                );
                ok = false;
                continue;
            };
            if operator.set == SetQualifier::ForAllValues
                && effect == Some(Effect::Allow)
                && !operator.base.is_negated()
                && !required_present.contains(&key.to_ascii_lowercase())
            {
                b.warning(
                    &key_field,
                    format!("ForAllValues with Allow is true when \"{key}\" is absent or empty: add \"Null\": {{\"{key}\": \"false\"}} or it can allow more than intended"),
                );
            }
            match Condition::new(operator, key, &values, substitute) {
                Ok(c) => out.push(c),
                Err(e) => {
                    b.error(&key_field, e);
                    ok = false;
                }
            }
        }
    }
    ok.then_some(out)
}
