//! `credential_process`: runs the profile's command without a shell (its
//! words split as botocore splits them), reads at most 1 MiB of its output
//! and parses the JSON it prints.

use std::io::Read;
use std::time::SystemTime;

use super::Resolver;
use crate::client::{CredentialError, Credentials};

/// Largest `credential_process` output read.
const MAX_PROCESS_OUTPUT: u64 = 1 << 20;

impl Resolver<'_> {
    pub(super) fn credential_process(
        &self,
        profile: &str,
        command: &str,
    ) -> Result<Credentials, CredentialError> {
        let perr = |message: String| CredentialError::Process {
            profile: profile.to_owned(),
            message,
        };
        let argv = split_command(command)
            .ok_or_else(|| perr("unbalanced quotes in the command".into()))?;
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| perr("empty command".into()))?;
        self.debug(|| format!("running credential_process `{program}`"));
        let mut child = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .map_err(|e| perr(format!("cannot run `{program}`: {}", e.kind())))?;
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            stdout
                .take(MAX_PROCESS_OUTPUT)
                .read_to_end(&mut out)
                .map_err(|e| perr(format!("cannot read its output: {}", e.kind())))?;
        }
        let status = child
            .wait()
            .map_err(|e| perr(format!("cannot wait for it: {}", e.kind())))?;
        if !status.success() {
            return Err(perr(format!("`{program}` exited with {status}")));
        }
        parse_process_output(&out, self.now).map_err(perr)
    }
}

/// The JSON a `credential_process` prints (`Version` 1).
pub(super) fn parse_process_output(out: &[u8], now: SystemTime) -> Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Output {
        version: u32,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        expiration: Option<String>,
    }
    // The error from serde could quote the input; report only its position.
    let o: Output = serde_json::from_slice(out).map_err(|e| {
        format!("its output is not the expected JSON (Version, AccessKeyId, SecretAccessKey, ...) at line {} column {}", e.line(), e.column())
    })?;
    if o.version != 1 {
        return Err(format!("unsupported Version {} (expected 1)", o.version));
    }
    let expiration = match o.expiration.as_deref() {
        Some(s) => Some(
            crate::client::sts_client::parse_timestamp(s)
                .ok_or("Expiration is not an ISO 8601 time")?,
        ),
        None => None,
    };
    if expiration.is_some_and(|e| e <= now) {
        return Err("it returned expired credentials".into());
    }
    Ok(Credentials::new(
        o.access_key_id,
        o.secret_access_key,
        o.session_token,
        expiration,
    ))
}

/// Splits a command line as botocore does (`shlex.split`, POSIX rules):
/// whitespace separates words, quotes group, backslash escapes.
pub(super) fn split_command(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => cur.push(c),
                            '\n' => {}
                            c => {
                                cur.push('\\');
                                cur.push(c);
                            }
                        },
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}
