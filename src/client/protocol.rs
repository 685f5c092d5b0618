//! The git credential helper protocol (git-credential(1)): `key=value`
//! lines up to a blank line or EOF in, `key=value` lines out.
//!
//! Attributes this helper does not use (`capability[]`, `wwwauth[]`,
//! `state[]`, `url`, future ones) are accepted and ignored, as git asks of
//! helpers; malformed input (no `=`, NUL bytes, oversized) is rejected.

use std::io::{BufRead, Write};

/// Most bytes read from git before giving up (git's own requests are tiny;
/// `wwwauth[]` lines are the largest).
const MAX_INPUT: usize = 1 << 20;

/// What git asks about. `Debug` hides `password`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CredentialRequest {
    /// `protocol`, e.g. `https`.
    pub protocol: Option<String>,
    /// `host`, possibly with `:port`.
    pub host: Option<String>,
    /// `path` (only with `credential.useHttpPath true`), without a leading `/`.
    pub path: Option<String>,
    /// `username`, if git already has one.
    pub username: Option<String>,
    /// `password`, on `store`/`erase`.
    pub password: Option<String>,
}

impl std::fmt::Debug for CredentialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRequest")
            .field("protocol", &self.protocol)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("username", &self.username.as_ref().map(|_| "<set>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the helper answers to `get`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialResponse {
    /// The access key id, plus `%` and the session token when there is one.
    pub username: String,
    /// The CodeCommit-style Git password.
    pub password: String,
    /// When git must stop using the password (Unix seconds).
    pub password_expiry_utc: Option<u64>,
}

impl std::fmt::Debug for CredentialResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialResponse")
            .field("password_expiry_utc", &self.password_expiry_utc)
            .finish_non_exhaustive()
    }
}

/// Malformed helper input or output.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Reading stdin failed.
    #[error("cannot read the request from git: {0}")]
    Io(String),
    /// A line is not `key=value`.
    #[error("malformed input from git on line {line}: expected key=value")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// The input contains a NUL byte or is not UTF-8.
    #[error("malformed input from git on line {line}: NUL byte or invalid UTF-8")]
    BadBytes {
        /// 1-based line number.
        line: usize,
    },
    /// More than [`MAX_INPUT`] bytes.
    #[error("input from git exceeds {MAX_INPUT} bytes")]
    TooLarge,
    /// A value to write contains a newline or NUL.
    #[error("cannot answer git: the {0} contains a newline or NUL byte")]
    UnsafeValue(&'static str),
}

/// Reads one request: lines until a blank line or EOF.
pub fn read_request(input: impl BufRead) -> Result<CredentialRequest, ProtocolError> {
    let mut req = CredentialRequest::default();
    let mut total = 0usize;
    let mut reader = input.take(MAX_INPUT as u64 + 1);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| ProtocolError::Io(e.kind().to_string()))?;
        if n == 0 {
            break;
        }
        total += n;
        if total > MAX_INPUT {
            return Err(ProtocolError::TooLarge);
        }
        line_no += 1;
        let mut line = buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if line.is_empty() {
            break;
        }
        if line.contains(&0) {
            return Err(ProtocolError::BadBytes { line: line_no });
        }
        let line =
            std::str::from_utf8(line).map_err(|_| ProtocolError::BadBytes { line: line_no })?;
        let (key, value) = line
            .split_once('=')
            .ok_or(ProtocolError::Malformed { line: line_no })?;
        if key.is_empty() {
            return Err(ProtocolError::Malformed { line: line_no });
        }
        let slot = match key {
            "protocol" => &mut req.protocol,
            "host" => &mut req.host,
            "path" => &mut req.path,
            "username" => &mut req.username,
            "password" => &mut req.password,
            _ => continue,
        };
        // As in git, a later value replaces an earlier one.
        *slot = Some(value.to_owned());
    }
    Ok(req)
}

/// Writes the answer to `get`.
pub fn write_response(mut out: impl Write, resp: &CredentialResponse) -> std::io::Result<()> {
    let check = |what: &'static str, v: &str| {
        if v.contains(['\n', '\0']) {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                ProtocolError::UnsafeValue(what),
            ))
        } else {
            Ok(())
        }
    };
    check("username", &resp.username)?;
    check("password", &resp.password)?;
    let mut text = format!("username={}\npassword={}\n", resp.username, resp.password);
    if let Some(exp) = resp.password_expiry_utc {
        text.push_str(&format!("password_expiry_utc={exp}\n"));
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_and_ignores_unknown_attributes() {
        let input = b"capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=git.example.com:8443\npath=v1/repos/demo\nwwwauth[]=Basic realm=\"gitiam\"\nurl=https://git.example.com:8443/v1/repos/demo\nstate[]=x=y\n\nignored=after-blank\n";
        let r = read_request(&input[..]).unwrap();
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("git.example.com:8443"));
        assert_eq!(r.path.as_deref(), Some("v1/repos/demo"));
        assert_eq!(r.username, None);
    }

    #[test]
    fn eof_without_blank_line_and_crlf() {
        let r = read_request(&b"protocol=https\r\nhost=h\r\npath=a=b"[..]).unwrap();
        assert_eq!(r.host.as_deref(), Some("h"));
        assert_eq!(r.path.as_deref(), Some("a=b"));
        assert_eq!(
            read_request(&b""[..]).unwrap(),
            CredentialRequest::default()
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            read_request(&b"protocol=https\nnonsense\n"[..]).unwrap_err(),
            ProtocolError::Malformed { line: 2 }
        );
        assert_eq!(
            read_request(&b"=x\n"[..]).unwrap_err(),
            ProtocolError::Malformed { line: 1 }
        );
        assert_eq!(
            read_request(&b"host=a\0b\n"[..]).unwrap_err(),
            ProtocolError::BadBytes { line: 1 }
        );
        assert_eq!(
            read_request(&b"host=\xff\n"[..]).unwrap_err(),
            ProtocolError::BadBytes { line: 1 }
        );
        let big = format!("wwwauth[]={}\n", "a".repeat(MAX_INPUT + 10));
        assert_eq!(
            read_request(big.as_bytes()).unwrap_err(),
            ProtocolError::TooLarge
        );
    }

    #[test]
    fn writes_response_and_refuses_injection() {
        let mut out = Vec::new();
        let resp = CredentialResponse {
            username: "AKID%tok".into(),
            password: "pw".into(),
            password_expiry_utc: Some(42),
        };
        write_response(&mut out, &resp).unwrap();
        assert_eq!(
            out,
            b"username=AKID%tok\npassword=pw\npassword_expiry_utc=42\n"
        );
        let bad = CredentialResponse {
            username: "a\nhost=evil".into(),
            ..resp.clone()
        };
        assert!(write_response(Vec::new(), &bad).is_err());
        assert!(!format!("{resp:?}").contains("pw"));
        let req = CredentialRequest {
            password: Some("hunter2".into()),
            ..Default::default()
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
                                        host in "[a-z0-9.:-]{1,30}", path in "[a-zA-Z0-9/._-]{0,40}") {
            let _ = read_request(&bytes[..]);
            let input = format!("protocol=https\nhost={host}\npath={path}\n\n");
            let r = read_request(input.as_bytes()).unwrap();
            proptest::prop_assert_eq!(r.host.as_deref(), Some(host.as_str()));
            proptest::prop_assert_eq!(r.path.as_deref(), Some(path.as_str()));
        }
    }
}
