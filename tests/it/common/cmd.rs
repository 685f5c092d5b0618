//! The command harness: every external program the tests run (`gitiam`,
//! `git-credential-gitiam`, `git`, `aws`, `python3`, `openssl`) goes
//! through [`CommandExt`], which captures what ran and what came out. When
//! an expectation about it fails, the panic message shows the command line,
//! the working directory, the environment changes, the exit status, stdout,
//! stderr and any context the test attached (a server log, say), so a
//! failure can be read without rerunning it.
//!
//! ```ignore
//! let out = git_cmd(dir).args(["push", "origin", "main"]).run().assert_failure();
//! out.assert_stderr_contains("[remote rejected]");
//! let head = git_cmd(dir).args(["rev-parse", "HEAD"]).ok().stdout;
//! ```

use std::fmt;
use std::io::Write as _;
use std::process::{Command, ExitStatus, Output, Stdio};

/// Running a [`Command`] through the harness.
pub trait CommandExt {
    /// Runs to completion (stdin closed unless the command sets it) and
    /// returns what happened;
    /// panics (with the command) only when the program cannot be started.
    fn run(&mut self) -> Run;
    /// Like [`run`](Self::run), writing `input` to the program's stdin.
    fn run_stdin(&mut self, input: &[u8]) -> Run;
    /// Runs and asserts exit status 0.
    #[track_caller]
    fn ok(&mut self) -> Run {
        self.run().assert_success()
    }
}

impl CommandExt for Command {
    fn run(&mut self) -> Run {
        let output = self
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", describe(self)));
        Run::of(self, output)
    }

    fn run_stdin(&mut self, input: &[u8]) -> Run {
        let mut child = self
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", describe(self)));
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        // Written from a thread so a program that answers before reading all
        // of its input cannot deadlock the test on a full pipe.
        let writer = std::thread::spawn(move || {
            // A program may exit without reading its input; that shows in
            // its status and output, not as a broken pipe here.
            let _ = stdin.write_all(&input);
        });
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", describe(self)));
        writer.join().unwrap();
        Run::of(self, output)
    }
}

/// A finished command: its exit status and output, and how it was run.
pub struct Run {
    pub status: ExitStatus,
    /// stdout, lossily decoded.
    pub stdout: String,
    /// stderr, lossily decoded.
    pub stderr: String,
    /// stdout as the program wrote it.
    pub stdout_bytes: Vec<u8>,
    command: String,
    context: Vec<(String, String)>,
}

impl Run {
    /// Wraps the output of `cmd` (for children the test spawned and waited
    /// for itself).
    pub fn of(cmd: &Command, output: Output) -> Run {
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stdout_bytes: output.stdout,
            command: describe(cmd),
            context: Vec::new(),
        }
    }

    /// Adds `text` under `label` to every failure message (e.g. the log of
    /// the server the command talked to).
    #[must_use]
    pub fn context(mut self, label: &str, text: impl Into<String>) -> Run {
        self.context.push((label.to_owned(), text.into()));
        self
    }

    /// Whether the program exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.status.success()
    }

    /// Asserts exit status 0.
    #[track_caller]
    pub fn assert_success(self) -> Run {
        self.check(self.status.success(), "expected exit status 0");
        self
    }

    /// Asserts a non-zero exit (or death by a signal).
    #[track_caller]
    pub fn assert_failure(self) -> Run {
        self.check(!self.status.success(), "expected the command to fail");
        self
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn assert_code(self, code: i32) -> Run {
        self.check(
            self.status.code() == Some(code),
            format_args!("expected exit code {code}"),
        );
        self
    }

    /// Asserts stdout contains `needle`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Run {
        self.check(
            self.stdout.contains(needle),
            format_args!("expected stdout to contain {needle:?}"),
        );
        self
    }

    /// Asserts stderr contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Run {
        self.check(
            self.stderr.contains(needle),
            format_args!("expected stderr to contain {needle:?}"),
        );
        self
    }

    /// Asserts `condition` about this run; the message is `what` followed
    /// by the whole report.
    #[track_caller]
    pub fn check(&self, condition: bool, what: impl fmt::Display) {
        if !condition {
            panic!("{what}\n{self}");
        }
    }
}

impl fmt::Display for Run {
    /// The report printed by failed expectations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.command)?;
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())?;
        for (label, text) in &self.context {
            write!(f, "\n--- {label} ---\n{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// The command line, working directory and environment changes of `cmd`.
fn describe(cmd: &Command) -> String {
    let mut line = quote(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(&arg.to_string_lossy()));
    }
    let cwd = match cmd.get_current_dir() {
        Some(dir) => dir.display().to_string(),
        None => match std::env::current_dir() {
            Ok(dir) => format!("{} (inherited)", dir.display()),
            Err(_) => "(inherited)".to_owned(),
        },
    };
    let mut out = format!("command: {line}\ncwd: {cwd}");
    let mut env: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| match v {
            Some(v) => format!("{}={}", k.to_string_lossy(), quote(&v.to_string_lossy())),
            None => format!("-{}", k.to_string_lossy()),
        })
        .collect();
    if !env.is_empty() {
        env.sort();
        out.push_str("\nenv: ");
        out.push_str(&env.join(" "));
    }
    out
}

/// `s` as a shell word: bare when it only has safe characters, otherwise
/// single-quoted.
fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '+' | '@')
        });
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
