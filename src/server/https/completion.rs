//! Body wrappers on the request path: the request body gets an idle
//! timeout and a byte counter; the response body counts bytes and, when it
//! is finished or dropped, hands the request's audit record and metrics to
//! [`Completion`], so they describe what was really sent.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::server::body::IdleBody;
use crate::shared::BoxError;

use crate::server::audit::AuditRecord;
use crate::server::state::State;

/// The request body stopped for longer than the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("request body idle for more than {0:?}")]
pub struct BodyIdle(pub Duration);

/// A request body that fails with [`BodyIdle`] after `idle` without data
/// and adds the bytes read to `counter`.
pub(super) fn idle_request_body<B>(
    inner: B,
    idle: Duration,
    counter: Arc<AtomicU64>,
) -> IdleBody<B> {
    IdleBody::new(inner, idle, |t| Box::new(BodyIdle(t))).counting(counter)
}

/// What is left to do once a response is over: write the audit line and
/// record metrics. Runs on drop, so an aborted download is audited too.
pub struct Completion {
    pub(super) state: Arc<State>,
    pub(super) record: AuditRecord,
    pub(super) metric_action: &'static str,
    pub(super) start: Instant,
    pub(super) bytes_in: Arc<AtomicU64>,
    pub(super) bytes_out: u64,
    pub(super) audit: bool,
}

impl Drop for Completion {
    fn drop(&mut self) {
        let duration = self.start.elapsed();
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        self.record.bytes_in = bytes_in;
        self.record.bytes_out = self.bytes_out;
        self.record.duration_ms = (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let decision = self.record.decision.unwrap_or(match self.record.status {
            401 => "unauthenticated",
            _ => "none",
        });
        self.state.metrics.request(
            self.metric_action,
            decision,
            self.record.status,
            duration,
            bytes_in,
            self.bytes_out,
        );
        if self.audit {
            self.state.audit.write(&self.record);
        }
    }
}

/// A response body that counts what it yields and completes the request
/// when it ends or is dropped.
pub struct CompletionBody<B> {
    inner: B,
    completion: Option<Completion>,
}

impl<B> CompletionBody<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, completion: Completion) -> Self {
        Self {
            inner,
            completion: Some(completion),
        }
    }
}

impl<B> Body for CompletionBody<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(c)) = (frame.data_ref(), this.completion.as_mut()) {
                    c.bytes_out += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                // Done: complete now rather than when hyper drops the body.
                this.completion.take();
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(c) = this.completion.as_mut() {
                    c.record
                        .reason
                        .get_or_insert_with(|| format!("response body failed: {e}"));
                }
                this.completion.take();
            }
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
