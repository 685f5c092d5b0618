//! The answer to a push the proxy refuses, shaped exactly like
//! `receive-pack`'s own report (`report()` / `report_v2()`), so `git push`
//! prints `! [remote rejected] main -> main (REASON)` for each ref.
//!
//! Nothing of a refused push is applied, so every ref in it is reported
//! `ng`: the denied ones with their reason, the others with
//! [`ATOMIC_REASON`]. The pack was never unpacked, but `unpack ok` is what
//! lets git show the per-ref reasons instead of a generic "unpack failed".
//!
//! A client that asked for neither `report-status` nor `report-status-v2`
//! (no Git since 1.6 does this) cannot show per-ref reasons at all, so it
//! gets `403 Forbidden` with a plain-text reason: the HTTP failure makes
//! the push fail, and git prints the body.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

use super::pktline;
use super::receive_pack::PushRequest;

/// Reason given to the allowed refs of a push that is refused as a whole.
pub const ATOMIC_REASON: &str = "push refused: another ref was denied";

/// One ref the policy denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefDenial {
    /// Full ref name as the client sent it.
    pub name: String,
    /// Short reason, e.g. `denied by policy alice.json statement DenyMain`.
    pub reason: String,
}

/// A ready-to-send answer for a refused push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalAnswer {
    /// `200` with a report, `403` without.
    pub status: http::StatusCode,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// The answer.
    pub body: Bytes,
}

/// Reasons travel on one pkt-line after the ref name; keep them printable
/// and short so a policy name cannot break the framing.
fn sanitize(reason: &str) -> String {
    let cleaned: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect();
    if cleaned.trim().is_empty() {
        "denied".to_owned()
    } else {
        cleaned
    }
}

/// Builds the answer refusing `push` because of `denied`.
pub fn refuse_push(push: &PushRequest, denied: &[RefDenial]) -> RefusalAnswer {
    let caps = &push.capabilities;
    if !caps.report_status() && !caps.report_status_v2() {
        let mut text = String::from("push refused by gitiam:\n");
        for d in denied {
            text.push_str(&format!(
                "  {}: {}\n",
                sanitize(&d.name),
                sanitize(&d.reason)
            ));
        }
        return RefusalAnswer {
            status: http::StatusCode::FORBIDDEN,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(text),
        };
    }

    // The status lines are identical in v1 and v2 when every ref is `ng`
    // (v2 only adds `option` lines after `ok` refs).
    let mut report = BytesMut::new();
    let mut line = |s: String| {
        let mut bytes = s.into_bytes();
        bytes.truncate(pktline::MAX_PKT_DATA - 1);
        bytes.push(b'\n');
        // Cannot fail: truncated to fit above.
        let _ = pktline::write_data(&mut report, &bytes);
    };
    line("unpack ok".to_owned());
    for cmd in &push.commands {
        let reason = denied
            .iter()
            .find(|d| d.name == cmd.name)
            .map(|d| sanitize(&d.reason))
            .unwrap_or_else(|| ATOMIC_REASON.to_owned());
        line(format!("ng {} {}", cmd.name, reason));
    }
    pktline::write_flush(&mut report);

    let body = if caps.side_band_64k() {
        let mut out = BytesMut::new();
        pktline::write_sideband(&mut out, 1, &report);
        pktline::write_flush(&mut out);
        out.freeze()
    } else {
        report.freeze()
    };
    RefusalAnswer {
        status: http::StatusCode::OK,
        content_type: super::GitService::ReceivePack.result_content_type(),
        body,
    }
}

/// Limits for [`drain`].
#[derive(Debug, Clone, Copy)]
pub struct DrainLimits {
    /// Stop after discarding this many bytes.
    pub max_bytes: u64,
    /// Stop when no data arrives for this long.
    pub idle_timeout: Duration,
}

impl Default for DrainLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// The body ended; this many bytes were discarded.
    Complete(u64),
    /// A limit (size or idle time) stopped it after this many bytes; the
    /// connection should not be reused.
    Stopped(u64),
    /// The body failed (client gone) after this many bytes.
    Failed(u64),
}

/// Reads and discards the rest of a refused request body: git keeps
/// sending its pack, and answering before it is done can make the client
/// see a broken pipe instead of the report.
pub async fn drain<B>(mut body: B, limits: DrainLimits) -> DrainOutcome
where
    B: Body + Unpin,
{
    let mut total: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(limits.idle_timeout, body.frame()).await {
            Err(_) => return DrainOutcome::Stopped(total),
            Ok(None) => return DrainOutcome::Complete(total),
            Ok(Some(Err(_))) => return DrainOutcome::Failed(total),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            total = total.saturating_add(bytes::Buf::remaining(data) as u64);
        }
        if total > limits.max_bytes {
            return DrainOutcome::Stopped(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::git::pktline::{Packet, PktReader};
    use crate::shared::git::receive_pack::parse_command_section;

    fn push(caps: &str) -> PushRequest {
        let mut b = BytesMut::new();
        let a = "1".repeat(40);
        let z = "0".repeat(40);
        pktline::write_data(
            &mut b,
            format!("{z} {a} refs/heads/main\0{caps}").as_bytes(),
        )
        .unwrap();
        pktline::write_data(&mut b, format!("{z} {a} refs/heads/dev").as_bytes()).unwrap();
        pktline::write_flush(&mut b);
        parse_command_section(&b).unwrap().0
    }

    fn lines(body: &[u8]) -> Vec<Packet> {
        let mut r = PktReader::new(1 << 20);
        r.feed(body).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            out.push(p);
        }
        assert!(r.pending().is_empty());
        out
    }

    fn denial() -> Vec<RefDenial> {
        vec![RefDenial {
            name: "refs/heads/main".into(),
            reason: "denied by policy p.json statement S\n".into(),
        }]
    }

    #[test]
    fn plain_report() {
        let a = refuse_push(&push(" report-status"), &denial());
        assert_eq!(a.status, 200);
        assert_eq!(a.content_type, "application/x-git-receive-pack-result");
        assert_eq!(
            lines(&a.body),
            vec![
                Packet::Data(Bytes::from_static(b"unpack ok\n")),
                Packet::Data(Bytes::from_static(
                    b"ng refs/heads/main denied by policy p.json statement S \n"
                )),
                Packet::Data(Bytes::from(format!("ng refs/heads/dev {ATOMIC_REASON}\n"))),
                Packet::Flush,
            ]
        );
    }

    #[test]
    fn sideband_report() {
        let a = refuse_push(&push(" report-status-v2 side-band-64k"), &denial());
        let outer = lines(&a.body);
        assert_eq!(outer.len(), 2);
        assert_eq!(outer[1], Packet::Flush);
        let Packet::Data(inner) = &outer[0] else {
            panic!()
        };
        assert_eq!(inner[0], 1);
        let inner = lines(&inner[1..]);
        assert_eq!(inner.len(), 4);
        assert_eq!(inner[3], Packet::Flush);
    }

    #[test]
    fn no_report_status_is_forbidden() {
        let a = refuse_push(&push(" side-band-64k"), &denial());
        assert_eq!(a.status, 403);
        assert!(String::from_utf8_lossy(&a.body).contains("refs/heads/main: denied by policy"));
    }

    #[tokio::test]
    async fn drain_counts() {
        let body = http_body_util::Full::new(Bytes::from(vec![0u8; 1000]));
        assert_eq!(
            drain(body, DrainLimits::default()).await,
            DrainOutcome::Complete(1000)
        );
        let body = http_body_util::Full::new(Bytes::from(vec![0u8; 1000]));
        let limits = DrainLimits {
            max_bytes: 10,
            ..DrainLimits::default()
        };
        assert_eq!(drain(body, limits).await, DrainOutcome::Stopped(1000));
    }
}
