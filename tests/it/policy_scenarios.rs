//! The table-driven corpus of policy decisions: every `tests/scenarios/*.json`
//! file holds policies (inline or by path), optional layers, and cases (a
//! request with the expected decision and deciding statements). Each case is
//! decided twice, with plain layers and through a `PolicyIndex`, and both
//! must give the expected answer.
//!
//! Scenario format:
//! ```json
//! {
//!   "description": "what the file covers",
//!   "policies": [ {"name": "p.json", "document": { ... }} | {"name": "x", "path": "policies/x.json"} ],
//!   "layers": [["p.json"], ["session.json"]],          // optional; default: one layer of all
//!   "cases": [{
//!     "name": "what this case shows",
//!     "request": {"action": "...", "resource": "...",
//!                 "principal": "ARN" | {"arn", "account", "role_arn", "federated"},
//!                 "context": {"key": "value" | ["v1", "v2"] | []}},
//!     "decision": "allowed" | "explicitDeny" | "implicitDeny",
//!     "deciding": ["Sid or #index", ...],                // optional; exact list
//!     "errors": 1                                        // optional; number of evaluation errors
//!   }],
//!   "invalid": [{"name": "...", "document": { ... }, "error": "substring of the PolicyError"}]
//! }
//! ```

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitiam::shared::policy::{
    Context, Policy, PolicyIndex, PolicyLayer, PrincipalInfo, Request, evaluate,
};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_policy(spec: &Value, file: &Path) -> Arc<Policy> {
    let name = spec["name"].as_str().expect("policy without name");
    let text = if let Some(doc) = spec.get("document") {
        serde_json::to_string_pretty(doc).unwrap()
    } else if let Some(text) = spec.get("text") {
        text.as_str().unwrap().to_string()
    } else {
        let path = root().join(
            spec["path"]
                .as_str()
                .expect("policy needs document, text or path"),
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    Arc::new(
        Policy::parse(name, &text)
            .unwrap_or_else(|e| panic!("{}: policy {name} does not parse: {e}", file.display())),
    )
}

fn context_of(value: Option<&Value>) -> Context {
    let mut context = Context::new();
    let Some(Value::Object(map)) = value else {
        return context;
    };
    for (key, v) in map {
        match v {
            Value::Array(items) => context.set(
                key.clone(),
                items.iter().map(|i| scalar(i).unwrap()).collect(),
            ),
            other => context.insert(key.clone(), scalar(other).unwrap()),
        }
    }
    context
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn principal_of(value: Option<&Value>) -> Option<PrincipalInfo> {
    match value? {
        Value::String(arn) => Some(PrincipalInfo::from_arn(arn).expect("principal is not an ARN")),
        Value::Object(o) => Some(PrincipalInfo {
            arn: o["arn"].as_str().unwrap_or_default().to_string(),
            account: o["account"].as_str().unwrap_or_default().to_string(),
            role_arn: o
                .get("role_arn")
                .and_then(Value::as_str)
                .map(str::to_string),
            federated: o
                .get("federated")
                .and_then(Value::as_str)
                .map(str::to_string),
        }),
        Value::Null => None,
        other => panic!("bad principal {other}"),
    }
}

/// Runs one scenario file; returns the failures (and the number of cases).
fn run_file(file: &Path) -> (Vec<String>, usize) {
    let text = std::fs::read_to_string(file).unwrap();
    let scenario: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut failures = Vec::new();

    let policies: Vec<Arc<Policy>> = scenario["policies"]
        .as_array()
        .map(|ps| ps.iter().map(|p| load_policy(p, file)).collect())
        .unwrap_or_default();
    let by_name = |name: &str| -> Arc<Policy> {
        policies
            .iter()
            .find(|p| p.source() == name)
            .unwrap_or_else(|| panic!("{}: no policy named {name}", file.display()))
            .clone()
    };
    let layer_sets: Vec<Vec<Arc<Policy>>> = match scenario.get("layers") {
        Some(Value::Array(layers)) => layers
            .iter()
            .map(|l| {
                l.as_array()
                    .unwrap()
                    .iter()
                    .map(|n| by_name(n.as_str().unwrap()))
                    .collect()
            })
            .collect(),
        _ => vec![policies.clone()],
    };
    let indexes: Vec<PolicyIndex> = layer_sets
        .iter()
        .map(|s| PolicyIndex::new(s.clone()))
        .collect();
    let plain: Vec<PolicyLayer<'_>> = layer_sets.iter().map(|s| PolicyLayer::new(s)).collect();
    let indexed: Vec<PolicyLayer<'_>> = indexes.iter().map(PolicyLayer::from).collect();

    let cases = scenario["cases"].as_array().cloned().unwrap_or_default();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("(unnamed)");
        let req = &case["request"];
        let context = context_of(req.get("context"));
        let principal = principal_of(req.get("principal"));
        let request = Request {
            action: req["action"].as_str().unwrap(),
            resource: req["resource"].as_str().unwrap(),
            principal: principal.as_ref(),
            context: &context,
        };
        let want = case["decision"].as_str().unwrap();
        for (how, layers) in [("layers", &plain), ("index", &indexed)] {
            let got = evaluate(layers, &request);
            let label = format!(
                "{} / {name} ({how})",
                file.file_name().unwrap().to_string_lossy()
            );
            if got.decision.as_str() != want {
                failures.push(format!(
                    "{label}: expected {want}, got {} (deciding {:?}, errors {:?})",
                    got.decision, got.deciding, got.errors
                ));
                continue;
            }
            if let Some(Value::Array(expected)) = case.get("deciding") {
                let expected: Vec<&str> = expected.iter().map(|v| v.as_str().unwrap()).collect();
                let actual: Vec<&str> = got.deciding.iter().map(|s| s.statement.as_str()).collect();
                if expected != actual {
                    failures.push(format!(
                        "{label}: deciding statements {actual:?}, expected {expected:?}"
                    ));
                }
            }
            if let Some(n) = case.get("errors").and_then(Value::as_u64)
                && got.errors.len() as u64 != n
            {
                failures.push(format!(
                    "{label}: {} evaluation errors {:?}, expected {n}",
                    got.errors.len(),
                    got.errors
                ));
            }
        }
    }

    let invalid = scenario["invalid"].as_array().cloned().unwrap_or_default();
    for bad in &invalid {
        let name = bad["name"].as_str().unwrap();
        let text = match bad.get("text") {
            Some(t) => t.as_str().unwrap().to_string(),
            None => serde_json::to_string_pretty(&bad["document"]).unwrap(),
        };
        let want = bad["error"].as_str().unwrap();
        match Policy::parse(name, &text) {
            Ok(_) => failures.push(format!(
                "{} / {name}: parsed, expected an error containing {want:?}",
                file.display()
            )),
            Err(e) if !e.to_string().contains(want) => failures.push(format!(
                "{} / {name}: error {:?} does not contain {want:?}",
                file.display(),
                e.to_string()
            )),
            Err(_) => {}
        }
    }
    (failures, cases.len() + invalid.len())
}

#[test]
fn scenarios() {
    let dir = root().join("tests/scenarios");
    let files = common::json_files(&dir);
    assert!(
        files.len() >= 10,
        "scenario files missing in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    let mut total = 0;
    for file in &files {
        let (f, n) = run_file(file);
        assert!(n > 0, "{}: no cases", file.display());
        failures.extend(f);
        total += n;
    }
    assert!(
        failures.is_empty(),
        "{} of {total} scenario checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{total} scenario cases in {} files passed", files.len());
}
