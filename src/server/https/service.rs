//! One request through the layers: route, then for Git authenticate ->
//! authorize -> forward (a push's answer through the push-event tap); for STS the `sts` handler. Every outcome, including
//! failures, ends in one audit line and one metrics sample (written by the
//! response body when it is done).
//!
//! Git and STS requests from a source the failed-authentication limiter
//! refuses are answered before their credentials are looked at (Git: `429`
//! with `Retry-After`; STS: AWS's `Throttling`); failed authentications are
//! counted against their source when they are answered.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::server::sts::{self, StsContext, StsRequest};
use crate::shared::git::{
    self, DrainLimits, DrainOutcome, GitEndpoint, GitService, InspectLimits, RepoName,
};

use super::completion::{Completion, CompletionBody, idle_request_body};
use super::error::{self, HttpError};
use super::forward::{self, Forward};
use super::route::{self, Route};
use super::{ProxyBody, authn};
use crate::server::access::{self, GitAccess, RequestFacts};
use crate::server::audit::AuditRecord;
use crate::server::events::{PushOrigin, TapBody};
use crate::server::state::State;
use crate::server::throttle::{Recorded, RetryAfter};

/// Largest STS request body (a session policy is at most a few KiB).
pub const MAX_STS_BODY: usize = 64 * 1024;
/// Most bytes of a refused push read and thrown away before the connection
/// is closed instead.
pub const MAX_DRAIN_BYTES: u64 = 4 << 30;

/// Serves one request from `peer`.
pub async fn handle(
    state: Arc<State>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    let start = Instant::now();
    // hyper bounds its read buffer by `max_header_bytes` only before each
    // read, so a head that arrives whole in one large read can exceed it:
    // the limit itself is checked here.
    let limit = state.server.max_header_bytes;
    if head_size(&req) > limit {
        return HttpError::HeadTooLarge(limit).into_response();
    }
    host_from_authority(&mut req);
    let route = route::route(req.method(), req.uri());
    match route {
        Route::Healthz => return error::text(StatusCode::OK, "ok\n"),
        Route::Metrics => {
            state
                .metrics
                .auth_throttle(state.auth_failures.sample(Instant::now()));
            let mut r = error::text(StatusCode::OK, state.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return r;
        }
        _ => {}
    }
    let now = SystemTime::now();
    let mut record = AuditRecord {
        time: crate::shared::timestamp::rfc3339(now),
        request_id: format!("{:016x}", rand::random::<u64>()),
        source_ip: Some(peer.ip().to_canonical()),
        method: req.method().to_string(),
        path: req.uri().path().chars().take(512).collect(),
        ..AuditRecord::default()
    };
    let bytes_in = Arc::new(AtomicU64::new(0));
    let mut metric_action = "none";
    let result = match route {
        Route::Git { repo, endpoint } => {
            metric_action = match endpoint.service() {
                GitService::UploadPack => "GitPull",
                GitService::ReceivePack => "GitPush",
            };
            let info = RequestInfo {
                peer,
                now,
                bytes_in: &bytes_in,
            };
            git_request(&state, req, info, repo, endpoint, &mut record).await
        }
        Route::Sts => {
            metric_action = "sts";
            let info = RequestInfo {
                peer,
                now,
                bytes_in: &bytes_in,
            };
            sts_request(&state, req, info, &mut record).await
        }
        Route::MethodNotAllowed(allow) => Err(HttpError::MethodNotAllowed { allow }),
        Route::NotFound | Route::Healthz | Route::Metrics => Err(HttpError::NotFound),
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(request_id = %record.request_id, error = %e, "backend failure");
            } else {
                tracing::debug!(request_id = %record.request_id, error = %e, "request refused");
            }
            record.reason = Some(e.audit_reason());
            if e.is_failed_authentication() {
                count_failure(&state, peer.ip(), &mut record);
            }
            e.into_response()
        }
    };
    record.status = response.status().as_u16();
    let completion = Completion {
        state: Arc::clone(&state),
        record,
        metric_action,
        start,
        bytes_in,
        bytes_out: 0,
        audit: true,
    };
    response.map(|body| CompletionBody::new(body, completion).boxed_unsync())
}

/// What every request carries besides its head and body.
struct RequestInfo<'a> {
    peer: SocketAddr,
    now: SystemTime,
    bytes_in: &'a Arc<AtomicU64>,
}

/// A Git request: authenticate, let the access core decide, then forward
/// (a push: read its commands first, and forward all or nothing).
async fn git_request(
    state: &State,
    req: Request<Incoming>,
    info: RequestInfo<'_>,
    repo: RepoName,
    endpoint: GitEndpoint,
    record: &mut AuditRecord,
) -> Result<Response<ProxyBody>, HttpError> {
    record.action = Some(access::git_action(endpoint.service()).to_string());
    check_source(state, info.peer.ip(), record).map_err(HttpError::Throttled)?;
    let (parts, body) = req.into_parts();

    let creds = authn::credentials(&parts.headers)?;
    match &creds.service_user_name {
        Some(name) => record.service_user_name = Some(name.clone()),
        None => record.access_key_id = Some(creds.access_key_id.clone()),
    }
    let host = authn::request_host(&parts.headers)?;
    let caller = authn::authenticate(state, &creds, host, &repo, info.now)?;
    record.credential_type = Some(caller.method());
    if creds.service_user_name.is_some() {
        record.git_credential_id = Some(caller.access_key_id().to_string());
    }
    record.principal = Some(caller.identity().arn().to_string());
    record.resource = Some(access::repository_arn(
        &state.server.region,
        caller.identity().account(),
        repo.as_str(),
    ));

    let git_access = GitAccess {
        repo: &repo,
        service: endpoint.service(),
        facts: RequestFacts {
            source_ip: Some(info.peer.ip()),
            now: info.now,
            region: &state.server.region,
        },
    };
    let body = idle_request_body(
        body,
        state.server.body_idle_timeout,
        Arc::clone(info.bytes_in),
    );
    let forward_request = Forward {
        caller: &caller,
        repo: repo.clone(),
        endpoint,
        method: parts.method,
        headers: parts.headers,
        client_ip: info.peer.ip(),
    };
    if endpoint != GitEndpoint::Rpc(GitService::ReceivePack) {
        let started = Instant::now();
        let decision = access::decide(&caller, &git_access);
        state.metrics.decision_time(started.elapsed());
        decision.record(record);
        if !decision.allowed() {
            return Err(HttpError::Forbidden {
                message: decision.refusal_message(),
            });
        }
        return forward::forward(state, forward_request, body).await;
    }

    // A push: read the command section, decide every ref it changes, then
    // forward all or nothing.
    reject_encoded_push(&forward_request.headers)?;
    let limits = InspectLimits {
        idle_timeout: state.server.body_idle_timeout,
        ..InspectLimits::default()
    };
    let (push, replay) = git::inspect_receive_pack(body, limits).await?;
    record.refs = push.commands.iter().map(|c| c.name.clone()).collect();
    // When the refs a command changes cannot be known, every command is
    // refused (the access core denies chains that do not match), with
    // git's report; the audit line says why.
    let chains = match state.push_chains(&caller, &repo, &push).await {
        Ok(chains) => chains,
        Err(e) => {
            tracing::warn!(request_id = %record.request_id, error = %e, "symbolic refs not resolved");
            record.reason = Some(e.to_string());
            Vec::new()
        }
    };
    let started = Instant::now();
    let decision = access::decide_push(&caller, &git_access, &push, &chains);
    state.metrics.decision_time(started.elapsed());
    decision.record(record);
    if decision.allowed() {
        let origin = PushOrigin {
            account: caller.identity().account().to_string(),
            repository: repo.as_str().to_owned(),
            region: state.server.region.clone(),
            caller_arn: caller.identity().arn().to_string(),
        };
        let response = forward::forward(state, forward_request, replay).await?;
        return Ok(tap_push(state, response, &push, origin, record));
    }
    if push.commands.is_empty() {
        return Err(HttpError::Forbidden {
            message: decision.refusal_message(),
        });
    }
    // Git keeps sending its pack; answer only after it is read so that the
    // client sees the report rather than a broken pipe.
    let outcome = git::drain(
        replay,
        DrainLimits {
            max_bytes: MAX_DRAIN_BYTES,
            idle_timeout: state.server.body_idle_timeout,
        },
    )
    .await;
    Ok(error::refusal(
        decision.refusal(&push),
        matches!(outcome, DrainOutcome::Complete(_)),
    ))
}

/// A forwarded push's answer, streamed through the push-event tap (when
/// any webhook is configured and the client asked for a report): the refs
/// the backend reports `ok` become events, stored before the answer ends.
fn tap_push(
    state: &State,
    response: Response<ProxyBody>,
    push: &git::PushRequest,
    origin: PushOrigin,
    record: &AuditRecord,
) -> Response<ProxyBody> {
    let caps = &push.capabilities;
    let reported = caps.report_status() || caps.report_status_v2();
    if !state.events.active()
        || !reported
        || push.commands.is_empty()
        || response.status() != StatusCode::OK
    {
        return response;
    }
    // The report is read as sent; a compressed answer (no Git server
    // compresses it) cannot be, and makes no events.
    let encoded = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        tracing::warn!(request_id = %record.request_id, "compressed push answer from the backend: no push events");
        return response;
    }
    let events = Arc::clone(&state.events);
    let commands = push.commands.clone();
    let sideband = caps.side_band_64k();
    let ids = record.events.clone();
    response.map(|body| TapBody::new(body, events, commands, sideband, origin, ids).boxed_unsync())
}

/// Git does not compress pushes; a compressed command section could not be
/// read as receive-pack reads it, so it is refused.
fn reject_encoded_push(headers: &http::HeaderMap) -> Result<(), HttpError> {
    let Some(encoding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(());
    };
    let identity_encoding = encoding
        .to_str()
        .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"));
    if identity_encoding {
        return Ok(());
    }
    Err(HttpError::UnsupportedEncoding(
        String::from_utf8_lossy(encoding.as_bytes())
            .chars()
            .take(64)
            .collect(),
    ))
}

/// HTTP/2 carries the host as `:authority`, which hyper puts in the URI;
/// SigV4 signs it as `host`, and both the Git and the STS checks read it
/// there. Done once here, for every request that has no `Host`.
fn host_from_authority<B>(req: &mut Request<B>) {
    if req.headers().contains_key(header::HOST) {
        return;
    }
    let authority = req
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    if let Some(host) = authority {
        req.headers_mut().insert(header::HOST, host);
    }
}

/// Size of the request line and headers as sent over HTTP/1.1.
fn head_size<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 11;
    req.headers()
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
        + 2
}

async fn sts_request(
    state: &State,
    req: Request<Incoming>,
    info: RequestInfo<'_>,
    record: &mut AuditRecord,
) -> Result<Response<ProxyBody>, HttpError> {
    if let Err(retry) = check_source(state, info.peer.ip(), record) {
        record.reason = Some(format!("Throttling: {retry}"));
        let mut response = sts::xml::throttled_response(retry.secs(), &record.request_id);
        // The body is not read: do not reuse the connection.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response.map(error::full));
    }
    let (parts, body) = req.into_parts();
    let body = idle_request_body(
        body,
        state.server.body_idle_timeout,
        Arc::clone(info.bytes_in),
    );
    let body = read_limited(body, MAX_STS_BODY).await?;
    let directory = state.directory.load();
    let keys = state.sts_keys.load();
    let ctx = StsContext {
        directory: &directory,
        keys: &keys,
        settings: &state.sts,
        region: &state.server.region,
        max_clock_skew: state.server.max_clock_skew,
        signing_keys: &state.signing_keys,
    };
    let request = StsRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
        source_ip: Some(info.peer.ip().to_canonical()),
        request_id: &record.request_id,
        now: info.now,
    };
    let outcome = sts::handle(&ctx, &request).await;
    let audit = outcome.audit;
    let failed_authentication = audit.authentication_failed;
    record.action = audit.action.map(|a| format!("sts:{a}"));
    record.access_key_id = audit.access_key_id;
    record.principal = audit.principal;
    record.resource = audit.resource;
    record.decision = audit.decision.map(|d| d.as_str());
    if let Some(s) = audit.deciding.first() {
        record.policy = Some(s.policy.clone());
        record.statement = Some(s.statement.clone());
    }
    record.reason = match (audit.error, audit.detail) {
        (Some(code), Some(detail)) => Some(format!("{code}: {detail}")),
        (Some(code), None) => Some(code.to_string()),
        (None, _) => None,
    };
    if failed_authentication {
        count_failure(state, info.peer.ip(), record);
    }
    Ok(outcome.response.map(error::full))
}

/// `Err` when requests from `ip` are refused for now (the audit line says
/// `throttled`); the first refusal of each block is logged at warn.
fn check_source(state: &State, ip: IpAddr, record: &mut AuditRecord) -> Result<(), RetryAfter> {
    let Err(retry) = state.auth_failures.check(ip, Instant::now()) else {
        return Ok(());
    };
    record.decision = Some("throttled");
    if retry.first {
        tracing::warn!(
            request_id = %record.request_id,
            source = %retry.source,
            retry_after_secs = retry.secs(),
            "refusing requests from a source blocked after failed authentications"
        );
    } else {
        tracing::debug!(request_id = %record.request_id, source = %retry.source, "throttled");
    }
    Err(retry)
}

/// Counts a failed authentication against its source; when that blocks
/// the source, says so in the log and the audit reason.
fn count_failure(state: &State, ip: IpAddr, record: &mut AuditRecord) {
    if let Recorded::Blocked(retry) = state.auth_failures.record_failure(ip, Instant::now()) {
        tracing::warn!(
            request_id = %record.request_id,
            source = %retry.source,
            block_secs = retry.secs(),
            "too many failed authentications: source blocked"
        );
        let note = format!(
            "source {} blocked for {} seconds",
            retry.source,
            retry.secs()
        );
        record.reason = Some(match record.reason.take() {
            Some(reason) => format!("{reason}; {note}"),
            None => note,
        });
    }
}

/// Reads a whole body of at most `limit` bytes.
async fn read_limited<B>(mut body: B, limit: usize) -> Result<Bytes, HttpError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| HttpError::BadRequest(format!("reading the request body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > limit {
                return Err(HttpError::PayloadTooLarge(limit));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out.freeze())
}
