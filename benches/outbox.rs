//! What recording a push's events costs the push: `Outbox::append` of the
//! events of one push (1 ref and 3 refs, one endpoint; 1 ref to 3
//! endpoints), each file written, fsync'd, renamed into place and the
//! folder fsync'd, in a folder under `BENCH_DIR` (default: the system's
//! temporary folder; point it at the disk the state dir lives on).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use gitiam::server::events::model::{PushEvent, uuid_v4};
use gitiam::server::events::{Delivery, Outbox};
use gitiam::shared::config::webhooks::{RefEventKind, WebhookFormat};

fn deliveries(refs: usize, endpoints: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    for r in 0..refs {
        let e = PushEvent {
            id: uuid_v4(),
            time: "2026-12-03T10:00:00Z".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
            repository: "demo".into(),
            kind: RefEventKind::Updated,
            reference: format!("refs/heads/branch-{r}"),
            commit_id: Some("b".repeat(40)),
            old_commit_id: Some("a".repeat(40)),
            caller_arn: "arn:aws:iam::111122223333:user/alice".into(),
        };
        for n in 0..endpoints {
            out.push(Delivery {
                id: e.id.clone(),
                endpoint: format!("ci{n}"),
                repository: e.repository_arn(),
                reference: e.reference.clone(),
                event: e.kind.as_str().into(),
                created: 0,
                body: e.body(WebhookFormat::EventBridge),
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let outbox = Outbox::new(dir.path());
    let mut group = c.benchmark_group("outbox_append");
    group.sample_size(50);
    for (name, refs, endpoints) in [
        ("1_ref_1_endpoint", 1, 1),
        ("3_refs_1_endpoint", 3, 1),
        ("1_ref_3_endpoints", 1, 3),
    ] {
        let batch = deliveries(refs, endpoints);
        group.bench_function(name, |b| b.iter(|| outbox.append(&batch).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
