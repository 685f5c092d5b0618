//! The audit log: one JSON object per line and per request, written when the
//! response has been sent (so it carries the final status, byte counts and
//! duration), to `STATE_DIR/audit.jsonl`, a configured file, or stdout.
//!
//! Records hold identifiers only: access key ids, ARNs, ref names, policy
//! file and statement names. Never a secret, password, signature or token.

use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::shared::config::AuditSink;

/// The event ids of a push, shared between its audit record and the tap
/// that learns them while the response streams (clones share the list).
#[derive(Debug, Clone, Default)]
pub struct EventIds(std::sync::Arc<Mutex<Vec<String>>>);

impl EventIds {
    /// Adds ids.
    pub fn extend(&self, ids: impl IntoIterator<Item = String>) {
        if let Ok(mut v) = self.0.lock() {
            v.extend(ids);
        }
    }

    /// The ids so far.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// No ids.
    pub fn is_empty(&self) -> bool {
        self.0.lock().map(|v| v.is_empty()).unwrap_or(true)
    }
}

impl Serialize for EventIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_vec().serialize(s)
    }
}

/// One request, as audited.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRecord {
    /// Start of the request, RFC 3339 UTC.
    pub time: String,
    /// Random id, also in logs.
    pub request_id: String,
    /// Client address.
    pub source_ip: Option<IpAddr>,
    /// The front door: `https` or `ssh`.
    pub transport: Transport,
    /// HTTP method.
    pub method: String,
    /// Request path (no query string: it carries nothing secret, but also
    /// nothing the route does not say).
    pub path: String,
    /// Access key id presented (even when authentication failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// SSH key id (`APKA...`) presented as the SSH user name (even when
    /// authentication failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key_id: Option<String>,
    /// Service user name (`NAME-at-ACCOUNTID`) of an HTTPS Git credential
    /// presented (even when authentication failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_user_name: Option<String>,
    /// Id (`ACCA...`) of the HTTPS Git credential that authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_credential_id: Option<String>,
    /// How the caller authenticated: `sigv4`, `git-credential`, `ssh-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_type: Option<&'static str>,
    /// Authenticated principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `codecommit:GitPull`, `codecommit:GitPush`, `sts:...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Resource ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Refs a push updates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// Refs a push changes through the symbolic refs it names (each was
    /// decided too).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub symref_targets: Vec<String>,
    /// Refs a push changes because the repository ignores case (each was
    /// decided too).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub case_variants: Vec<String>,
    /// Ids of the push events this push produced (filled in when the
    /// backend's report has been read, before the line is written).
    #[serde(skip_serializing_if = "EventIds::is_empty")]
    pub events: EventIds,
    /// `allowed`, `explicitDeny`, `implicitDeny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<&'static str>,
    /// Policy file of the deciding statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Sid (or `#index`) of the deciding statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// HTTP status sent.
    pub status: u16,
    /// Why the request failed (authentication, protocol, backend), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Milliseconds from request head to end of response.
    pub duration_ms: f64,
}

/// The front door a request came through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The HTTPS door (smart HTTP and STS).
    #[default]
    Https,
    /// The SSH door: `method` is the Git program, `status` its exit status.
    Ssh,
}

/// Where audit records go.
pub struct AuditLog {
    sink: Sink,
}

enum Sink {
    Off,
    Stdout,
    File(Mutex<File>),
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.sink {
            Sink::Off => "off",
            Sink::Stdout => "stdout",
            Sink::File(_) => "file",
        };
        f.debug_struct("AuditLog").field("sink", &kind).finish()
    }
}

impl AuditLog {
    /// Opens the sink (a file is created with its folder, and appended to).
    pub fn open(sink: &AuditSink) -> std::io::Result<Self> {
        let sink = match sink {
            AuditSink::Off => Sink::Off,
            AuditSink::Stdout => Sink::Stdout,
            AuditSink::File(path) => Sink::File(Mutex::new(open_append(path)?)),
        };
        Ok(Self { sink })
    }

    /// Writes `record` as one line. A failing write is logged, not fatal:
    /// the request has already been served.
    pub fn write(&self, record: &AuditRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize audit record");
                return;
            }
        };
        line.push(b'\n');
        let result = match &self.sink {
            Sink::Off => Ok(()),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&line).and_then(|()| out.flush())
            }
            // One write of a whole line on an O_APPEND file: lines from
            // concurrent requests never interleave.
            Sink::File(f) => match f.lock() {
                Ok(mut f) => f.write_all(&line),
                Err(_) => Err(std::io::Error::other("audit log lock poisoned")),
            },
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot write audit record");
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o640);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/audit.jsonl");
        let log = AuditLog::open(&AuditSink::File(path.clone())).unwrap();
        let mut r = AuditRecord {
            request_id: "r1".into(),
            status: 200,
            refs: vec!["refs/heads/main".into()],
            decision: Some("allowed"),
            ..AuditRecord::default()
        };
        log.write(&r);
        r.request_id = "r2".into();
        r.refs.clear();
        log.write(&r);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["refs"][0], "refs/heads/main");
        assert_eq!(lines[1]["request_id"], "r2");
        assert!(lines[1].get("refs").is_none());
        assert_eq!(lines[0]["transport"], "https");
        assert!(lines[0].get("ssh_key_id").is_none());
    }
}
