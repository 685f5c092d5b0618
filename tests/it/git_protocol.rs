//! The receive-pack reader against bodies produced by the real `git push`
//! (recorded by a test server that parses every push with
//! `inspect_receive_pack` before streaming it to `git http-backend`), and
//! against hand-made bodies for every kind of refusal.

use crate::common;

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::common::CommandExt as _;
use crate::common::git_server::{self, GitServer, bare_repo, cgi_backend, git_ok, rev, work_tree};
use bytes::{Bytes, BytesMut};
use gitiam::shared::git::{
    self, GitError, InspectLimits, ObjectFormat, PushRequest, RefUpdateKind, pktline,
};
use hyper::body::{Body, Frame};

fn have_git(test: &str) -> bool {
    common::require_tool(test, "git", &["--version"])
}

struct Fixture {
    tmp: tempfile::TempDir,
    server: GitServer,
    bare: std::path::PathBuf,
    work: std::path::PathBuf,
}

fn fixture(init_args: &[&str], bare_config: &[(&str, &str)]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let bare = bare_repo(&repos, "proto", init_args);
    for (k, v) in bare_config {
        git_ok(&bare, &["config", k, v]);
    }
    let server = GitServer::start(cgi_backend(&repos), None);
    let work = tmp.path().join("work");
    work_tree(&work, &server.url("proto"), init_args);
    Fixture {
        tmp,
        server,
        bare,
        work,
    }
}

fn head(dir: &std::path::Path, rev: &str) -> String {
    git_ok(dir, &["rev-parse", rev]).trim().to_owned()
}

fn last_push(server: &GitServer) -> PushRequest {
    server.pushes().pop().expect("no push recorded")
}

#[test]
fn several_refs_update_create_delete_tag() {
    if !have_git("several_refs_update_create_delete_tag") {
        return;
    }
    let f = fixture(&[], &[]);
    git_ok(
        &f.work,
        &["push", "-q", "origin", "main", "main:refs/heads/old"],
    );
    let first = head(&f.work, "HEAD");
    let p = last_push(&f.server);
    assert_eq!(p.commands.len(), 2);
    assert!(
        p.commands
            .iter()
            .all(|c| c.kind() == RefUpdateKind::Create && c.new.as_str() == first)
    );
    assert_eq!(p.object_format, ObjectFormat::Sha1);
    assert!(p.capabilities.report_status_v2() || p.capabilities.report_status());
    assert!(p.capabilities.side_band_64k());
    assert!(
        p.capabilities
            .value("agent")
            .is_some_and(|a| a.starts_with("git/"))
    );

    git_server::commit_file(&f.work, "a.txt", b"a\n", "second");
    git_ok(&f.work, &["tag", "-a", "-m", "release", "v1"]);
    let second = head(&f.work, "HEAD");
    let tag = head(&f.work, "refs/tags/v1");
    let out = git_server::git_env(
        &f.work,
        &[
            "push",
            "origin",
            "main",
            "main:refs/heads/feature",
            ":refs/heads/old",
            "refs/tags/v1",
        ],
        &[("GIT_TRACE_PACKET", "1")],
    )
    .assert_success();
    let p = last_push(&f.server);
    let mut got: Vec<(String, RefUpdateKind, String, String)> = p
        .commands
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.kind(),
                c.old.to_string(),
                c.new.to_string(),
            )
        })
        .collect();
    got.sort();
    let zero = "0".repeat(40);
    let mut want = vec![
        (
            "refs/heads/main".to_owned(),
            RefUpdateKind::Update,
            first.clone(),
            second.clone(),
        ),
        (
            "refs/heads/feature".to_owned(),
            RefUpdateKind::Create,
            zero.clone(),
            second.clone(),
        ),
        (
            "refs/heads/old".to_owned(),
            RefUpdateKind::Delete,
            first.clone(),
            zero.clone(),
        ),
        (
            "refs/tags/v1".to_owned(),
            RefUpdateKind::Create,
            zero,
            tag.clone(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(p.expects_pack());
    assert!(p.push_options.is_empty() && !p.signed && p.shallow.is_empty());

    // Git's own trace of what it sent names the same four commands.
    let sent = out
        .stderr
        .lines()
        .filter_map(|l| l.split_once("git> ").map(|(_, pkt)| pkt))
        .filter(|pkt| {
            let words: Vec<&str> = pkt.splitn(3, ' ').collect();
            words.len() == 3
                && words[..2]
                    .iter()
                    .all(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
                && words[2].starts_with("refs/")
        })
        .count();
    out.check(
        sent == 4,
        format_args!("expected 4 commands in the trace, got {sent}"),
    );

    // The backend applied exactly that.
    assert_eq!(rev(&f.bare, "refs/heads/main").unwrap(), second);
    assert_eq!(rev(&f.bare, "refs/heads/feature").unwrap(), second);
    assert_eq!(rev(&f.bare, "refs/heads/old"), None);
    assert_eq!(rev(&f.bare, "refs/tags/v1").unwrap(), tag);

    // A delete-only push has no pack.
    git_ok(&f.work, &["push", "-q", "origin", "--delete", "feature"]);
    let p = last_push(&f.server);
    assert_eq!(p.commands.len(), 1);
    assert_eq!(p.commands[0].kind(), RefUpdateKind::Delete);
    assert!(!p.expects_pack());
    assert_eq!(rev(&f.bare, "refs/heads/feature"), None);

    // --atomic is a capability.
    git_ok(
        &f.work,
        &[
            "push",
            "-q",
            "--atomic",
            "origin",
            "main:refs/heads/x",
            "main:refs/heads/y",
        ],
    );
    assert!(last_push(&f.server).capabilities.atomic());
}

#[test]
fn push_options() {
    if !have_git("push_options") {
        return;
    }
    let f = fixture(&[], &[("receive.advertisePushOptions", "true")]);
    git_ok(
        &f.work,
        &[
            "push",
            "-q",
            "-o",
            "ci.skip",
            "-o",
            "reviewer=bob smith",
            "origin",
            "main",
        ],
    );
    let p = last_push(&f.server);
    assert!(p.capabilities.push_options());
    assert_eq!(
        p.push_options,
        vec!["ci.skip".to_owned(), "reviewer=bob smith".to_owned()]
    );
    assert_eq!(p.commands.len(), 1);
    assert!(rev(&f.bare, "refs/heads/main").is_some());
}

#[test]
fn sha256_repository() {
    if !have_git("sha256_repository") {
        return;
    }
    let f = fixture(&["--object-format=sha256"], &[]);
    git_ok(&f.work, &["push", "-q", "origin", "main"]);
    let p = last_push(&f.server);
    assert_eq!(p.object_format, ObjectFormat::Sha256);
    assert_eq!(p.capabilities.value("object-format"), Some("sha256"));
    assert_eq!(p.commands[0].new.as_str().len(), 64);
    assert_eq!(p.commands[0].new.as_str(), head(&f.work, "HEAD"));
    assert_eq!(
        rev(&f.bare, "refs/heads/main").unwrap(),
        head(&f.work, "HEAD")
    );
}

#[test]
fn probe_before_large_chunked_push() {
    if !have_git("probe_before_large_chunked_push") {
        return;
    }
    let f = fixture(&[], &[]);
    // Incompressible content larger than http.postBuffer.
    let mut x: u32 = 2_463_534_242;
    let data: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    git_server::commit_file(&f.work, "noise.bin", &data, "noise");
    git_ok(
        &f.work,
        &[
            "-c",
            "http.postBuffer=65536",
            "push",
            "-q",
            "origin",
            "main",
        ],
    );
    let pushes = f.server.pushes();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert!(pushes[0].is_probe && pushes[0].commands.is_empty());
    assert!(!pushes[1].is_probe && pushes[1].commands.len() == 1);
    assert_eq!(
        rev(&f.bare, "refs/heads/main").unwrap(),
        head(&f.work, "HEAD")
    );
}

#[test]
fn shallow_clone_push_sends_shallow_lines() {
    if !have_git("shallow_clone_push_sends_shallow_lines") {
        return;
    }
    let f = fixture(&[], &[]);
    git_server::commit_file(&f.work, "b.txt", b"b\n", "two");
    git_ok(&f.work, &["push", "-q", "origin", "main"]);
    let shallow = f.tmp.path().join("shallow");
    git_ok(
        f.tmp.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &f.server.url("proto"),
            shallow.to_str().unwrap(),
        ],
    );
    let boundary = head(&shallow, "HEAD");
    git_server::commit_file(&shallow, "c.txt", b"c\n", "three");
    git_ok(&shallow, &["push", "-q", "origin", "main"]);
    let p = last_push(&f.server);
    assert_eq!(
        p.shallow.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
        vec![boundary]
    );
    assert_eq!(
        rev(&f.bare, "refs/heads/main").unwrap(),
        head(&shallow, "HEAD")
    );
}

#[test]
fn signed_push() {
    if !have_git("signed_push") || !common::require_tool("signed_push", "gpg", &["--version"]) {
        return;
    }
    let f = fixture(&[], &[("receive.certNonceSeed", "test-seed")]);
    let gnupg = f.tmp.path().join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    let gnupg_str = gnupg.to_str().unwrap();
    std::process::Command::new("gpg")
        .env("GNUPGHOME", gnupg_str)
        .args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Pusher <pusher@example.com>",
            "ed25519",
            "sign",
            "never",
        ])
        .ok();
    git_server::git_env(
        &f.work,
        &[
            "-c",
            "user.signingkey=pusher@example.com",
            "push",
            "--signed",
            "origin",
            "main",
            "main:refs/heads/signed",
        ],
        &[("GNUPGHOME", gnupg_str)],
    )
    .assert_success();
    let p = last_push(&f.server);
    assert!(p.signed);
    let mut names: Vec<_> = p.commands.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["refs/heads/main", "refs/heads/signed"]);
    assert!(
        p.commands
            .iter()
            .all(|c| c.new.as_str() == head(&f.work, "HEAD"))
    );
    assert_eq!(
        rev(&f.bare, "refs/heads/signed").unwrap(),
        head(&f.work, "HEAD")
    );
    let _ = gnupg;
    drop(f.server);
    // Stop the gpg-agent this test started (it belongs to GNUPGHOME).
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", gnupg_str)
        .args(["--kill", "gpg-agent"])
        .output();
}

// ---- hand-made bodies -------------------------------------------------

/// A body yielding fixed chunks.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn chunks(data: &[u8]) -> Chunks {
    Chunks(data.chunks(5).map(Bytes::copy_from_slice).collect())
}

fn pkt(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for l in lines {
        if l.is_empty() {
            pktline::write_flush(&mut out);
        } else {
            pktline::write_data(&mut out, l).unwrap();
        }
    }
    out.to_vec()
}

async fn inspect(data: &[u8]) -> Result<PushRequest, GitError> {
    git::inspect_receive_pack(chunks(data), InspectLimits::default())
        .await
        .map(|(p, _)| p)
}

const O1: &str = "1111111111111111111111111111111111111111";
const O2: &str = "2222222222222222222222222222222222222222";

fn update(name: &str) -> Vec<u8> {
    format!("{O1} {O2} {name}\0 report-status side-band-64k").into_bytes()
}

#[tokio::test]
async fn hand_made_refusals() {
    let good = [
        pkt(&[&update("refs/heads/main"), b""]),
        b"PACK\0\0\0\x02\0\0\0\0".to_vec(),
    ]
    .concat();
    assert_eq!(inspect(&good).await.unwrap().commands.len(), 1);

    let mut oversize = Vec::new();
    for i in 0..20_000 {
        oversize.extend(pkt(&[format!("{O1} {O2} refs/heads/b{i}").as_bytes()]));
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad length char", b"00zz".to_vec()),
        ("length 3", b"0003".to_vec()),
        ("length above max", b"fff1".to_vec()),
        ("truncated packet", b"0100abc".to_vec()),
        ("missing flush", pkt(&[&update("refs/heads/main")])),
        ("empty body", Vec::new()),
        (
            "delim instead of flush",
            [pkt(&[&update("refs/heads/main")]), b"0001".to_vec()].concat(),
        ),
        (
            "bad old oid",
            pkt(&[
                format!("{}x {O2} refs/heads/main", &O1[1..]).as_bytes(),
                b"",
            ]),
        ),
        (
            "short new oid",
            pkt(&[format!("{O1} {} refs/heads/main", &O2[2..]).as_bytes(), b""]),
        ),
        (
            "sha1 oid in sha256 push",
            pkt(&[
                format!("{O1} {O2} refs/heads/main\0object-format=sha256").as_bytes(),
                b"",
            ]),
        ),
        ("no ref name", pkt(&[format!("{O1} {O2}").as_bytes(), b""])),
        ("funny ref name", pkt(&[&update("refs/heads/../x"), b""])),
        ("ERR packet", pkt(&[b"ERR nope", b""])),
        (
            "garbage instead of pack",
            [
                pkt(&[&update("refs/heads/main"), b""]),
                b"GARBAGE!".to_vec(),
            ]
            .concat(),
        ),
        (
            "no pack after update",
            pkt(&[&update("refs/heads/main"), b""]),
        ),
        ("trailing bytes after probe", b"0000junk".to_vec()),
        (
            "trailing packet after delete-only",
            [
                pkt(&[
                    format!("{O1} {} refs/heads/x", "0".repeat(40)).as_bytes(),
                    b"",
                ]),
                b"0000".to_vec(),
            ]
            .concat(),
        ),
        (
            "missing push options flush",
            pkt(&[
                format!("{O1} {O2} refs/heads/main\0push-options").as_bytes(),
                b"",
                b"opt",
            ]),
        ),
        ("oversize command section", oversize),
    ];
    for (what, body) in cases {
        assert!(inspect(&body).await.is_err(), "{what} was accepted");
    }
}

#[tokio::test]
async fn hand_made_probe_and_replay() {
    let (p, replay) = git::inspect_receive_pack(chunks(b"0000"), InspectLimits::default())
        .await
        .unwrap();
    assert!(p.is_probe);
    use http_body_util::BodyExt;
    assert_eq!(replay.collect().await.unwrap().to_bytes().as_ref(), b"0000");
}
