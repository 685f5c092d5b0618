//! Findings in IAM Access Analyzer's shape (`findingType`, `issueCode`,
//! `findingDetails`, a location) for `gitiam policy validate`: the
//! builder's errors and warnings given Access Analyzer's categories and
//! issue codes, and the checks that look across a document (redundant
//! actions, resources and statements; wildcards without a `Like`
//! operator; operators of the wrong type for a key; OIDC trust without a
//! `sub` or `aud` condition). `Allow` with `NotPrincipal`, a security
//! warning for Access Analyzer, is an error here: gitiam refuses it.
//!
//! Issue codes are Access Analyzer's where it has the check; the OIDC
//! ones (`MISSING_OIDC_SUB_CONDITION`, `MISSING_AUDIENCE_CONDITION`) and
//! `FOR_ALL_VALUES_WITHOUT_NULL` are gitiam's names for checks of its own.

use std::fmt;

use super::condition::{BaseOperator, Family, Operator};
use super::finding::{Finding, PolicyKind, Severity};
use super::matcher::Wildcard;
use super::raw::{self, Json};
use super::spans::statement_spans;
use super::validate::validate;

/// Access Analyzer's finding types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingType {
    /// Part of the policy does not work: the document is rejected.
    Error,
    /// The policy allows more than is probably meant.
    SecurityWarning,
    /// The policy works, but not as best practice would have it.
    Warning,
    /// A stylistic improvement that changes no access.
    Suggestion,
}

impl FindingType {
    /// `ERROR`, `SECURITY_WARNING`, `WARNING`, `SUGGESTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingType::Error => "ERROR",
            FindingType::SecurityWarning => "SECURITY_WARNING",
            FindingType::Warning => "WARNING",
            FindingType::Suggestion => "SUGGESTION",
        }
    }
}

impl fmt::Display for FindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzerFinding {
    /// How bad.
    pub finding_type: FindingType,
    /// `MISSING_VERSION`, `REDUNDANT_ACTION`, ...
    pub issue_code: String,
    /// What is wrong and what to do.
    pub details: String,
    /// The statement's `Sid` or `#INDEX`; `None` for the document.
    pub statement: Option<String>,
    /// The element (`Action`, `Condition.StringEquals.KEY`, ...).
    pub field: String,
    /// `(line, column)`: a syntax error's, or the statement's start.
    pub location: Option<(usize, usize)>,
}

/// Every finding for `text` used as `kind` (`source` names it): the
/// builder's ([`validate`]) with their codes, then the document checks.
pub fn analyze(text: &str, source: &str, kind: PolicyKind) -> Vec<AnalyzerFinding> {
    let spans = statement_spans(text);
    let start_of = |label: &Option<String>, index: Option<usize>| {
        index
            .or_else(|| {
                label
                    .as_deref()
                    .and_then(|l| l.strip_prefix('#'))
                    .and_then(|i| i.parse().ok())
            })
            .and_then(|i| spans.get(i))
            .map(|s| s.start)
    };
    let mut out: Vec<AnalyzerFinding> = Vec::new();
    for f in validate(text, source, kind) {
        let (finding_type, code) = classify(&f);
        out.push(AnalyzerFinding {
            finding_type,
            issue_code: code,
            location: f.location.or_else(|| start_of(&f.statement, None)),
            details: f.message,
            statement: f.statement,
            field: f.field,
        });
    }
    let Ok(Json::Object(top)) = raw::parse(text) else {
        return out;
    };
    let statements: Vec<&Json> = match get(&top, "Statement") {
        Some(Json::Array(items)) => items.iter().collect(),
        Some(one @ Json::Object(_)) => vec![one],
        _ => return out,
    };
    let labels: Vec<String> = statements
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Json::Object(f) => match get(f, "Sid") {
                Some(Json::String(sid)) if !sid.is_empty() => sid.clone(),
                _ => format!("#{i}"),
            },
            _ => format!("#{i}"),
        })
        .collect();
    for (i, statement) in statements.iter().enumerate() {
        let Json::Object(fields) = statement else {
            continue;
        };
        let label = labels.get(i).cloned().unwrap_or_default();
        let mut push = |finding_type, code: &str, field: &str, details: String| {
            out.push(AnalyzerFinding {
                finding_type,
                issue_code: code.to_string(),
                details,
                statement: Some(label.clone()),
                field: field.to_string(),
                location: spans.get(i).map(|s| s.start),
            });
        };
        statement_checks(fields, kind, &mut push);
        // A statement repeated (all but its Sid) adds nothing.
        if let Some(j) = statements
            .iter()
            .take(i)
            .position(|other| same_but_sid(statement, other))
        {
            let first = labels.get(j).cloned().unwrap_or_default();
            push(
                FindingType::Suggestion,
                "REDUNDANT_STATEMENT",
                "",
                format!("the statement repeats statement {first}: remove one of them"),
            );
        }
    }
    out
}

fn get<'a>(fields: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn strings(value: Option<&Json>) -> Vec<&str> {
    match value {
        Some(Json::String(s)) => vec![s.as_str()],
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Json::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Access Analyzer's type and code for a builder finding.
fn classify(f: &Finding) -> (FindingType, String) {
    let m = f.message.as_str();
    let field = f.field.split('.').next().unwrap_or_default();
    let element = field.trim_start_matches("Not").to_ascii_uppercase();
    let by_severity = if f.severity == Severity::Error {
        FindingType::Error
    } else {
        FindingType::Warning
    };
    let code = if f.location.is_some() {
        "JSON_SYNTAX_ERROR".to_string()
    } else if m.starts_with("no Version") {
        return (FindingType::Warning, "MISSING_VERSION".into());
    } else if m.starts_with("ForAllValues with Allow") {
        return (
            FindingType::SecurityWarning,
            "FOR_ALL_VALUES_WITHOUT_NULL".into(),
        );
    } else if m.contains("must not be an empty list") || m.contains("no value given") {
        format!("EMPTY_ARRAY_{element}")
    } else if let Some(rest) = m.strip_prefix("missing ") {
        let word = rest.split([' ', ':']).next().unwrap_or_default();
        format!("MISSING_{}", word.to_ascii_uppercase())
    } else if m.starts_with("unknown statement key") || m.starts_with("unknown top-level key") {
        "INVALID_POLICY_ELEMENT".into()
    } else if m.contains("is not allowed in") {
        if element == "PRINCIPAL" {
            "UNSUPPORTED_PRINCIPAL".into()
        } else {
            format!("UNSUPPORTED_ELEMENT_{element}")
        }
    } else if m.starts_with("NotPrincipal cannot be used with") {
        // Access Analyzer warns; gitiam refuses the document.
        "ALLOW_WITH_NOT_PRINCIPAL".into()
    } else if m.starts_with("duplicate Sid") {
        "UNIQUE_SIDS_REQUIRED".into()
    } else if m.contains(", found ") && !m.contains("did you mean") {
        "DATA_TYPE_MISMATCH".into()
    } else if m.starts_with("Effect must") {
        "INVALID_EFFECT".into()
    } else if m.starts_with("Version must") {
        "INVALID_VERSION".into()
    } else if m.contains("cannot have both") || m.contains("cannot be used with") {
        "INVALID_POLICY_ELEMENT".into()
    } else {
        match element.as_str() {
            "ACTION" => "INVALID_ACTION".into(),
            "RESOURCE" => "INVALID_ARN_RESOURCE".into(),
            "PRINCIPAL" => "INVALID_PRINCIPAL_FORMAT".into(),
            "CONDITION" if m.contains("operator") => "INVALID_CONDITION_OPERATOR".into(),
            "CONDITION" if m.contains("key") => "INVALID_CONDITION_KEY_FORMAT".into(),
            "CONDITION" => "INVALID_CONDITION".into(),
            "SID" => "INVALID_SID".into(),
            _ => "INVALID_POLICY_ELEMENT".into(),
        }
    };
    (by_severity, code)
}

/// The checks of one statement.
fn statement_checks(
    fields: &[(String, Json)],
    kind: PolicyKind,
    push: &mut impl FnMut(FindingType, &str, &str, String),
) {
    let allow = matches!(get(fields, "Effect"), Some(Json::String(e)) if e == "Allow");
    for element in ["Action", "NotAction"] {
        for (entry, by) in redundant(&strings(get(fields, element)), true) {
            push(
                FindingType::Suggestion,
                "REDUNDANT_ACTION",
                element,
                format!("\"{entry}\" is already covered by \"{by}\": remove it"),
            );
        }
    }
    for element in ["Resource", "NotResource"] {
        let entries: Vec<&str> = strings(get(fields, element))
            .into_iter()
            .filter(|r| !r.contains("${"))
            .collect();
        for (entry, by) in redundant(&entries, false) {
            push(
                FindingType::Suggestion,
                "REDUNDANT_RESOURCE",
                element,
                format!("\"{entry}\" is already covered by \"{by}\": remove it"),
            );
        }
    }
    let mut condition_keys: Vec<(Operator, String, Vec<String>)> = Vec::new();
    if let Some(Json::Object(operators)) = get(fields, "Condition") {
        for (name, block) in operators {
            let (Ok(op), Json::Object(keys)) = (Operator::parse(name), block) else {
                continue;
            };
            for (key, values) in keys {
                let values: Vec<String> = match values {
                    Json::Array(items) => items.iter().filter_map(Json::scalar_text).collect(),
                    other => other.scalar_text().into_iter().collect(),
                };
                condition_checks(name, op, key, &values, push);
                condition_keys.push((op, key.clone(), values));
            }
        }
    }
    if kind == PolicyKind::Trust && allow {
        oidc_checks(fields, &condition_keys, push);
    }
}

/// Entries of `list` that another entry covers: `(entry, covering)`.
fn redundant<'a>(list: &[&'a str], ignore_case: bool) -> Vec<(&'a str, &'a str)> {
    let norm = |s: &str| {
        if ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let covering = list.iter().enumerate().find(|(j, other)| {
            if *j == i {
                return false;
            }
            let (e, o) = (norm(entry), norm(other));
            // Of two equal entries, the second is the redundant one.
            if e == o {
                return *j < i;
            }
            Wildcard::new(&o).matches(&e)
        });
        if let Some((_, by)) = covering {
            out.push((*entry, *by));
        }
    }
    out
}

/// The operator family a global or gitiam key's values have.
fn key_family(key: &str) -> Option<Family> {
    let k = key.to_ascii_lowercase();
    Some(match k.as_str() {
        "aws:sourceip" => Family::Ip,
        "aws:currenttime" | "aws:tokenissuetime" => Family::Date,
        "aws:epochtime" | "aws:multifactorauthage" | "sts:durationseconds" => Family::Numeric,
        "aws:securetransport" | "aws:multifactorauthpresent" | "aws:viaawsservice" => Family::Bool,
        "aws:principalarn" | "aws:sourcearn" | "aws:federatedprovider" => Family::Arn,
        "aws:username"
        | "aws:userid"
        | "aws:principalaccount"
        | "aws:principaltype"
        | "aws:requestedregion"
        | "aws:sourceidentity"
        | "codecommit:references"
        | "sts:externalid"
        | "sts:rolesessionname"
        | "sts:sourceidentity"
        | "aws:tagkeys"
        | "sts:transitivetagkeys" => Family::String,
        _ if k.starts_with("aws:principaltag/")
            || k.starts_with("aws:requesttag/")
            || k.starts_with("aws:resourcetag/") =>
        {
            Family::String
        }
        _ => return None,
    })
}

fn condition_checks(
    name: &str,
    op: Operator,
    key: &str,
    values: &[String],
    push: &mut impl FnMut(FindingType, &str, &str, String),
) {
    let field = format!("Condition.{name}.{key}");
    let family = op.base.family();
    let like = matches!(
        op.base,
        BaseOperator::StringLike
            | BaseOperator::StringNotLike
            | BaseOperator::ArnLike
            | BaseOperator::ArnNotLike
    );
    if matches!(family, Family::String | Family::Arn)
        && !like
        && values
            .iter()
            .any(|v| v.contains(['*', '?']) && !v.contains("${"))
    {
        push(
            FindingType::Warning,
            "WILDCARD_WITHOUT_LIKE_OPERATOR",
            &field,
            format!(
                "{name} compares \"*\" and \"?\" literally: use {} to match a pattern",
                if family == Family::Arn {
                    "ArnLike"
                } else {
                    "StringLike"
                }
            ),
        );
    }
    if let Some(expected) = key_family(key) {
        // ARNs are strings too; dates are numbers of seconds too.
        let fits = family == expected
            || family == Family::Null
            || (expected == Family::Arn && family == Family::String)
            || (expected == Family::Numeric
                && family == Family::Date
                && key.eq_ignore_ascii_case("aws:EpochTime"))
            || (expected == Family::Date
                && family == Family::Numeric
                && key.eq_ignore_ascii_case("aws:EpochTime"));
        if !fits {
            push(
                FindingType::Warning,
                "TYPE_MISMATCH",
                &field,
                format!(
                    "{key} holds {} values: use a {} operator instead of {name}",
                    family_name(expected),
                    family_name(expected)
                ),
            );
        }
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::String => "String",
        Family::Numeric => "Numeric",
        Family::Date => "Date",
        Family::Bool => "Bool",
        Family::Binary => "Binary",
        Family::Ip => "IpAddress",
        Family::Arn => "Arn",
        Family::Null => "Null",
    }
}

/// A role trust statement for an OIDC provider must say which subjects
/// (`HOST:sub`) and audiences (`HOST:aud`) it admits.
fn oidc_checks(
    fields: &[(String, Json)],
    conditions: &[(Operator, String, Vec<String>)],
    push: &mut impl FnMut(FindingType, &str, &str, String),
) {
    let Some(Json::Object(principal)) = get(fields, "Principal") else {
        return;
    };
    for provider in strings(get(principal, "Federated")) {
        let Some((_, host)) = provider.split_once(":oidc-provider/") else {
            continue;
        };
        // A positive condition on the key that does not match everything.
        let restricts = |claim: &str| {
            let key = format!("{host}:{claim}");
            conditions.iter().any(|(op, k, values)| {
                k.eq_ignore_ascii_case(&key)
                    && op.base != BaseOperator::Null
                    && !op.base.is_negated()
                    && !op.if_exists
                    && values.iter().all(|v| !v.trim_matches('*').is_empty())
            })
        };
        if !restricts("sub") {
            push(
                FindingType::SecurityWarning,
                "MISSING_OIDC_SUB_CONDITION",
                "Condition",
                format!(
                    "the statement admits every token of {host}, whatever its subject: add a condition on \"{host}:sub\" (StringEquals, or StringLike such as \"repo:ORG/REPO:*\"), or any repository's CI can assume the role"
                ),
            );
        }
        if !restricts("aud") {
            push(
                FindingType::SecurityWarning,
                "MISSING_AUDIENCE_CONDITION",
                "Condition",
                format!(
                    "the statement admits tokens of {host} issued for any audience: add a condition on \"{host}:aud\" with the client id the tokens are requested for"
                ),
            );
        }
    }
}

/// Equal statements but for their `Sid` (keys in any order).
fn same_but_sid(a: &Json, b: &Json) -> bool {
    fn canonical(j: &Json) -> Json {
        match j {
            Json::Object(fields) => {
                let mut f: Vec<(String, Json)> = fields
                    .iter()
                    .filter(|(k, _)| k != "Sid")
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect();
                f.sort_by(|x, y| x.0.cmp(&y.0));
                Json::Object(f)
            }
            Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str, kind: PolicyKind) -> Vec<String> {
        analyze(text, "t.json", kind)
            .into_iter()
            .map(|f| format!("{} {}", f.finding_type, f.issue_code))
            .collect()
    }

    #[test]
    fn document_checks() {
        let text = r#"{"Statement":[
          {"Sid":"A","Effect":"Allow","Action":["codecommit:*","codecommit:GitPull"],"Resource":["arn:aws:codecommit:us-east-1:111122223333:*","arn:aws:codecommit:us-east-1:111122223333:web"],
           "Condition":{"StringEquals":{"codecommit:References":"refs/heads/*"},"NumericLessThan":{"aws:username":"3"}}},
          {"Sid":"B","Effect":"Allow","Action":["codecommit:*","codecommit:GitPull"],"Resource":["arn:aws:codecommit:us-east-1:111122223333:*","arn:aws:codecommit:us-east-1:111122223333:web"],
           "Condition":{"StringEquals":{"codecommit:References":"refs/heads/*"},"NumericLessThan":{"aws:username":"3"}}}]}"#;
        let c = codes(text, PolicyKind::Identity);
        for want in [
            "WARNING MISSING_VERSION",
            "SUGGESTION REDUNDANT_ACTION",
            "SUGGESTION REDUNDANT_RESOURCE",
            "WARNING WILDCARD_WITHOUT_LIKE_OPERATOR",
            "WARNING TYPE_MISMATCH",
            "SUGGESTION REDUNDANT_STATEMENT",
        ] {
            assert!(c.iter().any(|x| x == want), "{want} missing from {c:?}");
        }
    }

    #[test]
    fn oidc_trust_checks() {
        let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.example.test"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
        let c = codes(open, PolicyKind::Trust);
        assert!(
            c.contains(&"SECURITY_WARNING MISSING_OIDC_SUB_CONDITION".to_string()),
            "{c:?}"
        );
        assert!(
            c.contains(&"SECURITY_WARNING MISSING_AUDIENCE_CONDITION".to_string()),
            "{c:?}"
        );
        let scoped = open.replace(
            r#""Action":"sts:AssumeRoleWithWebIdentity""#,
            r#""Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.example.test:aud":"sts.amazonaws.com"},"StringLike":{"token.example.test:sub":"repo:org/app:*"}}"#,
        );
        assert_eq!(codes(&scoped, PolicyKind::Trust), Vec::<String>::new());
        // A sub condition that matches everything does not count.
        let star = scoped.replace("repo:org/app:*", "*");
        assert!(
            codes(&star, PolicyKind::Trust)
                .contains(&"SECURITY_WARNING MISSING_OIDC_SUB_CONDITION".to_string())
        );
    }
}
