//! The receive-pack command section (`parse_command_section`) and the
//! streaming inspector the proxy runs on request bodies
//! (`inspect_receive_pack`).
//!
//! Checked: the parser never reads past the section (the same bytes alone
//! give the same answer, one byte less is refused); a parsed section
//! written back canonically parses to the same request; the inspector, fed
//! the body in chunks, agrees with the parser (accepting exactly when a
//! `PACK` follows a section that needs one, or nothing follows one that
//! does not) and replays every byte it read, in order, followed by the rest.
#![no_main]

use std::collections::VecDeque;

use bytes::BytesMut;
use gitiam::shared::git::pktline;
use gitiam::shared::git::{
    InspectLimits, PushRequest, ReceivePackError, inspect_receive_pack, parse_command_section,
};
use gitiam_fuzz::{ChunkBody, block_on, chunk_sizes, chunks, first_byte};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;

/// The request as a Git client would send it: shallow lines, the commands
/// (every capability on the first, each line ending in LF), a flush, then
/// the push options and a flush when receive-pack reads them.
fn write_back(req: &PushRequest) -> Vec<u8> {
    let mut out = BytesMut::new();
    let mut line = |text: Vec<u8>| pktline::write_data(&mut out, &text).expect("line fits");
    for s in &req.shallow {
        line(format!("shallow {s}\n").into_bytes());
    }
    for (i, c) in req.commands.iter().enumerate() {
        let mut text = format!("{} {} {}", c.old, c.new, c.name).into_bytes();
        if i == 0 {
            text.push(0);
            let caps: Vec<&str> = req.capabilities.iter().collect();
            text.extend_from_slice(caps.join(" ").as_bytes());
        }
        text.push(b'\n');
        line(text);
    }
    pktline::write_flush(&mut out);
    if !req.commands.is_empty() && req.capabilities.push_options() {
        for o in &req.push_options {
            pktline::write_data(&mut out, format!("{o}\n").as_bytes()).expect("option fits");
        }
        pktline::write_flush(&mut out);
    }
    out.to_vec()
}

fn check_parse(body: &[u8]) -> Result<(PushRequest, usize), ReceivePackError> {
    let parsed = parse_command_section(body);
    if let Ok((req, used)) = &parsed {
        let used = *used;
        assert!(used >= 4 && used <= body.len());
        // Nothing past the section is looked at ...
        assert_eq!(
            parse_command_section(&body[..used]).as_ref(),
            Ok(&(req.clone(), used))
        );
        // ... and all of it is needed.
        assert!(parse_command_section(&body[..used - 1]).is_err());
        assert_eq!(req.is_probe, req.commands.is_empty());
        for c in &req.commands {
            assert_eq!(c.old.as_str().len(), req.object_format.hex_len());
            assert_eq!(c.new.as_str().len(), req.object_format.hex_len());
            assert!(gitiam::shared::git::receive_pack::is_valid_ref_name(
                &c.name
            ));
        }
        if !req.signed {
            let wire = write_back(req);
            let (again, again_used) =
                parse_command_section(&wire).expect("a written-back section parses");
            assert_eq!(again_used, wire.len());
            assert_eq!(&again, req, "written back, the section parses differently");
        }
    }
    parsed
}

fuzz_target!(|data: &[u8]| {
    let (selector, body) = first_byte(data);
    let parsed = check_parse(body);

    let chunked = ChunkBody(VecDeque::from(chunks(body, &chunk_sizes(selector))));
    let inspected = block_on(async {
        match inspect_receive_pack(chunked, InspectLimits::default()).await {
            Ok((push, replay)) => {
                let replayed = replay.collect().await.expect("infallible body").to_bytes();
                Ok((push, replayed))
            }
            Err(e) => Err(e),
        }
    });
    match (&parsed, &inspected) {
        (Ok((req, used)), _) => {
            let rest = &body[*used..];
            let should_accept = if req.expects_pack() {
                rest.starts_with(b"PACK")
            } else {
                rest.is_empty()
            };
            match &inspected {
                Ok((push, replayed)) => {
                    assert!(should_accept, "inspector accepted what should be refused");
                    assert_eq!(push, req);
                    assert_eq!(&replayed[..], body, "the replay lost or changed bytes");
                }
                Err(e) => assert!(!should_accept, "inspector refused a good body: {e}"),
            }
        }
        (Err(_), Ok((push, _))) => panic!("inspector accepted {push:?}, parser refused"),
        (Err(_), Err(_)) => {}
    }
});
