//! What checking a CodeCommit Git password costs the server
//! (`sigv4::codecommit::verify`, signing key cached as on the request path):
//! - `portless_host`: a request whose Host has no port (one HMAC chain);
//! - `port_signed_without_port`: Host `host:8443`, password signed without
//!   the port (AWS CLI, git-credential-gitiam): matches on the first try;
//! - `port_signed_with_port`: Host `host:8443`, password signed with it
//!   (git-remote-codecommit): the second spelling matches;
//! - `port_wrong_password`: Host `host:8443`, a wrong password: both
//!   spellings are computed and refused (the most a request can cost).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use gitiam::shared::sigv4::{SigningKeyCache, codecommit};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const PATH: &str = "/v1/repos/benchmark";

fn bench(c: &mut Criterion) {
    let now = SystemTime::now();
    let keys = SigningKeyCache::default();
    let cases = [
        (
            "portless_host",
            "git.example.com",
            codecommit::password(SECRET, REGION, "git.example.com", PATH, now),
            true,
        ),
        (
            "port_signed_without_port",
            "git.example.com:8443",
            codecommit::password(SECRET, REGION, "git.example.com", PATH, now),
            true,
        ),
        (
            "port_signed_with_port",
            "git.example.com:8443",
            codecommit::password_with_port(SECRET, REGION, "git.example.com:8443", PATH, now),
            true,
        ),
        (
            "port_wrong_password",
            "git.example.com:8443",
            codecommit::password("another-secret", REGION, "git.example.com", PATH, now),
            false,
        ),
    ];
    let mut group = c.benchmark_group("codecommit_verify");
    for (name, host, password, ok) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let r = codecommit::verify(
                    &keys,
                    SECRET,
                    REGION,
                    black_box(host),
                    PATH,
                    black_box(password),
                    now,
                    codecommit::DEFAULT_MAX_SKEW,
                );
                assert_eq!(r.is_ok(), *ok);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
