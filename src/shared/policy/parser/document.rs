//! The document and its statements: top-level keys, `Version`, `Id`,
//! `Statement`, and per statement `Sid` and `Effect`; the other elements are
//! handed to their own files.

use std::collections::HashMap;

use crate::shared::policy::ast::{Effect, Policy, Statement, Version};
use crate::shared::policy::finding::{Finding, PolicyKind};
use crate::shared::policy::raw::Json;

use super::builder::{Builder, suggestion};
use super::condition::build_conditions;
use super::elements::{build_actions, build_resources};
use super::principal::build_principals;

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

pub(super) fn build_document(
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
