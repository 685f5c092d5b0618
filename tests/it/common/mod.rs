//! Helpers shared by the integration tests (every module of the `it` test
//! binary uses them as `crate::common`).

pub mod cmd;
pub mod git_server;
pub mod nginx;
pub mod server;
pub mod ssh;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub use cmd::{CommandExt, Run};

/// True when running under CI (`CI=true`), where every external tool the
/// tests use must be present: a missing tool fails the test instead of
/// skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns true when `program` can be run (`program ARGS` exits 0).
/// Outside CI a missing tool reports the skip and returns false; under CI
/// it panics, so a missing install step cannot pass silently.
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
        skip(
            test,
            &format!("`{program}` is not installed on this machine"),
        );
    }
    ok
}

/// Reports that `test` did not run, and why. libtest captures the print
/// macros of passing tests and shows the test as `ok`, so this writes to
/// the process's stderr directly, where it shows in every run's output.
pub fn skip(test: &str, why: &str) {
    // libtest names each test's thread after the test's full path.
    let thread = std::thread::current();
    let name = thread.name().filter(|n| n.ends_with(test)).unwrap_or(test);
    let line = format!("SKIPPED {name}: {why} (CI=true makes this a failure)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
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

/// Runs `python3 ARGS` and returns its stdout; panics with the harness
/// report when it fails.
pub fn python3_ok(args: &[&str]) -> Vec<u8> {
    Command::new("python3").args(args).ok().stdout_bytes
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

/// Polls `cond` every 20 ms until it holds; panics naming `what` once
/// `bound` has passed.
pub fn wait_for(what: &str, bound: Duration, cond: impl FnMut() -> bool) {
    poll(what, bound, Duration::from_millis(20), cond);
}

/// Waits (up to 15 s) until a running server has reloaded a change to its
/// configuration: `cond` is a request that tells. Polled every 100 ms, not
/// faster: each refused attempt counts against the source's failed-login
/// budget.
pub fn wait_for_reload(what: &str, cond: impl FnMut() -> bool) {
    poll(
        what,
        Duration::from_secs(15),
        Duration::from_millis(100),
        cond,
    );
}

fn poll(what: &str, bound: Duration, every: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {bound:?} waiting for {what}"
        );
        std::thread::sleep(every);
    }
}
