//! The backend's answer to a push (`shared::git::report_status`): what
//! `git http-backend`, an upstream smart-HTTP server or `git receive-pack`
//! over SSH streams back, read by the push-event tap.
//!
//! Modes (first byte): bit 0 side-band-64k, bit 1 starts with a ref
//! advertisement. Checks: fed in arbitrary chunks the reader agrees with
//! one whole feed; `ok` refs are reported only after `unpack ok`; every
//! status came from a line of the input (never more statuses than
//! pkt-lines).
#![no_main]

use gitiam::shared::git::{ReportReader, read_report};
use gitiam_fuzz::first_byte;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = first_byte(data);
    let sideband = mode & 1 != 0;
    let advertisement = mode & 2 != 0;
    let whole = read_report(rest, sideband, advertisement);
    let step = usize::from(mode >> 2).max(1);
    let mut reader = ReportReader::new(sideband, advertisement);
    for chunk in rest.chunks(step) {
        reader.feed(chunk);
    }
    let chunked = reader.finish();
    assert_eq!(whole, chunked, "chunked feed disagrees");
    if !whole.unpack_ok {
        assert!(whole.updated().is_empty());
    }
    assert!(whole.statuses.len() <= rest.len() / 4);
});
