//! Delivery workers: one task per configured endpoint, reading its
//! `pending/` folder in push order (at most [`BATCH`] names in memory
//! whatever the backlog), sending each event signed, and moving it to
//! `delivered/` on a 2xx. An endpoint delivers strictly in push order (so
//! per repository too): a failing event holds back the endpoint's later
//! ones, never another endpoint's.
//!
//! Failures back off exponentially with jitter from [`BACKOFF_BASE`] up to
//! [`BACKOFF_CAP`]; after [`PAUSE_AFTER`] failures in a row the endpoint is
//! paused (logged, in metrics) and probes every [`BACKOFF_CAP`] (with
//! jitter) or at once when `gitiam events redeliver` touches its wake
//! file; a probe that succeeds resumes it. A receiver that was down for a
//! minute thus has its events at most [`BACKOFF_CAP`] after it is back.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::Events;
use super::outbox::{self, Outbox, Status};
use super::sign;
use crate::server::backend::upstream::UpstreamConnector;
use crate::shared::config::webhooks::Webhook;

/// Names read from `pending/` per scan.
pub const BATCH: usize = 64;
/// Time allowed for one attempt (connect, send, response head and body).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// First retry delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay (also the probe interval of a paused endpoint).
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Failures in a row that pause an endpoint.
pub const PAUSE_AFTER: u32 = 6;
/// How often an idle worker looks at its folder (new events also wake it).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Most response bytes read (and thrown away) per attempt.
const MAX_RESPONSE: usize = 64 * 1024;

/// The retry schedule (the constants above; shorter in tests).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// First retry delay.
    pub base: Duration,
    /// Longest retry delay and paused probe interval.
    pub cap: Duration,
    /// Failures in a row that pause an endpoint.
    pub pause_after: u32,
    /// Idle poll interval.
    pub idle_poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            base: BACKOFF_BASE,
            cap: BACKOFF_CAP,
            pause_after: PAUSE_AFTER,
            idle_poll: IDLE_POLL,
        }
    }
}

/// Delay before retry number `failures` (1 = after the first failure):
/// `BASE * 2^(failures-1)`, capped, then a uniform draw from its upper half
/// (jitter, so receivers coming back are not hit by every sender at once).
pub fn backoff(failures: u32) -> Duration {
    backoff_with(&Timing::default(), failures)
}

fn backoff_with(timing: &Timing, failures: u32) -> Duration {
    let exp = timing
        .base
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let d = exp.min(timing.cap);
    let half = d / 2;
    half + half.mul_f64(rand::random::<f64>())
}

type HttpClient = Client<UpstreamConnector, Full<Bytes>>;

/// Outcome of one attempt.
enum Attempt {
    Delivered(u16),
    Failed(String),
}

async fn attempt(client: &HttpClient, hook: &Webhook, d: &outbox::Delivery) -> Attempt {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0);
    let signature = sign::signature(&hook.secret, &d.id, timestamp, d.body.as_bytes());
    let request = http::Request::post(hook.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("gitiam/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Full::new(Bytes::from(d.body.clone())));
    let request = match request {
        Ok(r) => r,
        Err(e) => return Attempt::Failed(format!("building the request: {e}")),
    };
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })?;
        let status = response.status();
        // Read (a bounded part of) the answer so the connection can be reused.
        let mut body = response.into_body();
        let mut read = 0usize;
        while read < MAX_RESPONSE {
            match body.frame().await {
                Some(Ok(f)) => read += f.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
        Ok::<_, String>(status)
    };
    match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
        Err(_) => Attempt::Failed(format!("no answer within {ATTEMPT_TIMEOUT:?}")),
        Ok(Err(e)) => Attempt::Failed(e),
        Ok(Ok(s)) if s.is_success() => Attempt::Delivered(s.as_u16()),
        Ok(Ok(s)) => Attempt::Failed(format!("HTTP {}", s.as_u16())),
    }
}

/// Runs `name`'s worker until the endpoint leaves the configuration.
pub(super) async fn worker(events: Arc<Events>, name: String) {
    let timing = events.timing;
    let outbox = events.outbox.clone();
    let mut failures: u32 = 0;
    let mut paused = false;
    // The client is rebuilt when the endpoint's configuration changes.
    let mut client: Option<(Webhook, HttpClient)> = None;
    let mut last_sweep: Option<SystemTime> = None;
    loop {
        let Some(hook) = events.webhook(&name) else {
            tracing::info!(endpoint = %name, "webhook removed from the configuration; its worker stops");
            events.metrics().webhook_gone(&name);
            return;
        };
        if client.as_ref().is_none_or(|(h, _)| *h != hook) {
            match UpstreamConnector::new(hook.ca.as_deref(), ATTEMPT_TIMEOUT) {
                Ok(c) => {
                    let http = Client::builder(TokioExecutor::new())
                        .pool_idle_timeout(Duration::from_secs(30))
                        .build(c);
                    client = Some((hook.clone(), http));
                }
                Err(e) => {
                    tracing::error!(endpoint = %name, error = %e, "webhook TLS setup failed");
                    tokio::time::sleep(timing.cap).await;
                    continue;
                }
            }
        }
        let Some((_, http)) = client.as_ref() else {
            continue;
        };
        let now = SystemTime::now();
        if last_sweep
            .is_none_or(|t| now.duration_since(t).unwrap_or_default() > Duration::from_secs(600))
        {
            let (o, n) = (outbox.clone(), name.clone());
            let _ = tokio::task::spawn_blocking(move || o.sweep(&n, now)).await;
            last_sweep = Some(now);
        }
        let (o, n) = (outbox.clone(), name.clone());
        let scan = tokio::task::spawn_blocking(move || o.first(&n, Status::Pending, BATCH)).await;
        let (keys, depth) = scan.unwrap_or_default();
        let oldest = keys.first().and_then(|k| outbox::key_stamp(k));
        events
            .metrics()
            .webhook_outbox(&name, depth, oldest, paused);
        if keys.is_empty() {
            wait(&events, &outbox, &name, timing.idle_poll).await;
            continue;
        }
        for key in keys {
            let (o, n, k) = (outbox.clone(), name.clone(), key.clone());
            let read = tokio::task::spawn_blocking(move || o.read(&n, Status::Pending, &k)).await;
            let delivery = match read {
                Ok(Ok(d)) => d,
                // Moved by an operator command meanwhile.
                Ok(Err(e)) if e.source.kind() == std::io::ErrorKind::NotFound => continue,
                Ok(Err(e)) => {
                    tracing::error!(endpoint = %name, error = %e, "unreadable outbox file moved to failed/");
                    let _ = outbox.rename(&name, &key, Status::Pending, Status::Failed);
                    continue;
                }
                Err(_) => break,
            };
            match attempt(http, &hook, &delivery).await {
                Attempt::Delivered(status) => {
                    events.metrics().webhook_delivery(&name, "delivered");
                    if paused {
                        tracing::info!(endpoint = %name, "webhook endpoint answers again: resumed");
                    }
                    failures = 0;
                    paused = false;
                    tracing::debug!(endpoint = %name, id = %delivery.id, status, "event delivered");
                    let (o, n, k) = (outbox.clone(), name.clone(), key.clone());
                    let moved = tokio::task::spawn_blocking(move || {
                        o.rename(&n, &k, Status::Pending, Status::Delivered)
                    })
                    .await;
                    if let Ok(Err(e)) = moved {
                        tracing::error!(endpoint = %name, error = %e, "cannot move a delivered event");
                    }
                }
                Attempt::Failed(why) => {
                    events.metrics().webhook_delivery(&name, "failed");
                    failures = failures.saturating_add(1);
                    let age = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|t| t.as_secs())
                        .unwrap_or(0)
                        .saturating_sub(delivery.created);
                    if age > outbox::MAX_PENDING_AGE.as_secs() {
                        tracing::error!(endpoint = %name, id = %delivery.id, error = %why, "event given up after its retry window: moved to failed/");
                        let _ = outbox.rename(&name, &key, Status::Pending, Status::Failed);
                        break;
                    }
                    if failures >= timing.pause_after && !paused {
                        paused = true;
                        tracing::warn!(endpoint = %name, failures, error = %why, "webhook endpoint paused after repeated failures; probing every {:?}", timing.cap);
                    } else {
                        tracing::info!(endpoint = %name, id = %delivery.id, failures, error = %why, "webhook delivery failed; will retry");
                    }
                    events
                        .metrics()
                        .webhook_outbox(&name, depth, oldest, paused);
                    wait(&events, &outbox, &name, backoff_with(&timing, failures)).await;
                    break;
                }
            }
        }
    }
}

/// Sleeps `max`, waking early for new events (when not backing off) or
/// the operator's wake file.
async fn wait(events: &Events, outbox: &Outbox, name: &str, max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    let poll = events.timing.idle_poll;
    let idle = max <= poll;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return;
        }
        let step = (deadline - now).min(poll);
        if idle {
            tokio::select! {
                _ = events.notify.notified() => return,
                _ = tokio::time::sleep(step) => {}
            }
        } else {
            tokio::time::sleep(step).await;
        }
        let wake = outbox.wake_file(name);
        if std::fs::remove_file(&wake).is_ok() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::events::model::{PushEvent, uuid_v4};
    use crate::server::metrics::Metrics;
    use crate::shared::config::webhooks::{RefEventKind, Webhook, WebhookFormat, WebhookSecret};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Answers one HTTP/1.1 request on `listener` with 204 after checking
    /// its Standard Webhooks signature; returns the event id.
    async fn answer_one(listener: &tokio::net::TcpListener, secret: &WebhookSecret) -> String {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let (head, body) = loop {
            let mut chunk = [0u8; 4096];
            let n = tcp.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() >= len {
                    break (head.to_owned(), body.to_owned());
                }
            }
        };
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap()
                .to_owned()
        };
        let id = header("webhook-id");
        let ts: u64 = header("webhook-timestamp").parse().unwrap();
        assert_eq!(
            header("webhook-signature"),
            sign::signature(secret, &id, ts, body.as_bytes())
        );
        tcp.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        id
    }

    #[tokio::test]
    async fn pauses_after_repeated_failures_and_resumes_on_a_probe() {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let hook = Webhook {
            name: "ci".into(),
            url: format!("http://127.0.0.1:{port}/hook").parse().unwrap(),
            secret: secret.clone(),
            format: WebhookFormat::EventBridge,
            events: RefEventKind::ALL.to_vec(),
            repositories: Vec::new(),
            references: Vec::new(),
            ca: None,
        };
        let metrics = Metrics::default();
        let timing = Timing {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            pause_after: 3,
            idle_poll: Duration::from_millis(50),
        };
        let events = Arc::new(
            Events::new(dir.path(), vec![hook], Arc::clone(&metrics.webhooks)).with_timing(timing),
        );
        let event = PushEvent {
            id: uuid_v4(),
            time: "2026-12-03T10:00:00Z".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            repository: "demo".into(),
            kind: RefEventKind::Created,
            reference: "refs/heads/main".into(),
            commit_id: Some("a".repeat(40)),
            old_commit_id: None,
            caller_arn: "arn:aws:iam::111122223333:user/alice".into(),
        };
        events.record(std::slice::from_ref(&event)).unwrap();
        let worker = tokio::spawn(worker(Arc::clone(&events), "ci".into()));

        // Nothing listens: failures, then paused.
        let paused = "gitiam_webhook_paused{endpoint=\"ci\"} 1";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !metrics.render().contains(paused) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}",
                metrics.render()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            metrics
                .render()
                .contains("gitiam_webhook_outbox_pending{endpoint=\"ci\"} 1")
        );

        // The receiver comes back: the next probe delivers and resumes.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let id = tokio::time::timeout(Duration::from_secs(10), answer_one(&listener, &secret))
            .await
            .unwrap();
        assert_eq!(id, event.id);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let delivered = events.outbox().first("ci", Status::Delivered, 1).1;
            let text = metrics.render();
            if delivered == 1 && text.contains("gitiam_webhook_paused{endpoint=\"ci\"} 0") {
                assert!(text.contains(
                    "gitiam_webhook_deliveries_total{endpoint=\"ci\",result=\"delivered\"} 1"
                ));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        worker.abort();
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        for _ in 0..100 {
            let d1 = backoff(1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= BACKOFF_BASE);
            let d20 = backoff(20);
            assert!(d20 >= BACKOFF_CAP / 2 && d20 <= BACKOFF_CAP);
        }
        let total: Duration = (1..=PAUSE_AFTER)
            .map(|n| BACKOFF_BASE * (1 << (n - 1)).min(30))
            .sum();
        assert!(total <= Duration::from_secs(70), "{total:?}");
    }
}
