//! What the failed-authentication limiter costs a request:
//! - `check_*`: the one call every Git and STS request makes, with 100,000
//!   sources in the table (the default cap): an address never seen, one
//!   with some failures, one blocked;
//! - `record_failure`: a failure from a known source;
//! - `sweep_100000`: a failure from a new source when the table is full of
//!   sources under their rate (the sweep that makes room).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gitiam::server::throttle::FailureLimiter;
use gitiam::shared::config::throttle::AuthThrottle;

const SOURCES: u32 = 100_000;

fn v4(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

/// A limiter whose table is full: every source has one failure, source 0
/// is blocked.
fn full(now: Instant) -> FailureLimiter {
    let l = FailureLimiter::new(AuthThrottle {
        burst: 1,
        failures_per_minute: 1,
        max_sources: SOURCES as usize,
        ..AuthThrottle::default()
    });
    for i in 0..SOURCES {
        l.record_failure(v4(i), now);
    }
    l.record_failure(v4(0), now);
    l
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let l = full(now);
    assert!(l.check(v4(0), now).is_err());
    assert!(l.check(v4(1), now).is_ok());
    c.bench_function("check_unknown_source", |b| {
        b.iter(|| l.check(black_box(v4(SOURCES + 7)), now))
    });
    c.bench_function("check_tracked_not_blocked", |b| {
        b.iter(|| l.check(black_box(v4(1234)), now))
    });
    c.bench_function("check_blocked", |b| {
        b.iter(|| l.check(black_box(v4(0)), now))
    });
    // The bucket refills in the meantime (one failure a minute, a minute
    // later each time): always counted, never blocked.
    let mut t = now;
    c.bench_function("record_failure", |b| {
        b.iter(|| {
            t += Duration::from_secs(60);
            l.record_failure(black_box(v4(4321)), t)
        })
    });
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.bench_function("sweep_100000", |b| {
        b.iter_batched(
            || full(now),
            |l| l.record_failure(v4(SOURCES + 1), now),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
