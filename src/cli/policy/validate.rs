//! `gitiam policy validate`: every finding of every file, as text or JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{Exit, KindArg, display, plural};
use crate::shared::policy::{Severity, validate};

/// Arguments of `gitiam policy validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Policy files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// What the files are used as; `auto` guesses per file (trust policy when
    /// every statement has a Principal and grants only sts: actions).
    #[arg(long, value_enum, default_value_t = KindArg::Auto)]
    pub kind: KindArg,
}

pub(crate) fn run(args: &ValidateArgs) -> Exit {
    let mut out = String::new();
    let (mut invalid, mut errors, mut warnings) = (0usize, 0usize, 0usize);
    for path in &args.files {
        let name = display(path);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                let _ = writeln!(out, "{name}: error: cannot read: {e}");
                invalid += 1;
                errors += 1;
                continue;
            }
        };
        let kind = args.kind.resolve(&text);
        let findings = validate(&text, &name, kind);
        let file_errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        for finding in &findings {
            match finding.location {
                Some((line, column)) => {
                    let _ = writeln!(out, "{name}:{line}:{column}: {}", finding.message);
                }
                None => {
                    let _ = writeln!(out, "{name}: {finding}");
                }
            }
        }
        if file_errors == 0 {
            let _ = writeln!(out, "{name}: ok ({} policy)", kind.name());
        } else {
            invalid += 1;
        }
        errors += file_errors;
        warnings += findings.len() - file_errors;
    }
    let files = args.files.len();
    let _ = writeln!(
        out,
        "{files} file{} checked: {} valid, {invalid} invalid ({errors} error{}, {warnings} warning{})",
        plural(files),
        files - invalid,
        plural(errors),
        plural(warnings)
    );
    print!("{out}");
    if invalid == 0 {
        Exit::Ok
    } else {
        Exit::Invalid
    }
}

