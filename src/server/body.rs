//! Body wrappers shared by the proxy and the backends: [`IdleBody`] fails a
//! stream that makes no progress for a while (optionally counting its bytes
//! and/or kept alive by another stream's [`Activity`]); [`TrackedBody`]
//! records a stream's progress in an [`Activity`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::shared::BoxError;

/// When a stream last made progress, shared between the body that moves
/// (a [`TrackedBody`]) and those that watch it.
#[derive(Clone)]
pub(crate) struct Activity {
    start: Instant,
    /// Milliseconds since `start` of the last progress.
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the stream last made progress.
    pub(crate) fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Wraps `body` so reading it counts as activity.
    pub(crate) fn track<B>(&self, body: B) -> TrackedBody<B> {
        TrackedBody {
            inner: body,
            activity: self.clone(),
        }
    }
}

/// A body that records when it was last read from.
pub(crate) struct TrackedBody<B> {
    inner: B,
    activity: Activity,
}

impl<B> Body for TrackedBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if poll.is_ready() {
            self.activity.touch();
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

/// A body that fails with `on_idle(timeout)` once `inner` yields nothing for
/// `timeout`. Optionally counts the data bytes it yields, and optionally is
/// kept alive by another stream's [`Activity`]: it only fails once both have
/// been quiet for `timeout`.
pub(crate) struct IdleBody<B> {
    inner: B,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    on_idle: fn(Duration) -> BoxError,
    counter: Option<Arc<AtomicU64>>,
    keep_alive: Option<Activity>,
}

impl<B> IdleBody<B> {
    /// Wraps `inner`; `on_idle` makes the error yielded on timeout.
    pub(crate) fn new(inner: B, timeout: Duration, on_idle: fn(Duration) -> BoxError) -> Self {
        Self {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            on_idle,
            counter: None,
            keep_alive: None,
        }
    }

    /// Adds the data bytes yielded to `counter`.
    pub(crate) fn counting(mut self, counter: Arc<AtomicU64>) -> Self {
        self.counter = Some(counter);
        self
    }

    /// Also counts `activity`'s progress as progress of this body.
    pub(crate) fn kept_alive_by(mut self, activity: Activity) -> Self {
        self.keep_alive = Some(activity);
        self
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(counter)) = (frame.data_ref(), &this.counter) {
                    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                let deadline = Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => loop {
                match this.sleep.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        if let Some(activity) = &this.keep_alive {
                            let deadline = activity.last() + this.timeout;
                            if deadline > Instant::now() {
                                // The other stream moved recently: wait on.
                                this.sleep.as_mut().reset(deadline);
                                continue;
                            }
                        }
                        return Poll::Ready(Some(Err((this.on_idle)(this.timeout))));
                    }
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use http_body_util::BodyExt;

    use super::*;

    /// Yields queued chunks, then stays pending forever.
    struct Stalls(VecDeque<Bytes>);
    impl Body for Stalls {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.0.pop_front() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("idle {0:?}")]
    struct Idle(Duration);

    fn stalls(chunks: &[&'static [u8]]) -> Stalls {
        Stalls(chunks.iter().map(|c| Bytes::from_static(c)).collect())
    }

    #[tokio::test]
    async fn counts_then_fails_when_idle() {
        let counter = Arc::new(AtomicU64::new(0));
        let timeout = Duration::from_millis(50);
        let mut body = IdleBody::new(stalls(&[b"abc", b"de"]), timeout, |t| Box::new(Idle(t)))
            .counting(Arc::clone(&counter));
        for _ in 0..2 {
            assert!(body.frame().await.unwrap().unwrap().is_data());
        }
        assert_eq!(counter.load(Ordering::Relaxed), 5);
        let start = Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(start.elapsed() >= timeout);
        assert_eq!(err.to_string(), "idle 50ms");
        assert!(err.downcast_ref::<Idle>().is_some());
    }

    #[tokio::test]
    async fn kept_alive_by_other_activity() {
        let activity = Activity::new();
        let timeout = Duration::from_millis(100);
        let mut body = IdleBody::new(stalls(&[]), timeout, |t| Box::new(Idle(t)))
            .kept_alive_by(activity.clone());
        let start = Instant::now();
        let mut other = activity.track(stalls(&[b"x"]));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(70)).await;
            let _ = other.frame().await;
        });
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(
            start.elapsed() >= Duration::from_millis(170),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(err.to_string(), "idle 100ms");
    }
}
