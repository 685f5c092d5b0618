//! Prometheus metrics of the proxy, rendered as text on `GET /metrics`:
//! requests by action, decision and status, request latency, the time spent
//! deciding, bytes in and out, open connections and configuration reloads,
//! and the throttling of failed authentications ([`AuthThrottleSample`]).
//!
//! Hand-rolled (a few atomics and one small map) rather than a metrics
//! crate: the set is fixed and small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
];
/// Upper bounds (seconds) of the authorization-decision histogram.
const DECISION_BUCKETS: [f64; 8] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.01,
];

/// Push-event delivery metrics, by endpoint: attempts by result, and what
/// the worker last saw of its outbox (depth, oldest pending event, paused).
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    outbox: Mutex<BTreeMap<String, OutboxSample>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct OutboxSample {
    depth: u64,
    /// Creation of the oldest pending event, Unix nanoseconds.
    oldest_nanos: Option<u64>,
    paused: bool,
}

impl WebhookMetrics {
    /// One delivery attempt to `endpoint` ended with `result`
    /// (`delivered` or `failed`).
    pub fn webhook_delivery(&self, endpoint: &str, result: &'static str) {
        if let Ok(mut map) = self.deliveries.lock() {
            *map.entry((endpoint.to_owned(), result)).or_insert(0) += 1;
        }
    }

    /// What `endpoint`'s worker last saw of its outbox.
    pub fn webhook_outbox(
        &self,
        endpoint: &str,
        depth: u64,
        oldest_nanos: Option<u64>,
        paused: bool,
    ) {
        if let Ok(mut map) = self.outbox.lock() {
            map.insert(
                endpoint.to_owned(),
                OutboxSample {
                    depth,
                    oldest_nanos,
                    paused,
                },
            );
        }
    }

    /// `endpoint` left the configuration: its gauges go.
    pub fn webhook_gone(&self, endpoint: &str) {
        if let Ok(mut map) = self.outbox.lock() {
            map.remove(endpoint);
        }
    }

    fn render(&self, out: &mut String, now: std::time::SystemTime) {
        let _ = writeln!(
            out,
            "# HELP gitiam_webhook_deliveries_total Push-event delivery attempts by endpoint and result.\n# TYPE gitiam_webhook_deliveries_total counter"
        );
        if let Ok(map) = self.deliveries.lock() {
            for ((endpoint, result), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "gitiam_webhook_deliveries_total{{endpoint=\"{endpoint}\",result=\"{result}\"}} {n}"
                );
            }
        }
        let now_nanos = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let Ok(map) = self.outbox.lock() else {
            return;
        };
        type Gauge<'a> = (&'a str, &'a str, &'a dyn Fn(&OutboxSample) -> String);
        let gauges: [Gauge; 3] = [
            (
                "gitiam_webhook_outbox_pending",
                "Events waiting for delivery, by endpoint.",
                &|s| s.depth.to_string(),
            ),
            (
                "gitiam_webhook_oldest_pending_age_seconds",
                "Age of the oldest event waiting for delivery (0 when none), by endpoint.",
                &|s| {
                    let age = s
                        .oldest_nanos
                        .map_or(0, |o| now_nanos.saturating_sub(u128::from(o)));
                    format!("{:.3}", age as f64 / 1e9)
                },
            ),
            (
                "gitiam_webhook_paused",
                "1 while an endpoint is paused after repeated failures.",
                &|s| u8::from(s.paused).to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (endpoint, sample) in map.iter() {
                let _ = writeln!(out, "{name}{{endpoint=\"{endpoint}\"}} {}", value(sample));
            }
        }
    }
}

/// A cumulative histogram with fixed buckets.
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Nanoseconds: a policy decision takes well under a microsecond.
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The failed-authentication limiter's counters and gauges, taken when
/// `/metrics` is scraped (see `server::throttle`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthThrottleSample {
    /// Failed authentications recorded.
    pub failures: u64,
    /// Blocks started (a source went over its rate).
    pub blocks: u64,
    /// Requests refused because their source was blocked.
    pub refusals: u64,
    /// Sources forgotten to keep the table under its cap.
    pub evictions: u64,
    /// Sources remembered now.
    pub sources_tracked: u64,
    /// Sources blocked now.
    pub sources_blocked: u64,
}

/// Label set of `gitiam_requests_total`.
type RequestKey = (&'static str, &'static str, u16);

/// The proxy's metrics.
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    latency: Histogram,
    decision: Histogram,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    auth_throttle: Mutex<AuthThrottleSample>,
    /// Push-event deliveries (shared with the delivery workers).
    pub webhooks: std::sync::Arc<WebhookMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Mutex::new(BTreeMap::new()),
            latency: Histogram::new(&LATENCY_BUCKETS),
            decision: Histogram::new(&DECISION_BUCKETS),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            auth_throttle: Mutex::new(AuthThrottleSample::default()),
            webhooks: std::sync::Arc::new(WebhookMetrics::default()),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn request(
        &self,
        action: &'static str,
        decision: &'static str,
        status: u16,
        duration: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((action, decision, status)).or_insert(0) += 1;
        }
        self.latency.observe(duration);
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// Records the time one authorization decision took.
    pub fn decision_time(&self, d: Duration) {
        self.decision.observe(d);
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A reload finished.
    pub fn reload(&self, ok: bool) {
        let c = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The failed-authentication limiter's state, for the next render.
    pub fn auth_throttle(&self, sample: AuthThrottleSample) {
        if let Ok(mut s) = self.auth_throttle.lock() {
            *s = sample;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP gitiam_requests_total Requests by action, decision and status.\n");
        out.push_str("# TYPE gitiam_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((action, decision, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "gitiam_requests_total{{action=\"{action}\",decision=\"{decision}\",status=\"{status}\"}} {n}"
                );
            }
        }
        self.latency.render(
            &mut out,
            "gitiam_request_duration_seconds",
            "Time from request head to the end of the response body.",
        );
        self.decision.render(
            &mut out,
            "gitiam_decision_duration_seconds",
            "Time spent evaluating policies for one request.",
        );
        let counters = [
            (
                "gitiam_received_bytes_total",
                "Request body bytes received.",
                &self.bytes_in,
            ),
            (
                "gitiam_sent_bytes_total",
                "Response body bytes sent.",
                &self.bytes_out,
            ),
            (
                "gitiam_connections_total",
                "Connections accepted.",
                &self.connections_total,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP gitiam_connections_open Connections being served.\n# TYPE gitiam_connections_open gauge\ngitiam_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP gitiam_config_reloads_total Configuration reloads by result.\n# TYPE gitiam_config_reloads_total counter"
        );
        let _ = writeln!(
            out,
            "gitiam_config_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "gitiam_config_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        self.render_auth_throttle(&mut out);
        self.webhooks.render(&mut out, std::time::SystemTime::now());
        out
    }

    fn render_auth_throttle(&self, out: &mut String) {
        let s = self.auth_throttle.lock().map(|s| *s).unwrap_or_default();
        let series = [
            (
                "gitiam_auth_failures_total",
                "counter",
                "Failed authentications counted per source address.",
                s.failures,
            ),
            (
                "gitiam_auth_blocks_total",
                "counter",
                "Times a source address went over its failure rate and was blocked.",
                s.blocks,
            ),
            (
                "gitiam_auth_throttled_total",
                "counter",
                "Requests refused because their source address was blocked.",
                s.refusals,
            ),
            (
                "gitiam_auth_sources_evicted_total",
                "counter",
                "Source addresses forgotten to keep the failure table under its cap.",
                s.evictions,
            ),
            (
                "gitiam_auth_sources_tracked",
                "gauge",
                "Source addresses with recent failed authentications.",
                s.sources_tracked,
            ),
            (
                "gitiam_auth_sources_blocked",
                "gauge",
                "Source addresses blocked now.",
                s.sources_blocked,
            ),
        ];
        for (name, kind, help, v) in series {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("GitPull", "allowed", 200, Duration::from_millis(3), 10, 20);
        m.request(
            "GitPush",
            "explicitDeny",
            200,
            Duration::from_millis(30),
            5,
            7,
        );
        m.decision_time(Duration::from_micros(7));
        m.decision_time(Duration::from_nanos(300));
        m.reload(false);
        m.auth_throttle(AuthThrottleSample {
            refusals: 4,
            sources_blocked: 2,
            ..AuthThrottleSample::default()
        });
        let text = m.render();
        assert!(
            text.contains(
                "gitiam_requests_total{action=\"GitPull\",decision=\"allowed\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("gitiam_request_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gitiam_request_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("gitiam_decision_duration_seconds_bucket{le=\"0.00001\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("gitiam_decision_duration_seconds_sum 0.0000073\n"),
            "{text}"
        );
        assert!(text.contains("gitiam_received_bytes_total 15"), "{text}");
        assert!(
            text.contains("gitiam_config_reloads_total{result=\"error\"} 1"),
            "{text}"
        );
        assert!(text.contains("gitiam_auth_throttled_total 4\n"), "{text}");
        assert!(
            text.contains(
                "# TYPE gitiam_auth_sources_blocked gauge\ngitiam_auth_sources_blocked 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("gitiam_auth_failures_total 0\n"), "{text}");
    }
}
