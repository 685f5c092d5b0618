//! Push events: one event per ref the backend reports it updated (`ok REF`
//! in its report-status, read by a [`tap`] on the response stream of
//! either front door), written durably to the [`outbox`] before the
//! push's response ends, and delivered to the `[[webhooks]]` endpoints by
//! [`deliver`] workers, signed as Standard Webhooks ([`sign`]), in the
//! EventBridge or CloudEvents shape ([`model`]).
//!
//! The endpoints that receive an event are chosen when it is created, from
//! the configuration of that moment: a reload applies to events created
//! afterwards (stored events go to their endpoint as configured when they
//! are sent).

pub mod deliver;
pub mod model;
pub mod outbox;
pub mod sign;
pub mod tap;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::server::metrics::WebhookMetrics;
use crate::shared::config::webhooks::Webhook;

pub use model::PushEvent;
pub use outbox::{Delivery, Outbox, OutboxError, Status};
pub use tap::{PushOrigin, TapBody, record_report};

/// The push-event machinery the front doors share.
#[derive(Debug)]
pub struct Events {
    outbox: Outbox,
    webhooks: ArcSwap<Vec<Webhook>>,
    notify: Notify,
    metrics: Arc<WebhookMetrics>,
    timing: deliver::Timing,
}

impl Events {
    /// Events stored under `state_dir/events`, sent to `webhooks`.
    pub fn new(state_dir: &Path, webhooks: Vec<Webhook>, metrics: Arc<WebhookMetrics>) -> Self {
        Self {
            outbox: Outbox::new(state_dir),
            webhooks: ArcSwap::from_pointee(webhooks),
            notify: Notify::new(),
            metrics,
            timing: deliver::Timing::default(),
        }
    }

    /// The same with another retry schedule (tests).
    pub fn with_timing(mut self, timing: deliver::Timing) -> Self {
        self.timing = timing;
        self
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Replaces the endpoints (a reload): events created from now on go
    /// to these.
    pub fn set_webhooks(&self, webhooks: Vec<Webhook>) {
        self.webhooks.store(Arc::new(webhooks));
    }

    /// True when at least one endpoint is configured (otherwise pushes are
    /// not tapped at all).
    pub fn active(&self) -> bool {
        !self.webhooks.load().is_empty()
    }

    /// The endpoint named `name`, as configured now.
    pub fn webhook(&self, name: &str) -> Option<Webhook> {
        self.webhooks
            .load()
            .iter()
            .find(|w| w.name == name)
            .cloned()
    }

    fn metrics(&self) -> &WebhookMetrics {
        &self.metrics
    }

    /// Stores `events` (push order) for every endpoint that wants them,
    /// durably; returns once they are on disk. Blocking file I/O.
    pub fn record(&self, events: &[PushEvent]) -> Result<usize, OutboxError> {
        let hooks = self.webhooks.load();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut deliveries = Vec::new();
        for e in events {
            let arn = e.repository_arn();
            for hook in hooks.iter().filter(|h| h.wants(e.kind, &arn, &e.reference)) {
                deliveries.push(Delivery {
                    id: e.id.clone(),
                    endpoint: hook.name.clone(),
                    repository: arn.clone(),
                    reference: e.reference.clone(),
                    event: e.kind.as_str().to_owned(),
                    created,
                    body: e.body(hook.format),
                });
            }
        }
        if deliveries.is_empty() {
            return Ok(0);
        }
        self.outbox.append(&deliveries)?;
        self.notify.notify_waiters();
        Ok(deliveries.len())
    }

    /// Starts the supervisor: one delivery worker per configured endpoint,
    /// started and stopped as reloads add and remove endpoints.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let events = Arc::clone(self);
        tokio::spawn(async move {
            let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                workers.retain(|_, h| !h.is_finished());
                let names: Vec<String> = events
                    .webhooks
                    .load()
                    .iter()
                    .map(|w| w.name.clone())
                    .collect();
                for name in names {
                    if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(name) {
                        let name = slot.key().clone();
                        slot.insert(tokio::spawn(deliver::worker(Arc::clone(&events), name)));
                    }
                }
            }
        })
    }
}
