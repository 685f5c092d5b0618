//! What checking a Git request's credentials costs, per kind (no bench
//! measured SigV4 verification before, so both are here side by side):
//! - `sigv4_git_password`: `codecommit::verify` with a warm signing-key
//!   cache (the steady state of a server: one HMAC chain per key and day);
//! - `git_credential_ok` / `_wrong` / `_unknown_user`: the HTTPS Git
//!   credential check (SHA-256 of the password, constant-time comparison
//!   with every slot), for a right password, a wrong one, and a service
//!   user name that does not exist (which must cost the same).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use gitiam::shared::config::{self, git_credential};
use gitiam::shared::sigv4::{SigningKeyCache, codecommit};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn bench(c: &mut Criterion) {
    let now = SystemTime::now();
    let cache = SigningKeyCache::new(1024);
    let password = codecommit::password(
        SECRET,
        "us-east-1",
        "git.example.com",
        "/v1/repos/demo",
        now,
    );
    // Warms the signing-key cache.
    let _ = codecommit::verify(
        &cache,
        SECRET,
        "us-east-1",
        "git.example.com",
        "/v1/repos/demo",
        &password,
        now,
        Duration::from_secs(900),
    )
    .unwrap();
    c.bench_function("sigv4_git_password", |b| {
        b.iter(|| {
            codecommit::verify(
                &cache,
                black_box(SECRET),
                "us-east-1",
                "git.example.com",
                "/v1/repos/demo",
                black_box(&password),
                now,
                Duration::from_secs(900),
            )
            .unwrap()
        })
    });

    let git_password = git_credential::generate_password();
    let text = format!(
        "[[accounts]]\nid = \"111122223333\"\n[[accounts.users]]\nname = \"alice\"\ngit_credentials = [\n  {{ id = \"ACCAEXAMPLE0000000001\", password_hash = \"{}\" }},\n  {{ id = \"ACCAEXAMPLE0000000002\", password_hash = \"{}\" }},\n]\n",
        git_credential::hash_password("the other one"),
        git_credential::hash_password(&git_password),
    );
    let cfg = config::load_str(Path::new("bench.toml"), Path::new("."), &text).unwrap();
    let dir = &cfg.directory;
    let user = "alice-at-111122223333";
    c.bench_function("git_credential_ok", |b| {
        b.iter(|| {
            dir.verify_git_credential(black_box(user), black_box(&git_password))
                .unwrap()
        })
    });
    let wrong = git_credential::generate_password();
    c.bench_function("git_credential_wrong", |b| {
        b.iter(|| {
            dir.verify_git_credential(black_box(user), black_box(&wrong))
                .unwrap_err()
        })
    });
    c.bench_function("git_credential_unknown_user", |b| {
        b.iter(|| {
            dir.verify_git_credential(black_box("mallory-at-111122223333"), black_box(&wrong))
                .unwrap_err()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
