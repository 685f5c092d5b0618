//! The upstream's protocol v2 answers read by the symbolic-ref check
//! (`src/server/backend/symrefs/ls_refs.rs`, reached through the
//! `#[doc(hidden)]` wrappers `fuzz_parse_ls_refs` and
//! `fuzz_parse_v2_advertisement`): the capability advertisement and the
//! `ls-refs` answer, both read from an upstream Git server.
//!
//! Modes (first byte): 0 the bytes are an `ls-refs` answer; 1 they are an
//! advertisement; 2 and 3 the same, but each line of the bytes is framed
//! as a pkt-line here and a flush appended, so the fuzzer works on the
//! lines rather than on the framing.
//! Checked: one answer per name asked, in order, naming it; a symbolic ref
//! has exactly one target, a valid ref name other than itself; in framed
//! mode the target is the `symref-target` the line listing the name gave;
//! an advertised object format is sha1 or sha256.
#![no_main]

use bytes::BytesMut;
use gitiam::server::backend::symrefs::{fuzz_parse_ls_refs, fuzz_parse_v2_advertisement};
use gitiam::shared::git::pktline;
use gitiam::shared::git::receive_pack::is_valid_ref_name;
use gitiam_fuzz::first_byte;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [
    "refs/heads/main",
    "refs/heads/alias",
    "refs/tags/v1",
    "refs/heads/feature/x",
];

/// Each line of `data` as a data pkt-line ending in LF, then a flush.
fn framed(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    for line in data.split(|b| *b == b'\n') {
        let mut l = line.to_vec();
        l.push(b'\n');
        pktline::write_data(&mut out, &l).ok()?;
    }
    pktline::write_flush(&mut out);
    Some(out.to_vec())
}

/// The `symref-target` the line listing `name` gives, if any.
fn listed_target<'a>(data: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(data).ok()?;
    text.split('\n').find_map(|line| {
        let mut fields = line.split(' ');
        fields.next()?;
        if fields.next()? != name {
            return None;
        }
        fields.find_map(|a| a.strip_prefix("symref-target:"))
    })
}

fn ls_refs(body: &[u8], lines: Option<&[u8]>) {
    let Ok(answer) = fuzz_parse_ls_refs(body, &NAMES) else {
        return;
    };
    assert_eq!(answer.len(), NAMES.len());
    for (t, name) in answer.iter().zip(NAMES) {
        assert_eq!(t.name, name);
        assert!(t.targets.len() <= 1);
        assert!(t.relatives.is_empty());
        if let Some(target) = t.targets.first() {
            assert!(is_valid_ref_name(target));
            assert_ne!(target, name);
        }
        if let Some(lines) = lines {
            let expected = listed_target(lines, name).filter(|t| *t != name);
            assert_eq!(t.targets.first().map(String::as_str), expected);
        }
    }
}

fn advertisement(body: &[u8]) {
    if let Ok(Some(format)) = fuzz_parse_v2_advertisement(body) {
        assert!(format == "sha1" || format == "sha256");
    }
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = first_byte(data);
    match mode % 4 {
        0 => ls_refs(rest, None),
        1 => advertisement(rest),
        2 => {
            if let Some(body) = framed(rest) {
                ls_refs(&body, Some(rest));
            }
        }
        _ => {
            if let Some(body) = framed(rest) {
                advertisement(&body);
            }
        }
    }
});
