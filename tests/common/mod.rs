//! Helpers shared by the integration tests. Each test binary includes this
//! module with `mod common;` and uses what it needs.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod git_server;
pub mod nginx;
pub mod server;
pub mod ssh;

use std::path::PathBuf;
use std::process::Command;

/// True when running under CI (`CI=true`), where every external tool the
/// tests use must be present: a missing tool fails the test instead of
/// skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns true when `program` can be run (`program --version` exits 0).
/// Outside CI a missing tool prints a skip message and returns false; under
/// CI it panics, so a missing install step cannot pass silently.
pub fn require_tool(test: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "{test}: required tool `{program}` is missing under CI=true"
        );
        eprintln!("SKIPPED {test}: `{program}` is not installed on this machine");
    }
    ok
}

/// Path of a binary built by Cargo for this package's integration tests.
pub fn bin(name: &str) -> PathBuf {
    match name {
        "gitiam" => PathBuf::from(env!("CARGO_BIN_EXE_gitiam")),
        "git-credential-gitiam" => PathBuf::from(env!("CARGO_BIN_EXE_git-credential-gitiam")),
        other => panic!("unknown binary {other}"),
    }
}

/// A `git` command in `cwd` with an isolated configuration: no system or
/// global config, no prompts, a fixed author and committer. Callers add
/// what their setting needs (HOME, removed variables).
pub fn isolated_git(cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

/// Runs `python3 ARGS` and returns its stdout; panics with its stderr when
/// it fails.
pub fn python3_ok(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `.json` files directly in `dir`, sorted by path.
pub fn json_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}
