//! `git-credential-gitiam`: a Git credential helper that answers with
//! CodeCommit-style SigV4 passwords.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(1)
}
