//! pkt-line framing, read and written exactly as Git does (gitprotocol-common).
//!
//! A pkt-line is four hex digits giving the length of the whole line
//! (including those four bytes) followed by the payload. `0000` is a flush,
//! `0001` a delimiter and `0002` a response end (protocol v2); lengths 1-3
//! other than these, lengths above [`MAX_PKT_LEN`] and non-hex digits are
//! protocol errors. The decoder is incremental: it works on whatever prefix
//! of a streamed body has arrived and says when it needs more bytes, so the
//! proxy never has to buffer a whole request to read its first packets.

use bytes::{BufMut, Bytes, BytesMut};

/// Largest pkt-line Git writes, header included (`LARGE_PACKET_MAX`).
pub const MAX_PKT_LEN: usize = 65520;
/// Largest payload of one pkt-line (`LARGE_PACKET_DATA_MAX`).
pub const MAX_PKT_DATA: usize = MAX_PKT_LEN - 4;
/// Largest payload of one side-band-64k packet (one byte is the band).
pub const MAX_SIDEBAND_DATA: usize = MAX_PKT_DATA - 1;

/// Why a byte sequence is not a valid pkt-line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PktError {
    /// One of the four length bytes is not a hex digit.
    #[error("protocol error: bad line length character: {0:?}")]
    BadLengthCharacter(String),
    /// A length of 3 (or 1-3 where no special packet is defined).
    #[error("protocol error: bad line length {0}")]
    BadLength(usize),
    /// A length above [`MAX_PKT_LEN`].
    #[error("protocol error: pkt-line of {0} bytes exceeds the maximum of {MAX_PKT_LEN}")]
    TooLong(usize),
    /// A payload too large to be framed in one pkt-line.
    #[error("payload of {0} bytes does not fit in one pkt-line (max {MAX_PKT_DATA})")]
    PayloadTooLarge(usize),
}

/// One decoded packet. Data payloads are cheap slices of the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A data line (may be empty: `0004`).
    Data(Bytes),
    /// `0000`
    Flush,
    /// `0001` (protocol v2 section delimiter)
    Delim,
    /// `0002` (protocol v2 stateless response end)
    ResponseEnd,
}

impl Packet {
    /// Size of this packet on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            Packet::Data(d) => d.len() + 4,
            _ => 4,
        }
    }
}

fn hex_value(b: u8) -> Option<usize> {
    // Git's hexval table accepts both cases.
    match b {
        b'0'..=b'9' => Some(usize::from(b - b'0')),
        b'a'..=b'f' => Some(usize::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(usize::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Parses the four-byte length header.
pub fn parse_length(header: [u8; 4]) -> Result<usize, PktError> {
    let mut len = 0usize;
    for b in header {
        let v = hex_value(b).ok_or_else(|| bad_length_character(&header))?;
        len = (len << 4) | v;
    }
    Ok(len)
}

/// The error for a header holding a non-hex byte: it shows the header up to
/// and including the first bad byte, so that the error is the same whether
/// the header arrived whole or a byte at a time (a partial header is
/// refused as soon as a bad byte arrives).
fn bad_length_character(header: &[u8]) -> PktError {
    let end = header
        .iter()
        .position(|b| hex_value(*b).is_none())
        .map_or(header.len(), |i| i + 1);
    let shown = header.get(..end).unwrap_or(header);
    PktError::BadLengthCharacter(String::from_utf8_lossy(shown).into_owned())
}

/// What the header at the start of a buffer announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Flush,
    Delim,
    ResponseEnd,
    /// A data packet of this total length (header included).
    Data(usize),
}

fn decode_header(input: &[u8]) -> Result<Option<Header>, PktError> {
    let header = match input.get(..4) {
        Some(&[a, b, c, d]) => [a, b, c, d],
        _ => {
            // Reject a bad length character as soon as it arrives rather than
            // waiting for a fourth byte that may never come.
            if input.iter().any(|b| hex_value(*b).is_none()) {
                return Err(bad_length_character(input));
            }
            return Ok(None);
        }
    };
    Ok(Some(match parse_length(header)? {
        0 => Header::Flush,
        1 => Header::Delim,
        2 => Header::ResponseEnd,
        n @ 3 => return Err(PktError::BadLength(n)),
        n if n > MAX_PKT_LEN => return Err(PktError::TooLong(n)),
        n => Header::Data(n),
    }))
}

/// Decodes the first packet of `input`. `Ok(None)` means `input` is a valid
/// but incomplete prefix; more bytes are needed. On success returns the
/// packet and the number of bytes it occupied.
pub fn decode(input: &Bytes) -> Result<Option<(Packet, usize)>, PktError> {
    Ok(match decode_header(input)? {
        None => None,
        Some(Header::Flush) => Some((Packet::Flush, 4)),
        Some(Header::Delim) => Some((Packet::Delim, 4)),
        Some(Header::ResponseEnd) => Some((Packet::ResponseEnd, 4)),
        Some(Header::Data(n)) if input.len() < n => None,
        Some(Header::Data(n)) => Some((Packet::Data(input.slice(4..n)), n)),
    })
}

/// Incremental reader: feed it chunks as they arrive, take packets out.
/// It keeps at most `cap` bytes of undecoded input, so a peer cannot make it
/// buffer without bound.
#[derive(Debug)]
pub struct PktReader {
    buf: BytesMut,
    cap: usize,
    consumed: usize,
}

impl PktReader {
    /// A reader that buffers at most `cap` undecoded bytes (at least one
    /// maximal packet must fit, so smaller caps are raised to [`MAX_PKT_LEN`]).
    pub fn new(cap: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            cap: cap.max(MAX_PKT_LEN),
            consumed: 0,
        }
    }

    /// Appends received bytes. Fails when the undecoded backlog would exceed
    /// the cap.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ReaderFull> {
        if self.buf.len().saturating_add(chunk.len()) > self.cap {
            return Err(ReaderFull { cap: self.cap });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete packet, or `Ok(None)` when more input is needed.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, PktError> {
        let (packet, used) = match decode_header(&self.buf)? {
            None => return Ok(None),
            Some(Header::Flush) => (Packet::Flush, 4),
            Some(Header::Delim) => (Packet::Delim, 4),
            Some(Header::ResponseEnd) => (Packet::ResponseEnd, 4),
            Some(Header::Data(n)) if self.buf.len() < n => return Ok(None),
            Some(Header::Data(n)) => {
                let mut line = self.buf.split_to(n).freeze();
                self.consumed += n;
                return Ok(Some(Packet::Data(line.split_off(4))));
            }
        };
        let _ = self.buf.split_to(used);
        self.consumed += used;
        Ok(Some(packet))
    }

    /// Bytes received but not yet decoded.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Total bytes consumed by decoded packets so far.
    pub fn consumed(&self) -> usize {
        self.consumed
    }
}

/// The reader's buffer cap was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {cap} bytes of undecoded pkt-line input")]
pub struct ReaderFull {
    /// The cap in bytes.
    pub cap: usize,
}

/// Appends one data pkt-line.
pub fn write_data(out: &mut BytesMut, data: &[u8]) -> Result<(), PktError> {
    if data.len() > MAX_PKT_DATA {
        return Err(PktError::PayloadTooLarge(data.len()));
    }
    out.reserve(data.len() + 4);
    out.put_slice(format!("{:04x}", data.len() + 4).as_bytes());
    out.put_slice(data);
    Ok(())
}

/// Appends `0000`.
pub fn write_flush(out: &mut BytesMut) {
    out.put_slice(b"0000");
}

/// Appends `0001`.
pub fn write_delim(out: &mut BytesMut) {
    out.put_slice(b"0001");
}

/// Appends `0002`.
pub fn write_response_end(out: &mut BytesMut) {
    out.put_slice(b"0002");
}

/// Appends `data` on side-band `band` (1 = data, 2 = progress, 3 = error),
/// split into as many side-band-64k packets as needed.
pub fn write_sideband(out: &mut BytesMut, band: u8, data: &[u8]) {
    for chunk in data.chunks(MAX_SIDEBAND_DATA) {
        out.reserve(chunk.len() + 5);
        out.put_slice(format!("{:04x}", chunk.len() + 5).as_bytes());
        out.put_u8(band);
        out.put_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &'static [u8]) -> Result<Option<(Packet, usize)>, PktError> {
        decode(&Bytes::from_static(input))
    }

    #[test]
    fn special_packets() {
        assert_eq!(one(b"0000").unwrap(), Some((Packet::Flush, 4)));
        assert_eq!(one(b"0001").unwrap(), Some((Packet::Delim, 4)));
        assert_eq!(one(b"0002").unwrap(), Some((Packet::ResponseEnd, 4)));
        assert_eq!(one(b"0003"), Err(PktError::BadLength(3)));
    }

    #[test]
    fn data_packets() {
        assert_eq!(one(b"0004").unwrap(), Some((Packet::Data(Bytes::new()), 4)));
        assert_eq!(
            one(b"0009hello0000").unwrap(),
            Some((Packet::Data(Bytes::from_static(b"hello")), 9))
        );
        assert_eq!(
            one(b"000AHELLO!").unwrap(),
            Some((Packet::Data(Bytes::from_static(b"HELLO!")), 10))
        );
    }

    #[test]
    fn incomplete_prefixes_need_more() {
        assert_eq!(one(b"").unwrap(), None);
        assert_eq!(one(b"00").unwrap(), None);
        assert_eq!(one(b"0009hell").unwrap(), None);
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(one(b"00g0"), Err(PktError::BadLengthCharacter(_))));
        assert!(matches!(one(b"x"), Err(PktError::BadLengthCharacter(_))));
        assert!(matches!(one(b" 004"), Err(PktError::BadLengthCharacter(_))));
        // The same error whole or cut short (found by the push_report fuzz
        // target: the error text depended on how the input was chunked).
        assert_eq!(
            one(b"\n001"),
            Err(PktError::BadLengthCharacter("\n".into()))
        );
        assert_eq!(one(b"\n"), Err(PktError::BadLengthCharacter("\n".into())));
        assert_eq!(
            one(b"00g0"),
            Err(PktError::BadLengthCharacter("00g".into()))
        );
        assert_eq!(one(b"fff1"), Err(PktError::TooLong(0xfff1)));
        assert_eq!(one(b"ffff"), Err(PktError::TooLong(0xffff)));
    }

    #[test]
    fn max_length_is_accepted() {
        let mut buf = BytesMut::new();
        write_data(&mut buf, &vec![b'a'; MAX_PKT_DATA]).unwrap();
        assert_eq!(&buf[..4], b"fff0");
        let (p, used) = decode(&buf.freeze()).unwrap().unwrap();
        assert_eq!(used, MAX_PKT_LEN);
        assert_eq!(p.wire_len(), MAX_PKT_LEN);
        let mut buf = BytesMut::new();
        assert_eq!(
            write_data(&mut buf, &vec![b'a'; MAX_PKT_DATA + 1]),
            Err(PktError::PayloadTooLarge(MAX_PKT_DATA + 1))
        );
    }

    #[test]
    fn reader_is_incremental() {
        let mut r = PktReader::new(1 << 20);
        let wire = b"0009hello0000000ahello\n";
        for b in wire.iter() {
            r.feed(&[*b]).unwrap();
        }
        assert_eq!(
            r.next_packet().unwrap(),
            Some(Packet::Data(Bytes::from_static(b"hello")))
        );
        assert_eq!(r.next_packet().unwrap(), Some(Packet::Flush));
        assert_eq!(
            r.next_packet().unwrap(),
            Some(Packet::Data(Bytes::from_static(b"hello\n")))
        );
        assert_eq!(r.next_packet().unwrap(), None);
        assert_eq!(r.consumed(), wire.len());
    }

    #[test]
    fn reader_cap() {
        let mut r = PktReader::new(0);
        assert!(r.feed(&vec![b'0'; MAX_PKT_LEN]).is_ok());
        assert!(r.feed(b"0").is_err());
    }

    #[test]
    fn sideband_splits() {
        let mut out = BytesMut::new();
        write_sideband(&mut out, 1, &vec![b'x'; MAX_SIDEBAND_DATA + 10]);
        let mut r = PktReader::new(1 << 20);
        r.feed(&out).unwrap();
        let Some(Packet::Data(a)) = r.next_packet().unwrap() else {
            panic!()
        };
        let Some(Packet::Data(b)) = r.next_packet().unwrap() else {
            panic!()
        };
        assert_eq!(a.len(), MAX_PKT_DATA);
        assert_eq!(a[0], 1);
        assert_eq!(b.len(), 11);
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..20)) {
            let mut out = BytesMut::new();
            for p in &payloads { write_data(&mut out, p).unwrap(); }
            write_flush(&mut out);
            let mut r = PktReader::new(1 << 20);
            r.feed(&out).unwrap();
            for p in &payloads {
                proptest::prop_assert_eq!(r.next_packet().unwrap(), Some(Packet::Data(Bytes::from(p.clone()))));
            }
            proptest::prop_assert_eq!(r.next_packet().unwrap(), Some(Packet::Flush));
        }
    }
}
