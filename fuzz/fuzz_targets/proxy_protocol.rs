//! The PROXY protocol header a load balancer sends first on a connection
//! (`gitiam::server::proxy_protocol`: `read_header` from the socket, then
//! `parse`).
//!
//! Input: the first bytes of a connection.
//! Checked: `read_header` returns a prefix of the input and stops at the
//! header's end (LF for v1, the advertised length for v2), never reading
//! beyond it; `parse` of that prefix plus any further byte fails (nothing
//! may follow a header in what is parsed); an accepted v1 or v2 header is
//! at most 107 or 16 + 1024 bytes long; a proxied source written back as a
//! canonical v1 line parses to the same address.
#![no_main]

use gitiam::server::proxy_protocol::{Client, MAX_V2_PAYLOAD, parse, read_header};
use gitiam_fuzz::block_on;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let direct = parse(data);
    let mut reader = data;
    let Ok(header) = block_on(read_header(&mut reader)) else {
        assert!(
            direct.is_err() || data.len() > 107,
            "a header read_header cannot read parsed: {data:?}"
        );
        return;
    };
    assert!(data.starts_with(&header), "read_header made up bytes");
    assert_eq!(
        reader.len(),
        data.len() - header.len(),
        "read past the header"
    );
    let parsed = parse(&header);
    if data.len() > header.len() {
        assert!(direct.is_err(), "bytes after a header were accepted");
    } else {
        assert_eq!(format!("{direct:?}"), format!("{parsed:?}"));
    }
    let Ok(client) = parsed else {
        return;
    };
    if header.starts_with(b"PROXY ") {
        assert!(header.len() <= 107 && header.ends_with(b"\r\n"));
    } else {
        assert!(header.len() <= 16 + MAX_V2_PAYLOAD);
    }
    if let Client::Proxied(addr) = client {
        let line = match addr {
            std::net::SocketAddr::V4(a) => {
                format!("PROXY TCP4 {} 0.0.0.0 {} 0\r\n", a.ip(), a.port())
            }
            std::net::SocketAddr::V6(a) => format!("PROXY TCP6 {} :: {} 0\r\n", a.ip(), a.port()),
        };
        let again = parse(line.as_bytes()).expect("the canonical v1 line parses");
        assert_eq!(again, Client::Proxied(addr), "{line:?}");
    }
});
