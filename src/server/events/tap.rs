//! The tap on a push's response: both front doors stream the backend's
//! answer to the client untouched and show a copy to a [`ReportReader`]
//! (bounded buffers); when the answer ends, the refs the backend reported
//! `ok` become [`PushEvent`]s, old and new ids taken from the push's own
//! commands (or from report-status-v2 `option` lines), and are written to
//! the outbox before the response's end is passed on.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::Events;
use super::model::{PushEvent, uuid_v4};
use crate::server::audit::EventIds;
use crate::shared::BoxError;
use crate::shared::config::webhooks::RefEventKind;
use crate::shared::git::report_status::PushReport;
use crate::shared::git::{RefUpdate, ReportReader};

/// Who pushed where.
#[derive(Debug, Clone)]
pub struct PushOrigin {
    /// Account owning the repository.
    pub account: String,
    /// Repository name.
    pub repository: String,
    /// Region of ARNs.
    pub region: String,
    /// Caller ARN (for a role session, the assumed-role ARN, as
    /// CodeCommit's `callerUserArn`).
    pub caller_arn: String,
}

/// The events of a push whose backend answered `report`; `commands` are
/// the push's ref updates.
pub fn events_of(
    report: &PushReport,
    commands: &[RefUpdate],
    origin: &PushOrigin,
) -> Vec<PushEvent> {
    let time = crate::shared::timestamp::utc_seconds(std::time::SystemTime::now());
    let mut out = Vec::new();
    for (name, options) in report.updated() {
        // send-pack ignores a status on a ref it did not push.
        let Some(cmd) = commands.iter().find(|c| c.name == name) else {
            continue;
        };
        let reference = options.ref_name.unwrap_or_else(|| cmd.name.clone());
        let old = options
            .old_oid
            .unwrap_or_else(|| cmd.old.as_str().to_owned());
        let new = options
            .new_oid
            .unwrap_or_else(|| cmd.new.as_str().to_owned());
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        let kind = if zero(&new) {
            RefEventKind::Deleted
        } else if zero(&old) {
            RefEventKind::Created
        } else {
            RefEventKind::Updated
        };
        out.push(PushEvent {
            id: uuid_v4(),
            time: time.clone(),
            region: origin.region.clone(),
            account: origin.account.clone(),
            repository: origin.repository.clone(),
            kind,
            reference,
            commit_id: (!zero(&new)).then_some(new),
            old_commit_id: (!zero(&old)).then_some(old),
            caller_arn: origin.caller_arn.clone(),
        });
    }
    out
}

/// Turns `report` into events, stores them durably and adds their ids to
/// `ids` (the push's audit line). Blocking file I/O: call it from
/// `spawn_blocking`.
pub fn record_report(
    events: &Events,
    report: &PushReport,
    commands: &[RefUpdate],
    origin: &PushOrigin,
    ids: &EventIds,
) {
    let list = events_of(report, commands, origin);
    if list.is_empty() {
        return;
    }
    match events.record(&list) {
        Ok(_) => ids.extend(list.iter().map(|e| e.id.clone())),
        Err(e) => tracing::error!(
            error = %e,
            repository = %origin.repository,
            refs = list.len(),
            "push events could not be stored: they are lost"
        ),
    }
}

struct Pending {
    events: Arc<Events>,
    reader: ReportReader,
    commands: Vec<RefUpdate>,
    origin: PushOrigin,
    ids: EventIds,
}

impl Pending {
    fn store(self) -> tokio::task::JoinHandle<()> {
        tokio::task::spawn_blocking(move || {
            let report = self.reader.finish();
            record_report(
                &self.events,
                &report,
                &self.commands,
                &self.origin,
                &self.ids,
            );
        })
    }
}

/// A response body passed through unchanged while a copy is read; at its
/// end the events are stored before the end is passed on.
pub struct TapBody<B> {
    inner: B,
    pending: Option<Pending>,
    storing: Option<tokio::task::JoinHandle<()>>,
}

impl<B> TapBody<B> {
    /// Taps `inner`, the answer to a smart-HTTP push whose commands are
    /// `commands` (`sideband`: the client asked for side-band-64k).
    pub fn new(
        inner: B,
        events: Arc<Events>,
        commands: Vec<RefUpdate>,
        sideband: bool,
        origin: PushOrigin,
        ids: EventIds,
    ) -> Self {
        Self {
            inner,
            pending: Some(Pending {
                events,
                reader: ReportReader::new(sideband, false),
                commands,
                origin,
                ids,
            }),
            storing: None,
        }
    }
}

impl<B> Body for TapBody<B>
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
        if let Some(storing) = this.storing.as_mut() {
            // The end is held back until the events are on disk.
            return match Pin::new(storing).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(_) => {
                    this.storing = None;
                    Poll::Ready(None)
                }
            };
        }
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(p)) = (frame.data_ref(), this.pending.as_mut()) {
                    p.reader.feed(data);
                }
            }
            Poll::Ready(None) => {
                if let Some(p) = this.pending.take() {
                    this.storing = Some(p.store());
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            Poll::Ready(Some(Err(_))) => {
                // What the backend reported before failing still happened.
                if let Some(p) = this.pending.take() {
                    drop(p.store());
                }
            }
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.storing.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TapBody<B> {
    fn drop(&mut self) {
        // The client went away mid-answer: the refs reported `ok` so far
        // were updated all the same.
        if let Some(p) = self.pending.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            drop(p.store());
        }
    }
}

/// A reader shared between the task copying receive-pack's output (SSH)
/// and the one that learns the push's commands.
pub type SharedReader = Arc<Mutex<ReportReader>>;

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bytes::BytesMut;
    use http_body_util::BodyExt;

    use super::*;
    use crate::server::metrics::WebhookMetrics;
    use crate::shared::config::webhooks::{Webhook, WebhookFormat, WebhookSecret};
    use crate::shared::git::{parse_command_section, pktline};

    /// A body yielding `chunks` one frame each.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn push() -> Vec<RefUpdate> {
        let mut b = BytesMut::new();
        let (z, a, c) = ("0".repeat(40), "a".repeat(40), "c".repeat(40));
        for line in [
            format!("{z} {a} refs/heads/new\0report-status side-band-64k"),
            format!("{a} {c} refs/heads/main"),
            format!("{a} {z} refs/tags/gone"),
            format!("{z} {a} refs/heads/refused"),
        ] {
            pktline::write_data(&mut b, line.as_bytes()).unwrap();
        }
        pktline::write_flush(&mut b);
        parse_command_section(&b).unwrap().0.commands
    }

    fn answer() -> Bytes {
        let mut report = BytesMut::new();
        for l in [
            "unpack ok\n",
            "ok refs/heads/new\n",
            "ok refs/heads/main\n",
            "ok refs/tags/gone\n",
            "ng refs/heads/refused non-fast-forward\n",
        ] {
            pktline::write_data(&mut report, l.as_bytes()).unwrap();
        }
        pktline::write_flush(&mut report);
        let mut out = BytesMut::new();
        pktline::write_sideband(&mut out, 1, &report);
        pktline::write_flush(&mut out);
        out.freeze()
    }

    #[tokio::test]
    async fn streams_unchanged_and_stores_before_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let hook = Webhook {
            name: "ci".into(),
            url: "http://127.0.0.1:1/".parse().unwrap(),
            secret: WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            format: WebhookFormat::EventBridge,
            events: RefEventKind::ALL.to_vec(),
            repositories: Vec::new(),
            references: Vec::new(),
            ca: None,
        };
        let events = Arc::new(Events::new(
            dir.path(),
            vec![hook],
            Arc::new(WebhookMetrics::default()),
        ));
        let whole = answer();
        // Cut the answer at awkward places.
        let chunks: VecDeque<Bytes> = whole.chunks(7).map(Bytes::copy_from_slice).collect();
        let origin = PushOrigin {
            account: "111122223333".into(),
            repository: "demo".into(),
            region: "us-east-1".into(),
            caller_arn: "arn:aws:iam::111122223333:user/alice".into(),
        };
        let ids = EventIds::default();
        let body = TapBody::new(
            Chunks(chunks),
            Arc::clone(&events),
            push(),
            true,
            origin,
            ids.clone(),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out, whole, "the client gets the answer unchanged");
        // Stored by the time the body ended.
        let (keys, depth) = events
            .outbox()
            .first("ci", super::super::Status::Pending, 10);
        assert_eq!(depth, 3);
        let stored: Vec<(String, String)> = keys
            .iter()
            .map(|k| {
                let d = events
                    .outbox()
                    .read("ci", super::super::Status::Pending, k)
                    .unwrap();
                (d.event, d.reference)
            })
            .collect();
        assert_eq!(
            stored,
            [
                ("referenceCreated".to_owned(), "refs/heads/new".to_owned()),
                ("referenceUpdated".to_owned(), "refs/heads/main".to_owned()),
                ("referenceDeleted".to_owned(), "refs/tags/gone".to_owned()),
            ]
        );
        assert_eq!(ids.to_vec().len(), 3);
    }
}
