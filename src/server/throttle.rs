//! Throttling of failed authentications per source address, for every
//! front door and the STS API: [`FailureLimiter`].
//!
//! A door calls [`FailureLimiter::check`] before any credential work and
//! refuses the request (`429` with `Retry-After`, STS's `Throttling`, SSH: a
//! disconnect) while the source is blocked; it calls
//! [`FailureLimiter::record_failure`] when credentials it was given do not
//! authenticate. Nothing else: a successful authentication neither records
//! nor resets anything (an attacker holding one valid key must not be able
//! to wipe the count of their guesses at another), and nothing is ever
//! counted per access key (key ids are not secret: counting them would let
//! anyone lock out anyone).
//!
//! **Sources.** An IPv4 address is one source; IPv6 addresses are grouped by
//! their first `ipv6_prefix_len` bits (a /64 is one customer site, and
//! handing out addresses inside it costs an attacker nothing); an
//! IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack listener) is its
//! IPv4 address.
//!
//! **Rate.** Each source has a token bucket of `burst` failures, refilled at
//! `failures_per_minute`. A failure takes a token; a failure that finds none
//! blocks the source for `block`. While blocked, every request from the
//! source is refused before its credentials are looked at, and its failures
//! are not counted (it makes none); the bucket keeps refilling, so with the
//! defaults a source comes back with its full burst, and one that goes on
//! failing is blocked again after `burst` more failures.
//!
//! **Cost.** `check` is one read of one shard of a [`DashMap`] (shared
//! lock, held for a few comparisons); successful requests do nothing else.
//! `record_failure` takes one shard's write lock.
//!
//! **Memory.** At most `max_sources` sources are remembered (a little more
//! for a moment, when several new sources are inserted at once). When a
//! failure comes from a new source and the table is full, one sweep brings
//! it down to three quarters of the cap (at least one place free),
//! dropping, in this order: sources
//! that carry nothing any more (not blocked, bucket full again); sources not
//! blocked (some failures, under the rate); and, if the table is still full
//! of blocked sources, the blocks that end soonest. So a flood of addresses
//! cannot grow the table, a blocked source is only forgotten when more than
//! `max_sources / 4` other sources are blocked after it, and the sweeps cost
//! O(1) per inserted source on average.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::server::metrics::AuthThrottleSample;
use crate::shared::config::throttle::AuthThrottle;

/// Where failures are counted: one IPv4 address, or one IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4(Ipv4Addr),
    /// An IPv6 prefix: the address with the bits beyond `len` cleared.
    V6 {
        /// The masked address.
        prefix: Ipv6Addr,
        /// The prefix length.
        len: u8,
    },
}

impl Source {
    /// The source of `ip` when IPv6 addresses are grouped by `ipv6_prefix_len`
    /// bits.
    pub fn of(ip: IpAddr, ipv6_prefix_len: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => {
                let len = ipv6_prefix_len.min(128);
                let mask = u128::MAX.checked_shl(u32::from(128 - len)).unwrap_or(0);
                Self::V6 {
                    prefix: Ipv6Addr::from(u128::from(v6) & mask),
                    len,
                }
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(ip) => write!(f, "{ip}"),
            Self::V6 { prefix, len } => write!(f, "{prefix}/{len}"),
        }
    }
}

/// A refused request: its source is blocked for `wait` more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// The blocked source.
    pub source: Source,
    /// Time left in the block.
    pub wait: Duration,
    /// Whether this is the first refusal of this block (worth a log line).
    pub first: bool,
}

impl RetryAfter {
    /// Whole seconds to wait, rounded up (at least 1): `Retry-After`.
    pub fn secs(&self) -> u64 {
        let secs = self.wait.as_secs();
        let secs = if self.wait.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        };
        secs.max(1)
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many failed authentications from {}; blocked for {} more seconds",
            self.source,
            self.secs()
        )
    }
}

/// What [`FailureLimiter::record_failure`] did with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Counted; the source is still under its rate.
    Counted,
    /// This failure put the source over its rate: it is blocked from now.
    Blocked(RetryAfter),
    /// Not counted: throttling is off, or the source was already blocked
    /// (a request that passed `check` just before the block started).
    Ignored,
}

/// One source's state.
#[derive(Debug)]
struct Entry {
    /// Failures the source may still make at once (refills continuously).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
    /// End of the current (or last) block.
    blocked_until: Option<Instant>,
    /// Whether a request was refused since the block began.
    refused: AtomicBool,
}

impl Entry {
    fn blocked_at(&self, now: Instant) -> Option<Instant> {
        self.blocked_until.filter(|until| *until > now)
    }

    /// `tokens` as of `now`.
    fn tokens_at(&self, now: Instant, rate: &Rate) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        (self.tokens + elapsed * rate.per_sec).min(rate.burst)
    }

    /// Whether the entry says nothing a fresh one would not: not blocked,
    /// bucket full again.
    fn spent(&self, now: Instant, rate: &Rate) -> bool {
        self.blocked_at(now).is_none() && self.tokens_at(now, rate) >= rate.burst
    }
}

/// The bucket's parameters.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_sec: f64,
    burst: f64,
}

/// Counts failed authentications per source and refuses the sources that
/// fail too often. Shared by every door through the server state.
pub struct FailureLimiter {
    settings: AuthThrottle,
    rate: Rate,
    table: DashMap<Source, Entry>,
    /// Held while a sweep makes room (one sweep at a time).
    sweeping: Mutex<()>,
    failures: AtomicU64,
    blocks: AtomicU64,
    refusals: AtomicU64,
    evictions: AtomicU64,
}

impl fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureLimiter")
            .field("settings", &self.settings)
            .field("sources", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl FailureLimiter {
    /// A limiter with `settings` (throttling off when its rate is 0).
    pub fn new(settings: AuthThrottle) -> Self {
        Self {
            settings,
            rate: Rate {
                per_sec: f64::from(settings.failures_per_minute) / 60.0,
                burst: f64::from(settings.burst.max(1)),
            },
            table: DashMap::new(),
            sweeping: Mutex::new(()),
            failures: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &AuthThrottle {
        &self.settings
    }

    /// The source `ip` is counted as.
    pub fn source_of(&self, ip: IpAddr) -> Source {
        Source::of(ip, self.settings.ipv6_prefix_len)
    }

    /// `Err` when requests from `ip` are refused at `now`: call before any
    /// credential work, and refuse with the wait as `Retry-After`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        if !self.settings.enabled() {
            return Ok(());
        }
        let source = self.source_of(ip);
        let Some(entry) = self.table.get(&source) else {
            return Ok(());
        };
        let Some(until) = entry.blocked_at(now) else {
            return Ok(());
        };
        let first = !entry.refused.swap(true, Ordering::Relaxed);
        drop(entry);
        self.refusals.fetch_add(1, Ordering::Relaxed);
        Err(RetryAfter {
            source,
            wait: until.saturating_duration_since(now),
            first,
        })
    }

    /// Counts a failed authentication from `ip` at `now` (credentials were
    /// presented and did not authenticate).
    pub fn record_failure(&self, ip: IpAddr, now: Instant) -> Recorded {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !self.settings.enabled() {
            return Recorded::Ignored;
        }
        let source = self.source_of(ip);
        if !self.table.contains_key(&source) {
            self.make_room(now);
        }
        let rate = self.rate;
        let mut entry = self.table.entry(source).or_insert_with(|| Entry {
            tokens: rate.burst,
            updated: now,
            blocked_until: None,
            refused: AtomicBool::new(false),
        });
        let entry = entry.value_mut();
        if entry.blocked_at(now).is_some() {
            return Recorded::Ignored;
        }
        entry.tokens = entry.tokens_at(now, &rate);
        entry.updated = entry.updated.max(now);
        if entry.tokens >= 1.0 {
            entry.tokens -= 1.0;
            return Recorded::Counted;
        }
        let until = now.checked_add(self.settings.block).unwrap_or(now);
        entry.blocked_until = Some(until);
        entry.refused.store(false, Ordering::Relaxed);
        self.blocks.fetch_add(1, Ordering::Relaxed);
        Recorded::Blocked(RetryAfter {
            source,
            wait: self.settings.block,
            first: true,
        })
    }

    /// Counters and gauges for `/metrics` (the gauges scan the table).
    pub fn sample(&self, now: Instant) -> AuthThrottleSample {
        let (mut tracked, mut blocked) = (0u64, 0u64);
        for entry in &self.table {
            tracked += 1;
            if entry.blocked_at(now).is_some() {
                blocked += 1;
            }
        }
        AuthThrottleSample {
            failures: self.failures.load(Ordering::Relaxed),
            blocks: self.blocks.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            sources_tracked: tracked,
            sources_blocked: blocked,
        }
    }

    /// Before a new source is inserted: when the table is full, sweep it
    /// down to three quarters of the cap (see the module documentation for
    /// the order).
    fn make_room(&self, now: Instant) {
        let cap = self.settings.max_sources.max(1);
        if self.table.len() < cap {
            return;
        }
        // A poisoned lock only means another sweep panicked; sweeping again
        // is still right.
        let _sweep = self
            .sweeping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = self.table.len();
        if before < cap {
            return;
        }
        // At least one free place, whatever the cap.
        let target = cap.saturating_sub((cap / 4).max(1));
        let rate = self.rate;
        self.table.retain(|_, e| !e.spent(now, &rate));
        if self.table.len() > target {
            self.table.retain(|_, e| e.blocked_at(now).is_some());
        }
        let len = self.table.len();
        if len > target {
            self.drop_soonest_blocks(now, len - target);
        }
        let dropped = before.saturating_sub(self.table.len());
        self.evictions.fetch_add(
            u64::try_from(dropped).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Drops about `excess` blocked sources, those whose blocks end first.
    fn drop_soonest_blocks(&self, now: Instant, excess: usize) {
        let mut ends: Vec<Instant> = self
            .table
            .iter()
            .filter_map(|e| e.blocked_at(now))
            .collect();
        if ends.is_empty() || excess == 0 {
            return;
        }
        let k = excess.min(ends.len()) - 1;
        let (_, cutoff, _) = ends.select_nth_unstable(k);
        let cutoff = *cutoff;
        self.table
            .retain(|_, e| e.blocked_at(now).is_some_and(|until| until > cutoff));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32, burst: u32, block_secs: u64) -> AuthThrottle {
        AuthThrottle {
            failures_per_minute: per_minute,
            burst,
            block: Duration::from_secs(block_secs),
            ipv6_prefix_len: 64,
            max_sources: 1000,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Records `n` failures at `t`; returns what the last one did.
    fn fail(l: &FailureLimiter, addr: &str, n: u32, t: Instant) -> Recorded {
        let mut last = Recorded::Ignored;
        for _ in 0..n {
            last = l.record_failure(ip(addr), t);
        }
        last
    }

    #[test]
    fn burst_then_block_then_expiry() {
        let l = FailureLimiter::new(settings(6, 3, 60));
        let t0 = Instant::now();
        assert_eq!(fail(&l, "203.0.113.7", 3, t0), Recorded::Counted);
        assert!(l.check(ip("203.0.113.7"), t0).is_ok(), "under the burst");
        let Recorded::Blocked(r) = l.record_failure(ip("203.0.113.7"), t0) else {
            panic!("the fourth failure in a row blocks");
        };
        assert_eq!(r.secs(), 60);
        assert_eq!(r.source.to_string(), "203.0.113.7");

        let refused = l.check(ip("203.0.113.7"), t0 + Duration::from_millis(500));
        let refused = refused.unwrap_err();
        assert!(refused.first);
        assert_eq!(refused.secs(), 60, "59.5 s rounds up");
        let again = l.check(ip("203.0.113.7"), t0 + Duration::from_secs(10));
        assert_eq!(again.unwrap_err().secs(), 50);
        assert!(!again.unwrap_err().first, "only the first refusal says so");
        // Failures during the block are not counted (none can happen but
        // through a race with `check`).
        assert_eq!(
            l.record_failure(ip("203.0.113.7"), t0 + Duration::from_secs(30)),
            Recorded::Ignored
        );

        let after = t0 + Duration::from_secs(60);
        assert!(l.check(ip("203.0.113.7"), after).is_ok(), "block over");
        let s = l.sample(after);
        assert_eq!((s.failures, s.blocks, s.refusals), (5, 1, 2));
        assert_eq!((s.sources_tracked, s.sources_blocked), (1, 0));
    }

    #[test]
    fn sustained_rate_is_allowed_and_faster_blocks() {
        // 6 per minute: one every 10 s, forever, with a burst of 2.
        let l = FailureLimiter::new(settings(6, 2, 60));
        let t0 = Instant::now();
        for i in 0..100 {
            let t = t0 + Duration::from_secs(10 * i);
            assert_eq!(l.record_failure(ip("198.51.100.1"), t), Recorded::Counted);
            assert!(l.check(ip("198.51.100.1"), t).is_ok());
        }
        // One every 5 s: the burst absorbs a few, then the block.
        let l = FailureLimiter::new(settings(6, 2, 60));
        let outcomes: Vec<Recorded> = (0..5)
            .map(|i| l.record_failure(ip("198.51.100.1"), t0 + Duration::from_secs(5 * i)))
            .collect();
        assert!(matches!(
            outcomes[..3],
            [Recorded::Counted, Recorded::Counted, Recorded::Counted]
        ));
        assert!(matches!(outcomes[3], Recorded::Blocked(_)), "{outcomes:?}");
    }

    #[test]
    fn the_bucket_refills_during_the_block_and_a_repeat_offender_is_blocked_again() {
        let l = FailureLimiter::new(settings(60, 5, 10));
        let t0 = Instant::now();
        assert_eq!(fail(&l, "192.0.2.1", 5, t0), Recorded::Counted);
        assert!(matches!(
            l.record_failure(ip("192.0.2.1"), t0),
            Recorded::Blocked(_)
        ));
        // 10 s at 1 per second refills 10 > burst: the full burst again.
        let t1 = t0 + Duration::from_secs(10);
        assert!(l.check(ip("192.0.2.1"), t1).is_ok());
        assert_eq!(fail(&l, "192.0.2.1", 5, t1), Recorded::Counted);
        let Recorded::Blocked(_) = l.record_failure(ip("192.0.2.1"), t1) else {
            panic!("blocked again");
        };
        assert!(
            l.check(ip("192.0.2.1"), t1).unwrap_err().first,
            "a new block"
        );
    }

    #[test]
    fn other_sources_are_unaffected() {
        let l = FailureLimiter::new(settings(1, 1, 300));
        let t0 = Instant::now();
        fail(&l, "10.0.0.1", 2, t0);
        assert!(l.check(ip("10.0.0.1"), t0).is_err());
        for other in ["10.0.0.2", "10.0.1.1", "2001:db8::1", "::ffff:10.0.0.3"] {
            assert!(l.check(ip(other), t0).is_ok(), "{other}");
            assert_eq!(
                l.record_failure(ip(other), t0),
                Recorded::Counted,
                "{other}"
            );
        }
    }

    #[test]
    fn ipv6_is_grouped_by_prefix() {
        let l = FailureLimiter::new(settings(1, 2, 300));
        let t0 = Instant::now();
        // Three addresses of one /64 share its budget.
        l.record_failure(ip("2001:db8:1:2::1"), t0);
        l.record_failure(ip("2001:db8:1:2:ffff::9"), t0);
        let Recorded::Blocked(r) = l.record_failure(ip("2001:db8:1:2:abcd::"), t0) else {
            panic!("one /64, one budget");
        };
        assert_eq!(r.source.to_string(), "2001:db8:1:2::/64");
        assert!(l.check(ip("2001:db8:1:2::77"), t0).is_err());
        // The next /64 is another source.
        assert!(l.check(ip("2001:db8:1:3::1"), t0).is_ok());

        let wide = FailureLimiter::new(AuthThrottle {
            ipv6_prefix_len: 48,
            ..settings(1, 1, 300)
        });
        assert_eq!(
            wide.source_of(ip("2001:db8:1:ffff::1")).to_string(),
            "2001:db8:1::/48"
        );
        let exact = FailureLimiter::new(AuthThrottle {
            ipv6_prefix_len: 128,
            ..settings(1, 1, 300)
        });
        assert_eq!(
            exact.source_of(ip("2001:db8::1")).to_string(),
            "2001:db8::1/128"
        );
        assert_eq!(Source::of(ip("2001:db8::1"), 0).to_string(), "::/0");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_its_ipv4_address() {
        let l = FailureLimiter::new(settings(1, 1, 300));
        let t0 = Instant::now();
        assert_eq!(
            l.source_of(ip("::ffff:192.0.2.9")),
            Source::V4("192.0.2.9".parse().unwrap())
        );
        l.record_failure(ip("::ffff:192.0.2.9"), t0);
        l.record_failure(ip("192.0.2.9"), t0);
        assert!(l.check(ip("192.0.2.9"), t0).is_err());
        assert!(l.check(ip("::ffff:192.0.2.9"), t0).is_err());
        // Not grouped by the IPv6 prefix of ::ffff:0:0/96.
        assert!(l.check(ip("::ffff:192.0.2.10"), t0).is_ok());
    }

    #[test]
    fn off_when_the_rate_is_zero() {
        let l = FailureLimiter::new(settings(0, 1, 300));
        let t0 = Instant::now();
        assert_eq!(fail(&l, "10.0.0.1", 100, t0), Recorded::Ignored);
        assert!(l.check(ip("10.0.0.1"), t0).is_ok());
        let s = l.sample(t0);
        assert_eq!((s.failures, s.sources_tracked), (100, 0));
    }

    fn v4(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn the_table_is_capped_and_spent_sources_go_first() {
        let l = FailureLimiter::new(AuthThrottle {
            max_sources: 100,
            ..settings(60, 2, 300)
        });
        let t0 = Instant::now();
        // 40 blocked sources, then 60 with one failure each.
        for i in 0..40 {
            l.record_failure(v4(i), t0);
            l.record_failure(v4(i), t0);
            assert!(matches!(l.record_failure(v4(i), t0), Recorded::Blocked(_)));
        }
        for i in 40..100 {
            l.record_failure(v4(i), t0);
        }
        assert_eq!(l.table.len(), 100);
        // A minute later the 60 have refilled: they carry nothing and go.
        let t1 = t0 + Duration::from_secs(60);
        l.record_failure(v4(1000), t1);
        assert_eq!(l.table.len(), 41);
        for i in 0..40 {
            assert!(l.check(v4(i), t1).is_err(), "blocks are kept");
        }
        assert_eq!(l.sample(t1).evictions, 60);
    }

    #[test]
    fn a_flood_of_new_sources_does_not_grow_the_table_nor_free_recent_blocks() {
        let l = FailureLimiter::new(AuthThrottle {
            max_sources: 100,
            ..settings(1, 1, 300)
        });
        let t0 = Instant::now();
        // Sources under their rate go before blocked ones.
        for i in 0..100 {
            l.record_failure(v4(i), t0);
        }
        l.record_failure(v4(5), t0);
        assert!(l.check(v4(5), t0).is_err());
        for i in 100..10_000 {
            l.record_failure(v4(i), t0);
            assert!(l.table.len() <= 100);
        }
        assert!(l.check(v4(5), t0).is_err(), "the one block survived");

        // A table full of blocks: the oldest blocks make room.
        let l = FailureLimiter::new(AuthThrottle {
            max_sources: 100,
            ..settings(1, 1, 300)
        });
        for i in 0..10_000u32 {
            let t = t0 + Duration::from_millis(u64::from(i));
            l.record_failure(v4(i), t);
            assert!(matches!(l.record_failure(v4(i), t), Recorded::Blocked(_)));
            assert!(l.table.len() <= 100);
        }
        let t = t0 + Duration::from_secs(10);
        // The latest blocks are remembered, the earliest are gone.
        for i in 9_950..10_000 {
            assert!(l.check(v4(i), t).is_err(), "{i}");
        }
        assert!(l.check(v4(0), t).is_ok());
        assert!(l.sample(t).evictions >= 9_900);
    }

    #[test]
    fn a_cap_of_one_holds_one_source() {
        let l = FailureLimiter::new(AuthThrottle {
            max_sources: 1,
            ..settings(1, 1, 300)
        });
        let t0 = Instant::now();
        fail(&l, "10.0.0.1", 2, t0);
        assert!(l.check(ip("10.0.0.1"), t0).is_err());
        l.record_failure(ip("10.0.0.2"), t0 + Duration::from_secs(1));
        assert_eq!(l.table.len(), 1);
        assert!(l.check(ip("10.0.0.1"), t0).is_ok(), "made room");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = |ms| RetryAfter {
            source: Source::V4(Ipv4Addr::LOCALHOST),
            wait: Duration::from_millis(ms),
            first: false,
        };
        assert_eq!(r(0).secs(), 1);
        assert_eq!(r(1).secs(), 1);
        assert_eq!(r(1000).secs(), 1);
        assert_eq!(r(1001).secs(), 2);
        assert_eq!(
            r(2500).to_string(),
            "too many failed authentications from 127.0.0.1; blocked for 3 more seconds"
        );
    }
}
