//! Helpers shared by the fuzz targets: turning fuzz bytes into the inputs
//! gitiam's parsers take (header maps, chunked bodies, split fields).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame};

/// Splits `data` at the first `sep`: `(before, after)`; without `sep`,
/// everything is `before` and `after` is empty.
pub fn split_once(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The first byte (a mode or size selector) and the rest.
pub fn first_byte(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}

/// A header map from `name: value` lines (LF-separated). Lines whose name or
/// value `http` refuses are skipped, as hyper would never hand them over;
/// repeated names stay repeated.
pub fn header_map(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let (name, value) = split_once(line, b':');
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        else {
            continue;
        };
        map.append(name, value);
    }
    map
}

/// A header map with one `Authorization` header holding `value` (`None`
/// when `http` refuses it as a header value).
pub fn authorization(value: &[u8]) -> Option<HeaderMap> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut map = HeaderMap::new();
    map.insert(http::header::AUTHORIZATION, value);
    Some(map)
}

/// Cuts `data` into chunks whose sizes cycle through `sizes` (0 means an
/// empty chunk, which bodies may yield), so a streamed parser sees packets
/// split at every kind of boundary.
pub fn chunks(data: &[u8], sizes: &[usize]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(rest.len())
            .min(rest.len());
        out.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
        i += 1;
        if i > 4 * data.len() + 8 {
            // Only zero sizes: hand over the rest in one piece.
            out.push(Bytes::copy_from_slice(rest));
            break;
        }
    }
    out
}

/// Chunk sizes chosen by one selector byte: 1, 2, 3, 4, 5, 7, 64 or
/// everything at once, sometimes with an empty chunk in between.
pub fn chunk_sizes(selector: u8) -> Vec<usize> {
    let size = [1, 2, 3, 4, 5, 7, 64, usize::MAX][usize::from(selector & 7)];
    if selector & 8 != 0 {
        vec![size, 0]
    } else {
        vec![size]
    }
}

/// A request body yielding the given chunks one frame at a time, then
/// ending: what hyper hands the proxy.
pub struct ChunkBody(pub VecDeque<Bytes>);

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// Runs a future on a current-thread runtime with timers (the inspector
/// bounds its waits with `tokio::time::timeout`), built once per process.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime");
    }
    RUNTIME.with(|rt| rt.block_on(f))
}
