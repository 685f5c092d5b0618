//! pkt-line framing (`gitiam::shared::git::pktline`): the one-shot decoder
//! and the incremental reader, fed the same bytes in chunks, must agree
//! packet for packet; what they decode, written back, decodes the same and
//! takes the same number of bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use gitiam::shared::git::pktline::{self, Packet, PktReader};
use gitiam_fuzz::{chunk_sizes, chunks, first_byte};
use libfuzzer_sys::fuzz_target;

/// Packets `decode` finds from the start of `input`, then how it stopped:
/// `Ok(rest)` when it needs more bytes (`rest` undecoded), `Err` on a
/// framing error.
fn decode_all(input: &Bytes) -> (Vec<Packet>, Result<usize, pktline::PktError>) {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let rest = input.slice(offset..);
        match pktline::decode(&rest) {
            Ok(Some((packet, used))) => {
                assert_eq!(used, packet.wire_len());
                assert!(used >= 4 && used <= rest.len());
                offset += used;
                out.push(packet);
            }
            Ok(None) => return (out, Ok(rest.len())),
            Err(e) => return (out, Err(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (selector, body) = first_byte(data);
    let input = Bytes::copy_from_slice(body);
    let (packets, end) = decode_all(&input);

    // The incremental reader, fed in chunks, draining after each.
    let mut reader = PktReader::new(1 << 20);
    let mut streamed = Vec::new();
    let mut error = None;
    'feed: for chunk in chunks(body, &chunk_sizes(selector)) {
        reader.feed(&chunk).expect("backlog stays under the cap");
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => streamed.push(p),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(streamed, packets, "reader and decoder disagree");
    match (&end, &error) {
        (Ok(rest), None) => {
            assert_eq!(reader.pending().len(), *rest);
            assert_eq!(reader.consumed() + rest, body.len());
        }
        (Err(a), Some(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "different framing errors"
        ),
        _ => panic!("decoder ended with {end:?}, reader with {error:?}"),
    }

    // Written back (lowercase hex), the packets decode the same.
    let mut out = BytesMut::new();
    for p in &packets {
        match p {
            Packet::Data(d) => pktline::write_data(&mut out, d).expect("decoded payload fits"),
            Packet::Flush => pktline::write_flush(&mut out),
            Packet::Delim => pktline::write_delim(&mut out),
            Packet::ResponseEnd => pktline::write_response_end(&mut out),
        }
    }
    let written = out.freeze();
    let consumed: usize = packets.iter().map(Packet::wire_len).sum();
    assert_eq!(written.len(), consumed);
    assert!(written.eq_ignore_ascii_case(&body[..consumed]));
    let (again, end_again) = decode_all(&written);
    assert_eq!(again, packets);
    assert_eq!(end_again, Ok(0));

    // Side-band framing of the payload splits and reassembles it.
    let mut sideband = BytesMut::new();
    pktline::write_sideband(&mut sideband, 2, body);
    let (bands, end_bands) = decode_all(&sideband.freeze());
    assert_eq!(end_bands, Ok(0));
    let mut joined = Vec::new();
    for p in bands {
        let Packet::Data(d) = p else {
            panic!("side-band writes data packets only")
        };
        assert_eq!(d.first(), Some(&2));
        joined.extend_from_slice(&d[1..]);
    }
    assert_eq!(joined, body);
});
