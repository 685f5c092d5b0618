//! Reads the command section off the front of a streamed receive-pack body
//! and hands back a body that replays those bytes and then streams the
//! rest untouched, so the proxy can authorize every ref update before a
//! single byte reaches the backend, without buffering the pack.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use super::GitError;
use super::pktline::PktReader;
use super::receive_pack::{CommandSectionParser, Progress, PushRequest, ReceivePackError};
use crate::shared::BoxError;

/// How far past `max_bytes` the bytes read may go because a single body
/// frame straddles the end of the command section.
const FRAME_ALLOWANCE: usize = 1 << 20;

/// Limits on what the inspector reads from the network.
#[derive(Debug, Clone, Copy)]
pub struct InspectLimits {
    /// Most bytes the command section (with push options) may take.
    pub max_bytes: usize,
    /// Longest wait for the next chunk of the body.
    pub idle_timeout: Duration,
}

impl Default for InspectLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A request body whose first bytes were already read: it yields them again,
/// then the rest of the original body, frame by frame.
pub struct ReplayBody<B> {
    prefix: VecDeque<Bytes>,
    prefix_len: u64,
    /// `None` once the original body is known to have ended.
    inner: Option<B>,
}

impl<B> std::fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayBody")
            .field("prefix_len", &self.prefix_len)
            .field("inner_done", &self.inner.is_none())
            .finish()
    }
}

impl<B> ReplayBody<B> {
    /// Replays `prefix`, then streams `inner` (if any).
    pub fn new(prefix: Vec<Bytes>, inner: Option<B>) -> Self {
        let prefix_len = prefix.iter().map(|b| b.len() as u64).sum();
        Self {
            prefix: prefix.into(),
            prefix_len,
            inner,
        }
    }

    /// Bytes still to be replayed from the prefix.
    pub fn replay_len(&self) -> u64 {
        self.prefix.iter().map(|b| b.len() as u64).sum()
    }
}

impl<B> Body for ReplayBody<B>
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
        if let Some(chunk) = self.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => Poll::Ready(Some(r.map_err(Into::into))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty() && self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let replay = self.replay_len();
        match &self.inner {
            None => SizeHint::with_exact(replay),
            Some(b) => {
                let inner = b.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower().saturating_add(replay));
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper.saturating_add(replay));
                }
                hint
            }
        }
    }
}

/// Reads what follows a section from `body` into the reader, respecting the
/// same limits. Returns false when the body ended.
async fn read_more<B>(
    body: &mut B,
    reader: &mut PktReader,
    prefix: &mut Vec<Bytes>,
    total: &mut usize,
    limits: &InspectLimits,
) -> Result<bool, GitError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    loop {
        let frame = tokio::time::timeout(limits.idle_timeout, body.frame())
            .await
            .map_err(|_| GitError::IdleTimeout(limits.idle_timeout))?;
        let Some(frame) = frame else {
            return Ok(false);
        };
        let frame = frame.map_err(|e| GitError::Body(e.into()))?;
        let Ok(data) = frame.into_data() else {
            // Trailers end the body; there is no more data to read.
            return Ok(false);
        };
        if data.is_empty() {
            continue;
        }
        *total = total.saturating_add(data.len());
        // One frame may carry the end of the section and a lot of pack:
        // allow that overshoot; the section itself is held to `max_bytes`
        // by the caller.
        if *total > limits.max_bytes.saturating_add(FRAME_ALLOWANCE) {
            return Err(GitError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        reader.feed(&data).map_err(|_| GitError::TooLarge {
            limit: limits.max_bytes,
        })?;
        prefix.push(data);
        return Ok(true);
    }
}

/// Reads the command section (and push options) at the start of a
/// `git-receive-pack` body, then checks what follows: the `PACK` header when
/// any ref gets a new value, or the end of the body for a delete-only push
/// or a probe. Returns the parsed request and a body that replays
/// everything read and streams the rest.
pub async fn inspect_receive_pack<B>(
    mut body: B,
    limits: InspectLimits,
) -> Result<(PushRequest, ReplayBody<B>), GitError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut reader = PktReader::new(limits.max_bytes.saturating_add(FRAME_ALLOWANCE));
    let mut parser = CommandSectionParser::new();
    let mut prefix = Vec::new();
    let mut total = 0usize;

    loop {
        match reader.next_packet().map_err(ReceivePackError::from)? {
            Some(packet) => {
                if reader.consumed() > limits.max_bytes {
                    return Err(GitError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
                if parser.push(packet)? == Progress::Done {
                    break;
                }
            }
            None => {
                if !read_more(&mut body, &mut reader, &mut prefix, &mut total, &limits).await? {
                    return Err(ReceivePackError::Truncated.into());
                }
            }
        }
    }
    let push = parser.finish()?;

    if push.expects_pack() {
        while reader.pending().len() < 4 {
            if !read_more(&mut body, &mut reader, &mut prefix, &mut total, &limits).await? {
                return Err(GitError::MissingPack);
            }
        }
        if !reader.pending().starts_with(b"PACK") {
            return Err(GitError::MissingPack);
        }
        Ok((push, ReplayBody::new(prefix, Some(body))))
    } else {
        if !reader.pending().is_empty() {
            return Err(ReceivePackError::TrailingData.into());
        }
        if body.is_end_stream()
            || !read_more(&mut body, &mut reader, &mut prefix, &mut total, &limits).await?
        {
            return Ok((push, ReplayBody::new(prefix, None)));
        }
        Err(ReceivePackError::TrailingData.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::git::pktline;
    use bytes::BytesMut;

    fn chunked(data: &[u8], size: usize) -> ChunkBody {
        ChunkBody {
            chunks: data.chunks(size).map(Bytes::copy_from_slice).collect(),
            then_pending: false,
        }
    }

    /// A body that yields the given chunks one frame at a time, then ends
    /// or (`then_pending`) stays pending forever.
    struct ChunkBody {
        chunks: VecDeque<Bytes>,
        then_pending: bool,
    }
    impl Body for ChunkBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.chunks.pop_front() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None if self.then_pending => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn section(caps: &str, deletes_only: bool) -> Vec<u8> {
        let mut b = BytesMut::new();
        let a = "1".repeat(40);
        let z = "0".repeat(40);
        let (old, new) = if deletes_only { (&a, &z) } else { (&z, &a) };
        pktline::write_data(
            &mut b,
            format!("{old} {new} refs/heads/main\0{caps}").as_bytes(),
        )
        .unwrap();
        pktline::write_flush(&mut b);
        b.to_vec()
    }

    async fn collect<B: Body<Data = Bytes> + Unpin>(b: B) -> Vec<u8>
    where
        B::Error: std::fmt::Debug,
    {
        b.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn replays_everything_at_any_chunking() {
        let mut wire = section(" report-status", false);
        wire.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\0rest-of-pack");
        for size in [1, 3, 7, 64, 4096] {
            let (push, replay) =
                inspect_receive_pack(chunked(&wire, size), InspectLimits::default())
                    .await
                    .unwrap();
            assert_eq!(push.commands.len(), 1);
            assert_eq!(collect(replay).await, wire, "chunk size {size}");
        }
    }

    #[tokio::test]
    async fn one_big_frame_with_section_and_pack_is_fine() {
        let mut wire = section(" report-status", false);
        wire.extend_from_slice(b"PACK");
        wire.resize(wire.len() + (1 << 19), 7);
        let limits = InspectLimits {
            max_bytes: 4096,
            ..InspectLimits::default()
        };
        let (push, replay) = inspect_receive_pack(chunked(&wire, wire.len()), limits)
            .await
            .unwrap();
        assert_eq!(push.commands.len(), 1);
        assert_eq!(collect(replay).await, wire);
    }

    #[tokio::test]
    async fn delete_only_and_probe_end_the_body() {
        let wire = section(" report-status", true);
        let (push, replay) = inspect_receive_pack(chunked(&wire, 5), InspectLimits::default())
            .await
            .unwrap();
        assert!(!push.expects_pack());
        // With no pack to stream, the inspector reads the body to its end:
        // the replay holds all of it and nothing of the original is left,
        // so its size is known exactly.
        let len = wire.len() as u64;
        assert_eq!(replay.replay_len(), len);
        assert_eq!(replay.size_hint().exact(), Some(len));
        assert_eq!(collect(replay).await, wire);

        let (push, replay) = inspect_receive_pack(chunked(b"0000", 4), InspectLimits::default())
            .await
            .unwrap();
        assert!(push.is_probe);
        assert_eq!(replay.replay_len(), 4);
        assert_eq!(replay.size_hint().exact(), Some(4));
        assert_eq!(collect(replay).await, b"0000");
    }

    #[tokio::test]
    async fn refusals() {
        let limits = InspectLimits::default();
        // Missing pack after an update.
        let wire = section(" report-status", false);
        assert!(matches!(
            inspect_receive_pack(chunked(&wire, 10), limits).await,
            Err(GitError::MissingPack)
        ));
        let mut bad = wire.clone();
        bad.extend_from_slice(b"KCAP....");
        assert!(matches!(
            inspect_receive_pack(chunked(&bad, 10), limits).await,
            Err(GitError::MissingPack)
        ));
        // Trailing data after a delete-only section or a probe.
        let mut del = section(" report-status", true);
        del.extend_from_slice(b"0000");
        assert!(
            inspect_receive_pack(chunked(&del, 100), limits)
                .await
                .is_err()
        );
        assert!(
            inspect_receive_pack(chunked(b"0000x", 4), limits)
                .await
                .is_err()
        );
        // Truncated.
        assert!(
            inspect_receive_pack(chunked(&wire[..wire.len() - 2], 10), limits)
                .await
                .is_err()
        );
        assert!(
            inspect_receive_pack(chunked(b"", 10), limits)
                .await
                .is_err()
        );
        // Oversize: many commands beyond the cap.
        let mut big = BytesMut::new();
        let a = "1".repeat(40);
        for i in 0..20_000 {
            pktline::write_data(&mut big, format!("{a} {a} refs/heads/b{i}").as_bytes()).unwrap();
        }
        pktline::write_flush(&mut big);
        assert!(matches!(
            inspect_receive_pack(chunked(&big, 65536), limits).await,
            Err(GitError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn idle_timeout() {
        let body = ChunkBody {
            chunks: VecDeque::from([Bytes::from_static(b"00")]),
            then_pending: true,
        };
        let limits = InspectLimits {
            idle_timeout: Duration::from_millis(50),
            ..Default::default()
        };
        let result = inspect_receive_pack(body, limits).await;
        assert!(matches!(result, Err(GitError::IdleTimeout(_))));
    }
}
