//! `gitiam access diff`: the access a new configuration grants that an old
//! one does not, and the reverse; the old one from a file or from a git
//! revision of the configuration's repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Exit, load, now};
use crate::server::review::{Change, Reviewer, Universe, access_set, diff};
use crate::shared::config::{BackendTarget, Config};
use crate::shared::policy::Context;

/// Arguments of `gitiam access diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new configuration (gitiam.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The old configuration to compare with.
    #[arg(long, value_name = "FILE", conflicts_with = "against_git")]
    pub against: Option<PathBuf>,
    /// Compare with the configuration and policy files as they were at this
    /// revision of the git repository holding `--config`.
    #[arg(long = "against-git", value_name = "REV")]
    pub against_git: Option<String>,
    /// Print JSON: [{"change": "+"|"-"|"~", "principal", "action",
    /// "resource", "ref", "conditions"}].
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(args: &Args) -> Exit {
    let (old_path, _old_tree) = match (&args.against, &args.against_git) {
        (Some(p), None) => (p.clone(), None),
        (None, Some(rev)) => match checkout(&args.config, rev) {
            Ok((path, tree)) => (path, Some(tree)),
            Err(e) => {
                eprintln!("gitiam access diff: --against-git {rev}: {e}");
                return Exit::BadInput;
            }
        },
        _ => {
            eprintln!("gitiam access diff: give --against FILE or --against-git REV");
            return Exit::BadInput;
        }
    };
    let Some(new) = load(&args.config, "diff") else {
        return Exit::BadInput;
    };
    let Some(old) = load(&old_path, "diff") else {
        return Exit::BadInput;
    };
    let mut universe = Universe::default();
    for config in [&old, &new] {
        universe.add_directory(&config.directory);
        if let BackendTarget::Embedded { repos, .. } = &config.backend.target {
            universe.add_backend_repositories(repos);
        }
    }
    let overrides = Context::new();
    let now = now();
    let set = |config: &Config| {
        access_set(
            &Reviewer {
                directory: &config.directory,
                region: &config.server.region,
                now,
                overrides: &overrides,
            },
            &universe,
        )
    };
    let changes = diff(&set(&old), &set(&new));
    if args.json {
        print_json(&changes);
    } else {
        print_text(&changes);
    }
    if changes.iter().any(Change::is_gain) {
        Exit::Gained
    } else {
        Exit::Ok
    }
}

fn print_text(changes: &[Change]) {
    let mut out = String::new();
    for c in changes {
        let e = &c.entry;
        let _ = write!(
            out,
            "{} {} {} {}",
            c.sign, e.principal, e.action, e.resource
        );
        if let Some(r) = &e.reference {
            let _ = write!(out, " {r}");
        }
        if let Some(conditions) = c.conditions.describe() {
            let _ = write!(out, " {conditions}");
        }
        out.push('\n');
    }
    crate::cli::print_out(&out);
}

fn print_json(changes: &[Change]) {
    let value: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            serde_json::json!({
                "change": c.sign.to_string(),
                "principal": c.entry.principal,
                "action": c.entry.action,
                "resource": c.entry.resource,
                "ref": c.entry.reference,
                "conditions": c.conditions.sets(),
            })
        })
        .collect();
    match serde_json::to_string_pretty(&value) {
        Ok(text) => crate::cli::print_out(&format!("{text}\n")),
        Err(e) => eprintln!("gitiam access diff: {e}"),
    }
}

/// A temporary folder removed on drop.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Extracts revision `rev` of the git repository holding `config` into a
/// temporary folder; returns the config's path there.
fn checkout(config: &Path, rev: &str) -> Result<(PathBuf, TempTree), String> {
    let config = std::fs::canonicalize(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let dir = config.parent().unwrap_or(Path::new("/"));
    let top = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !top.status.success() {
        return Err(format!(
            "{} is not in a git repository: {}",
            dir.display(),
            String::from_utf8_lossy(&top.stderr).trim()
        ));
    }
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let relative = config
        .strip_prefix(&top)
        .map_err(|_| format!("{} is outside {}", config.display(), top.display()))?
        .to_path_buf();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tree =
        TempTree(std::env::temp_dir().join(format!("gitiam-diff-{}-{nanos}", std::process::id())));
    std::fs::create_dir_all(&tree.0).map_err(|e| format!("{}: {e}", tree.0.display()))?;
    // `git archive | tar -x`: the files as committed, without touching the
    // repository's index or work tree.
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(&top)
        .args(["archive", "--format=tar", rev])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let Some(stdout) = archive.stdout.take() else {
        return Err("git archive: no output".into());
    };
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&tree.0)
        .stdin(stdout)
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let archived = archive
        .wait_with_output()
        .map_err(|e| format!("git archive: {e}"))?;
    if !archived.status.success() {
        return Err(format!(
            "git archive: {}",
            String::from_utf8_lossy(&archived.stderr).trim()
        ));
    }
    if !tar.status.success() {
        return Err(format!(
            "tar: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    let old = tree.0.join(&relative);
    if !old.is_file() {
        return Err(format!("{} does not exist at {rev}", relative.display()));
    }
    Ok((old, tree))
}
