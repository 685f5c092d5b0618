//! `gitiam policy validate`: every finding of every file, with IAM Access
//! Analyzer's finding types and issue codes, as text or JSON; with
//! `--config`, every policy file a configuration references, each checked
//! as what it is used as there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Exit, KindArg, display, plural};
use crate::shared::config::raw::RawConfig;
use crate::shared::policy::PolicyKind;
use crate::shared::policy::analyzer::{AnalyzerFinding, FindingType, analyze};

/// Arguments of `gitiam policy validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Policy files to check.
    #[arg(value_name = "FILE", required_unless_present = "config")]
    pub files: Vec<PathBuf>,
    /// What the files are used as; `auto` guesses per file (trust policy when
    /// every statement has a Principal and grants only sts: actions).
    #[arg(long, value_enum, default_value_t = KindArg::Auto)]
    pub kind: KindArg,
    /// Also check every policy file this configuration (gitiam.toml)
    /// references: users' and groups' policies as identity policies, roles'
    /// `policies` as identity and `trust_policy` as trust policies.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON: one object per file with its findings (`findingType`,
    /// `issueCode`, `findingDetails`, `statement`, `field`, `location`).
    #[arg(long)]
    pub json: bool,
}

/// One file to check: its path, the name to show and its kind (`None`:
/// from `--kind`).
struct Target {
    path: PathBuf,
    name: String,
    kind: Option<PolicyKind>,
}

/// The policy files `config` references, each with its kind, in
/// configuration order and once per (file, kind).
fn config_targets(config: &Path) -> Result<Vec<Target>, String> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("{}: cannot read: {e}", config.display()))?;
    let raw: RawConfig = toml::from_str(&text)
        .map_err(|e| format!("{}: {}", config.display(), e.message().trim_end()))?;
    let base = super::principal::config_base(config);
    let mut out: Vec<Target> = Vec::new();
    let mut add = |reference: &str, kind: PolicyKind| {
        let path = base.join(reference);
        if !out.iter().any(|t| t.path == path && t.kind == Some(kind)) {
            out.push(Target {
                path,
                name: reference.to_string(),
                kind: Some(kind),
            });
        }
    };
    for account in &raw.accounts {
        let account = account.get_ref();
        for group in &account.groups {
            for p in &group.get_ref().policies {
                add(p.get_ref(), PolicyKind::Identity);
            }
        }
        for user in &account.users {
            for p in &user.get_ref().policies {
                add(p.get_ref(), PolicyKind::Identity);
            }
        }
        for role in &account.roles {
            let role = role.get_ref();
            add(role.trust_policy.get_ref(), PolicyKind::Trust);
            for p in &role.policies {
                add(p.get_ref(), PolicyKind::Identity);
            }
        }
    }
    Ok(out)
}

/// `security warning`, `suggestion`, ... for text lines.
fn word(t: FindingType) -> &'static str {
    match t {
        FindingType::Error => "error",
        FindingType::SecurityWarning => "security warning",
        FindingType::Warning => "warning",
        FindingType::Suggestion => "suggestion",
    }
}

fn text_line(name: &str, f: &AnalyzerFinding) -> String {
    if f.issue_code == "JSON_SYNTAX_ERROR"
        && let Some((line, column)) = f.location
    {
        return format!("{name}:{line}:{column}: {}", f.details);
    }
    let mut line = format!("{name}: {}: ", word(f.finding_type));
    if let Some(s) = &f.statement {
        let _ = write!(line, "statement {s}: ");
    }
    if !f.field.is_empty() {
        let _ = write!(line, "{}: ", f.field);
    }
    let _ = write!(line, "{} [{}]", f.details, f.issue_code);
    line
}

fn json_finding(f: &AnalyzerFinding) -> serde_json::Value {
    serde_json::json!({
        "findingType": f.finding_type.as_str(),
        "issueCode": f.issue_code,
        "findingDetails": f.details,
        "statement": f.statement,
        "field": f.field,
        "location": f.location.map(|(line, column)| serde_json::json!({"line": line, "column": column})),
    })
}

pub(crate) fn run(args: &ValidateArgs) -> Exit {
    let mut targets: Vec<Target> = args
        .files
        .iter()
        .map(|p| Target {
            path: p.clone(),
            name: display(p),
            kind: None,
        })
        .collect();
    let mut out = String::new();
    let mut json_files = Vec::new();
    let (mut invalid, mut errors, mut warnings) = (0usize, 0usize, 0usize);
    if let Some(config) = &args.config {
        match config_targets(config) {
            Ok(t) => targets.extend(t),
            Err(e) => {
                let _ = writeln!(out, "{e}");
                invalid += 1;
                errors += 1;
                json_files.push(serde_json::json!({"file": display(config), "valid": false, "findings": [{"findingType": "ERROR", "issueCode": "INVALID_CONFIGURATION", "findingDetails": e}]}));
            }
        }
    }
    for target in &targets {
        let name = &target.name;
        let text = match std::fs::read_to_string(&target.path) {
            Ok(text) => text,
            Err(e) => {
                let _ = writeln!(out, "{name}: error: cannot read: {e}");
                json_files.push(serde_json::json!({"file": name, "valid": false, "findings": [{"findingType": "ERROR", "issueCode": "UNREADABLE_FILE", "findingDetails": format!("cannot read: {e}")}]}));
                invalid += 1;
                errors += 1;
                continue;
            }
        };
        let kind = target.kind.unwrap_or_else(|| args.kind.resolve(&text));
        let findings = analyze(&text, name, kind);
        let file_errors = findings
            .iter()
            .filter(|f| f.finding_type == FindingType::Error)
            .count();
        for finding in &findings {
            let _ = writeln!(out, "{}", text_line(name, finding));
        }
        if file_errors == 0 {
            let _ = writeln!(out, "{name}: ok ({} policy)", kind.name());
        } else {
            invalid += 1;
        }
        json_files.push(serde_json::json!({
            "file": name,
            "kind": kind.name(),
            "valid": file_errors == 0,
            "findings": findings.iter().map(json_finding).collect::<Vec<_>>(),
        }));
        errors += file_errors;
        warnings += findings.len() - file_errors;
    }
    let files = json_files.len();
    if args.json {
        match serde_json::to_string_pretty(&json_files) {
            Ok(text) => crate::cli::print_out(&format!("{text}\n")),
            Err(e) => eprintln!("gitiam policy validate: {e}"),
        }
    } else {
        let _ = writeln!(
            out,
            "{files} file{} checked: {} valid, {invalid} invalid ({errors} error{}, {warnings} warning{})",
            plural(files),
            files - invalid,
            plural(errors),
            plural(warnings)
        );
        crate::cli::print_out(&out);
    }
    if invalid == 0 {
        Exit::Ok
    } else {
        Exit::Invalid
    }
}
