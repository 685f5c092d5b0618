//! One Git command over an SSH session channel: authorize through the
//! access core, run `git upload-pack` / `git receive-pack` on the
//! repository of the embedded backend (clean environment, as
//! `git http-backend` gets), and stream both ways.
//!
//! For receive-pack, the client's command section is read and parsed
//! (by [`parse_command_section`], the parser HTTPS uses) before a single
//! byte of it reaches receive-pack; each ref is decided on its own. A push
//! with a denied ref never reaches receive-pack: it gets a flush (an empty
//! push, which changes nothing), and the client gets git's report with
//! every ref rejected, after the ref advertisement as usual. An accepted
//! push's output is shown to the push-event tap on its way to the client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

use super::command::GitCommand;
use super::error::{self, SshError};
use crate::server::access::{self, Authenticated, GitAccess, RequestFacts};
use crate::server::audit::{AuditRecord, Transport};
use crate::server::backend::{self, Backend};
use crate::server::events::tap::SharedReader;
use crate::server::events::{PushOrigin, record_report};
use crate::server::state::State;
use crate::shared::git::{
    GitService, InspectLimits, PushRequest, ReceivePackError, ReportReader, parse_command_section,
};

/// Most bytes of a refused push read and thrown away before the channel is
/// closed instead (as over HTTPS).
pub const MAX_DRAIN_BYTES: u64 = 4 << 30;
/// How long a Git process may take to exit once its output has ended.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// An authorized caller's exec request.
pub struct GitRequest {
    /// Shared server state.
    pub state: Arc<State>,
    /// Who (bound after the signature check).
    pub caller: Arc<Authenticated>,
    /// Client address.
    pub peer: SocketAddr,
    /// What to run.
    pub command: GitCommand,
    /// `GIT_PROTOCOL` from an accepted env request.
    pub git_protocol: Option<String>,
}

/// Byte counts of one request.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    bytes_in: u64,
    bytes_out: u64,
}

/// Runs `request` on `channel` to its end, then writes its audit line and
/// metrics sample.
pub async fn run(request: GitRequest, channel: Channel<Msg>) {
    let start = Instant::now();
    let now = SystemTime::now();
    let state = Arc::clone(&request.state);
    let mut record = new_record(
        now,
        request.peer,
        request.command.service.as_str(),
        &request.command.path,
    );
    record.ssh_key_id = Some(request.caller.access_key_id().to_owned());
    record.principal = Some(request.caller.identity().arn().to_string());
    let (read, write) = channel.split();
    let write = Arc::new(write);
    let mut counts = Counts::default();
    let status = match serve(&request, read, &write, &mut record, &mut counts, now).await {
        Ok(status) => {
            error::finish(&write, status).await;
            status
        }
        Err(e) => {
            match &e {
                SshError::Backend { detail, .. } => {
                    tracing::warn!(request_id = %record.request_id, error = %detail, "ssh backend failure");
                }
                other => {
                    tracing::debug!(request_id = %record.request_id, error = %other, "ssh request refused");
                }
            }
            record.reason = Some(e.audit_reason());
            error::finish_with(&write, &e).await;
            e.exit_status()
        }
    };
    record.status = u16::try_from(status).unwrap_or(u16::MAX);
    complete(
        &state,
        record,
        metric_action(request.command.service),
        start,
        counts,
    );
}

/// A fresh SSH audit record.
pub fn new_record(now: SystemTime, peer: SocketAddr, method: &str, path: &str) -> AuditRecord {
    AuditRecord {
        time: crate::shared::timestamp::rfc3339(now),
        request_id: format!("{:016x}", rand::random::<u64>()),
        source_ip: Some(peer.ip().to_canonical()),
        transport: Transport::Ssh,
        method: method.chars().take(64).collect(),
        path: path.chars().take(512).collect(),
        ..AuditRecord::default()
    }
}

/// Writes the audit line and the metrics sample of a finished request.
fn complete(
    state: &State,
    mut record: AuditRecord,
    action: &'static str,
    start: Instant,
    counts: Counts,
) {
    let duration = start.elapsed();
    record.bytes_in = counts.bytes_in;
    record.bytes_out = counts.bytes_out;
    record.duration_ms = (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let decision = decision_label(&record);
    state.metrics.request(
        action,
        decision,
        record.status,
        duration,
        counts.bytes_in,
        counts.bytes_out,
    );
    state.audit.write(&record);
}

/// Writes the audit line of a request that ran nothing (a refused exec or
/// shell request).
pub fn audit_refused(state: &State, mut record: AuditRecord, error: &SshError) {
    record.status = u16::try_from(error.exit_status()).unwrap_or(u16::MAX);
    record.reason = Some(error.audit_reason());
    complete(state, record, "none", Instant::now(), Counts::default());
}

/// The metrics label of a request's outcome: its decision, else
/// `unauthenticated` for a connection that never logged in, else `none`.
fn decision_label(record: &AuditRecord) -> &'static str {
    match record.decision {
        Some(d) => d,
        None if record.method == "auth" => "unauthenticated",
        None => "none",
    }
}

fn metric_action(service: GitService) -> &'static str {
    match service {
        GitService::UploadPack => "GitPull",
        GitService::ReceivePack => "GitPush",
    }
}

/// Authorizes and runs the command; `Ok(exit status)`.
async fn serve(
    request: &GitRequest,
    mut read: ChannelReadHalf,
    write: &Arc<ChannelWriteHalf<Msg>>,
    record: &mut AuditRecord,
    counts: &mut Counts,
    now: SystemTime,
) -> Result<u32, SshError> {
    let state = &request.state;
    let caller = &request.caller;
    let repo = &request.command.repo;
    let service = request.command.service;
    record.action = Some(access::git_action(service).to_string());
    record.resource = Some(access::repository_arn(
        &state.server.region,
        caller.identity().account(),
        repo.as_str(),
    ));
    let git_access = GitAccess {
        repo,
        service,
        facts: RequestFacts {
            source_ip: Some(request.peer.ip()),
            now,
            region: &state.server.region,
        },
    };
    // Pulls, and the advertisement of receive-pack (GitPush without a ref,
    // as `info/refs?service=git-receive-pack` over HTTPS).
    let started = Instant::now();
    let decision = access::decide(caller, &git_access);
    state.metrics.decision_time(started.elapsed());
    decision.record(record);
    if !decision.allowed() {
        return Err(SshError::Denied(decision.refusal_message()));
    }

    let dir = repository_dir(&state.backend, caller.identity().account(), repo.as_str())?;
    let mut child = spawn_git(request, &dir)?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(SshError::Backend {
            public: "gitiam: the Git backend could not be started",
            detail: "child pipes missing".into(),
        });
    };
    let out_writer = write.make_writer_ext(None);
    let err_writer = write.make_writer_ext(Some(1));
    // The push-event tap reads a copy of receive-pack's output (its ref
    // advertisement, then its report).
    let tap: Option<SharedReader> = (service == GitService::ReceivePack && state.events.active())
        .then(|| Arc::new(Mutex::new(ReportReader::new(false, true))));
    let out_tap = tap.clone();
    let output = tokio::spawn(async move {
        let (out, err) = tokio::join!(
            copy_to(stdout, out_writer, out_tap),
            copy_to(stderr, err_writer, None)
        );
        out.unwrap_or(0) + err.unwrap_or(0)
    });

    if service == GitService::ReceivePack {
        let limits = InspectLimits {
            idle_timeout: state.server.body_idle_timeout,
            ..InspectLimits::default()
        };
        let section = read_command_section(&mut read, limits, counts).await;
        let (section, eof) = match section {
            Ok(s) => s,
            Err(e) => {
                output.abort();
                return Err(e);
            }
        };
        if let Some((push, consumed)) = section {
            record.refs = push.commands.iter().map(|c| c.name.clone()).collect();
            // When the refs a command changes cannot be known, every
            // command is refused (the access core denies chains that do not
            // match the commands); the audit line says why.
            let chains = match state.push_chains(caller, repo, &push).await {
                Ok(chains) => chains,
                Err(e) => {
                    tracing::warn!(error = %e, "symbolic refs not resolved");
                    record.reason = Some(e.to_string());
                    Vec::new()
                }
            };
            let started = Instant::now();
            let decision = access::decide_push(caller, &git_access, &push, &chains);
            state.metrics.decision_time(started.elapsed());
            decision.record(record);
            if !decision.allowed() {
                if push.commands.is_empty() {
                    output.abort();
                    return Err(SshError::Denied(decision.refusal_message()));
                }
                // receive-pack gets an empty push (a flush): nothing changes.
                refuse_to_child(stdin, &mut child).await;
                counts.bytes_out += output.await.unwrap_or(0);
                let answer = decision.refusal(&push);
                let with_report =
                    push.capabilities.report_status() || push.capabilities.report_status_v2();
                counts.bytes_out += answer.body.len() as u64;
                if with_report {
                    let _ = write.data_bytes(answer.body).await;
                } else {
                    let _ = write.extended_data_bytes(1, answer.body).await;
                }
                record.reason = Some("push denied by policy".into());
                if !eof {
                    drain(&mut read, state.server.body_idle_timeout, counts).await;
                }
                return Ok(if with_report { 0 } else { error::EXIT_DENIED });
            }
            let first = consumed.clone();
            // receive-pack reports only after reading the commands, so the
            // reader knows the framing before the report arrives.
            if let Some(reader) = &tap
                && let Ok(mut r) = reader.lock()
            {
                r.set_sideband(push.capabilities.side_band_64k());
            }
            let status = stream(child, stdin, Some(first), eof, read, output, counts).await?;
            if let Some(reader) = tap {
                record_push_events(state, caller, repo, &push, reader, record).await;
            }
            return Ok(status);
        }
        // The client ended before any command (nothing to push).
        return stream(child, stdin, None, true, read, output, counts).await;
    }
    stream(child, stdin, None, false, read, output, counts).await
}

/// `REPOS/ACCOUNT/NAME.git` of the embedded backend.
fn repository_dir(backend: &Backend, account: &str, repo: &str) -> Result<PathBuf, SshError> {
    let Backend::Cgi(cgi) = backend else {
        return Err(SshError::Backend {
            public: "gitiam: SSH needs the embedded backend",
            detail: "SSH request with an upstream backend".into(),
        });
    };
    backend::check_account(account).map_err(|e| SshError::Backend {
        public: e.public_message(),
        detail: e.to_string(),
    })?;
    // The same layout `git http-backend` serves (GIT_PROJECT_ROOT =
    // REPOS/ACCOUNT, PATH_INFO = /NAME.git).
    let dir = cgi
        .config()
        .repos_root
        .join(account)
        .join(format!("{repo}.git"));
    if !dir.is_dir() {
        return Err(SshError::NotFound(repo.to_owned()));
    }
    Ok(dir)
}

fn spawn_git(request: &GitRequest, dir: &std::path::Path) -> Result<Child, SshError> {
    let git = match &request.state.backend {
        Backend::Cgi(cgi) => cgi.config().git.clone(),
        Backend::Upstream(_) => PathBuf::from("git"),
    };
    let program = match request.command.service {
        GitService::UploadPack => "upload-pack",
        GitService::ReceivePack => "receive-pack",
    };
    let mut cmd = Command::new(git);
    cmd.arg(program);
    if request.command.service == GitService::UploadPack {
        cmd.arg("--strict");
    }
    cmd.arg(dir)
        .env_clear()
        .env("REMOTE_USER", request.caller.identity().arn())
        .env("REMOTE_ADDR", request.peer.ip().to_canonical().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    if let Some(p) = &request.git_protocol {
        cmd.env("GIT_PROTOCOL", p);
    }
    cmd.spawn().map_err(|e| SshError::Backend {
        public: "gitiam: the Git backend could not be started",
        detail: format!("starting git {program}: {e}"),
    })
}

/// Stores the events of a push whose output has ended (before the exit
/// status is sent): the refs receive-pack reported `ok`.
async fn record_push_events(
    state: &Arc<State>,
    caller: &Authenticated,
    repo: &crate::shared::git::RepoName,
    push: &PushRequest,
    reader: SharedReader,
    record: &AuditRecord,
) {
    let caps = &push.capabilities;
    if !(caps.report_status() || caps.report_status_v2()) {
        return;
    }
    let report = match reader.lock() {
        Ok(mut r) => std::mem::replace(&mut *r, ReportReader::new(false, false)).finish(),
        Err(_) => return,
    };
    let origin = PushOrigin {
        account: caller.identity().account().to_string(),
        repository: repo.as_str().to_owned(),
        region: state.server.region.clone(),
        caller_arn: caller.identity().arn().to_string(),
    };
    let events = Arc::clone(&state.events);
    let commands = push.commands.clone();
    let ids = record.events.clone();
    let _ = tokio::task::spawn_blocking(move || {
        record_report(&events, &report, &commands, &origin, &ids);
    })
    .await;
}

/// Copies `from` to the channel writer `to` until EOF, showing a copy to
/// `tap`; the bytes copied.
async fn copy_to<R, W>(mut from: R, mut to: W, tap: Option<SharedReader>) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        let chunk = buf.get(..n).unwrap_or_default();
        to.write_all(chunk).await?;
        if let Some(reader) = &tap
            && let Ok(mut r) = reader.lock()
            && !r.is_done()
        {
            r.feed(chunk);
        }
        total += n as u64;
    }
}

/// What the client sent next.
enum Input {
    Data(Bytes),
    Eof,
    /// Channel closed or connection gone.
    Gone,
}

async fn next_input(read: &mut ChannelReadHalf) -> Input {
    loop {
        match read.wait().await {
            Some(ChannelMsg::Data { data }) => return Input::Data(data),
            Some(ChannelMsg::Eof) => return Input::Eof,
            Some(ChannelMsg::Close) | None => return Input::Gone,
            // Requests, window changes, stderr from the client: not input.
            Some(_) => {}
        }
    }
}

/// Reads the command section of a push. `Ok((None, _))`: the client ended
/// before sending anything. `Ok((Some((push, bytes)), eof))`: the parsed
/// section and every byte read so far (section and what followed), and
/// whether the client already sent EOF.
#[allow(clippy::type_complexity)]
async fn read_command_section(
    read: &mut ChannelReadHalf,
    limits: InspectLimits,
    counts: &mut Counts,
) -> Result<(Option<(PushRequest, Bytes)>, bool), SshError> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match parse_command_section(&buf) {
            Ok((push, _)) => return Ok((Some((push, Bytes::from(buf))), false)),
            Err(ReceivePackError::Truncated) => {}
            Err(e) => return Err(SshError::Protocol(format!("bad push: {e}"))),
        }
        if buf.len() > limits.max_bytes {
            return Err(SshError::Protocol(format!(
                "the push's command section exceeds {} bytes",
                limits.max_bytes
            )));
        }
        let next = tokio::time::timeout(limits.idle_timeout, next_input(read))
            .await
            .map_err(|_| SshError::Idle(limits.idle_timeout))?;
        match next {
            Input::Data(d) => {
                counts.bytes_in += d.len() as u64;
                buf.extend_from_slice(&d);
            }
            Input::Eof | Input::Gone if buf.is_empty() => return Ok((None, true)),
            Input::Eof | Input::Gone => {
                return Err(SshError::Protocol(
                    "the push ended inside its command section".into(),
                ));
            }
        }
    }
}

/// Refuses a push to receive-pack: an empty command list, then EOF.
async fn refuse_to_child(mut stdin: ChildStdin, child: &mut Child) {
    let mut flush = bytes::BytesMut::new();
    crate::shared::git::pktline::write_flush(&mut flush);
    let _ = stdin.write_all(&flush).await;
    drop(stdin);
    if tokio::time::timeout(EXIT_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Reads and discards what the client still sends, until EOF, the limit,
/// or silence.
async fn drain(read: &mut ChannelReadHalf, idle: Duration, counts: &mut Counts) {
    let mut drained = 0u64;
    while drained < MAX_DRAIN_BYTES {
        match tokio::time::timeout(idle, next_input(read)).await {
            Ok(Input::Data(d)) => {
                drained += d.len() as u64;
                counts.bytes_in += d.len() as u64;
            }
            _ => return,
        }
    }
}

/// Streams the client's input (after `first`) into the Git process until
/// it exits, and returns its exit status.
async fn stream(
    mut child: Child,
    mut stdin: ChildStdin,
    first: Option<Bytes>,
    eof: bool,
    mut read: ChannelReadHalf,
    output: tokio::task::JoinHandle<u64>,
    counts: &mut Counts,
) -> Result<u32, SshError> {
    let total = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&total);
    let input = tokio::spawn(async move {
        if let Some(first) = first
            && stdin.write_all(&first).await.is_err()
        {
            return;
        }
        if eof {
            return;
        }
        loop {
            match next_input(&mut read).await {
                Input::Data(d) => {
                    seen.fetch_add(d.len() as u64, Ordering::Relaxed);
                    if stdin.write_all(&d).await.is_err() {
                        return;
                    }
                }
                // Dropping stdin is EOF for git.
                Input::Eof | Input::Gone => return,
            }
        }
    });
    counts.bytes_out += output.await.unwrap_or(0);
    let status = match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        Ok(Ok(s)) => s
            .code()
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(error::EXIT_BAD_REQUEST),
        _ => {
            let _ = child.kill().await;
            error::EXIT_BAD_REQUEST
        }
    };
    input.abort();
    counts.bytes_in += total.load(Ordering::Relaxed);
    Ok(status)
}
