//! The backend's answer to a push (`report-status` / `report-status-v2`),
//! read exactly as `git send-pack` reads it (`receive_status()` in
//! send-pack.c, through `recv_sideband()` when `side-band-64k` is on), so
//! gitiam learns which refs the backend really updated.
//!
//! ```text
//! [advertisement ... 0000]              (SSH only: receive-pack's ref list)
//! unpack ok | unpack <error>
//! ok <ref> | ng <ref> <reason>          (one per command)
//! option refname|old-oid|new-oid|forced-update ...   (v2, after an ok)
//! 0000
//! ```
//! With side-band-64k every pkt-line of the report travels as the payload
//! of band-1 packets (band 2 is progress, band 3 a fatal error), and the
//! side-band stream ends with a flush.
//!
//! The reader is a tap: it is fed copies of the response as it streams to
//! the client, never fails the stream, and keeps at most two maximal
//! pkt-lines of undecoded input per layer plus a bounded number of
//! statuses. Anything git would call a protocol error stops it; what was
//! read before stays (git keeps the statuses it read, too).

use bytes::Bytes;

use super::pktline::{MAX_PKT_LEN, Packet, PktReader};

/// Most ref statuses kept (receive-pack reports one per command; a
/// `proc-receive` hook may report several).
pub const MAX_STATUSES: usize = 100_000;

/// One `ok` or `ng` line and the `option` lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefStatus {
    /// The ref as reported.
    pub name: String,
    /// `ok` (true) or `ng` (false).
    pub ok: bool,
    /// The text after the ref name (`ng`'s reason).
    pub message: Option<String>,
    /// `option` lines after an `ok` (report-status-v2).
    pub report: Option<OptionReport>,
}

/// The v2 options of one `ok` line (a `proc-receive` hook may say it
/// updated another ref, or report one ref several times, one `ok` each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionReport {
    /// `option refname <ref>`: the ref really updated.
    pub ref_name: Option<String>,
    /// `option old-oid <oid>`.
    pub old_oid: Option<String>,
    /// `option new-oid <oid>`.
    pub new_oid: Option<String>,
    /// `option forced-update`.
    pub forced_update: bool,
}

/// What the tap learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The first line was `unpack ok`.
    pub unpack_ok: bool,
    /// Ref statuses in order.
    pub statuses: Vec<RefStatus>,
    /// The report ended with its flush.
    pub complete: bool,
    /// Why reading stopped early (a protocol error as git would call it).
    pub error: Option<String>,
}

impl PushReport {
    /// The refs the backend says it updated (`ok` lines), only when the
    /// pack was unpacked: `(reported ref, v2 options)`, empty options for
    /// an `ok` without `option` lines.
    pub fn updated(&self) -> Vec<(&str, OptionReport)> {
        if !self.unpack_ok {
            return Vec::new();
        }
        self.statuses
            .iter()
            .filter(|s| s.ok)
            .map(|s| (s.name.as_str(), s.report.clone().unwrap_or_default()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Skipping receive-pack's ref advertisement (up to its flush).
    Advertisement,
    /// Expecting `unpack ...`.
    Unpack,
    /// Ref statuses until the flush.
    Refs,
    /// Finished or stopped: input is ignored.
    Done,
}

/// Incremental reader of a push's response.
#[derive(Debug)]
pub struct ReportReader {
    stage: Stage,
    sideband: bool,
    /// The side-band layer (or the report itself without side-band).
    outer: PktReader,
    /// The report inside band 1.
    inner: PktReader,
    report: PushReport,
    /// The last status line was an `ok` (v2 options may follow).
    after_ok: bool,
}

const CAP: usize = 2 * MAX_PKT_LEN;

impl ReportReader {
    /// A reader for a response sent with or without `side-band-64k`;
    /// `advertisement` when the response starts with receive-pack's ref
    /// advertisement (SSH, git://), not when it is a smart-HTTP RPC answer.
    pub fn new(sideband: bool, advertisement: bool) -> Self {
        Self {
            stage: if advertisement {
                Stage::Advertisement
            } else {
                Stage::Unpack
            },
            sideband,
            outer: PktReader::new(CAP),
            inner: PktReader::new(CAP),
            report: PushReport::default(),
            after_ok: false,
        }
    }

    /// Sets whether the report comes in side-band (SSH: learned from the
    /// client's commands, which receive-pack reads before it reports).
    pub fn set_sideband(&mut self, sideband: bool) {
        self.sideband = sideband;
    }

    /// True once nothing more will be read.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Feeds the next bytes of the response.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.stage != Stage::Done {
            // After every packet is taken out less than one packet stays
            // pending, so at least MAX_PKT_LEN bytes always fit.
            let room = CAP.saturating_sub(self.outer.pending().len()).max(1);
            let (now, rest) = chunk.split_at(room.min(chunk.len()));
            chunk = rest;
            if self.outer.feed(now).is_err() {
                return self.stop("response buffer full");
            }
            self.drain_outer();
        }
    }

    /// What was read.
    pub fn finish(self) -> PushReport {
        self.report
    }

    fn stop(&mut self, why: &str) {
        if self.report.error.is_none() && !self.report.complete {
            self.report.error = Some(why.to_owned());
        }
        self.stage = Stage::Done;
    }

    fn drain_outer(&mut self) {
        while self.stage != Stage::Done {
            let packet = match self.outer.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return,
                Err(e) => return self.stop(&e.to_string()),
            };
            if self.stage == Stage::Advertisement {
                // The advertisement is never in side-band.
                if packet == Packet::Flush {
                    self.stage = Stage::Unpack;
                }
                continue;
            }
            if !self.sideband {
                self.line(packet);
                continue;
            }
            match packet {
                // recv_sideband: a flush ends the side-band stream.
                Packet::Flush => return self.stop("side-band ended before the report"),
                Packet::Data(data) => self.band(&data),
                Packet::Delim | Packet::ResponseEnd => {
                    return self.stop("protocol error: unexpected special packet in side-band");
                }
            }
        }
    }

    fn band(&mut self, data: &Bytes) {
        match data.first() {
            // demultiplex_sideband: "no sideband?"
            None => self.stop("protocol error: no sideband"),
            Some(1) => {
                let payload = data.get(1..).unwrap_or_default();
                if self.inner.feed(payload).is_err() {
                    return self.stop("report buffer full");
                }
                while self.stage != Stage::Done {
                    match self.inner.next_packet() {
                        Ok(Some(p)) => self.line(p),
                        Ok(None) => return,
                        Err(e) => return self.stop(&e.to_string()),
                    }
                }
            }
            Some(2) => {}
            Some(3) => self.stop("remote error on side-band 3"),
            Some(b) => {
                let b = *b;
                self.stop(&format!("protocol error: bad band #{b}"))
            }
        }
    }

    /// One pkt-line of the report itself.
    fn line(&mut self, packet: Packet) {
        let data = match packet {
            Packet::Data(d) => d,
            Packet::Flush if self.stage == Stage::Refs => {
                self.report.complete = true;
                self.stage = Stage::Done;
                return;
            }
            // packet_reader_read != PACKET_READ_NORMAL.
            _ if self.stage == Stage::Unpack => {
                return self.stop("unexpected flush packet while reading remote unpack status");
            }
            _ => {
                self.stage = Stage::Done;
                return;
            }
        };
        // PACKET_READ_CHOMP_NEWLINE, then C-string semantics.
        let data = data.strip_suffix(b"\n").unwrap_or(&data);
        let data = match data.iter().position(|b| *b == 0) {
            Some(i) => data.get(..i).unwrap_or_default(),
            None => data,
        };
        let text = String::from_utf8_lossy(data);
        if self.stage == Stage::Unpack {
            let Some(status) = text.strip_prefix("unpack ") else {
                return self.stop("unable to parse remote unpack status");
            };
            // receive_unpack_status fails, but receive_status goes on
            // reading the refs.
            self.report.unpack_ok = status == "ok";
            self.stage = Stage::Refs;
            return;
        }
        let Some((head, rest)) = text.split_once(' ') else {
            return self.stop("invalid status line from remote");
        };
        if head == "option" {
            if !self.after_ok {
                // "'option' without a matching 'ok/ng' directive": an
                // error, but git reads on.
                self.report
                    .error
                    .get_or_insert_with(|| "option without ok".to_owned());
                return;
            }
            let Some(status) = self.report.statuses.last_mut() else {
                return;
            };
            let report = status.report.get_or_insert_with(OptionReport::default);
            let (key, val) = match rest.split_once(' ') {
                Some((k, v)) => (k, Some(v)),
                None => (rest, None),
            };
            match (key, val) {
                ("refname", v) => report.ref_name = v.map(str::to_owned),
                ("old-oid", Some(v)) if is_oid(v) => report.old_oid = Some(v.to_ascii_lowercase()),
                ("new-oid", Some(v)) if is_oid(v) => report.new_oid = Some(v.to_ascii_lowercase()),
                ("forced-update", _) => report.forced_update = true,
                _ => {}
            }
            return;
        }
        self.after_ok = false;
        let ok = match head {
            "ok" => true,
            "ng" => false,
            _ => return self.stop("invalid ref status from remote"),
        };
        let (name, message) = match rest.split_once(' ') {
            Some((n, m)) => (n, Some(m.to_owned())),
            None => (rest, None),
        };
        if self.report.statuses.len() >= MAX_STATUSES {
            return self.stop("too many ref statuses");
        }
        self.report.statuses.push(RefStatus {
            name: name.to_owned(),
            ok,
            message,
            report: None,
        });
        self.after_ok = ok;
    }
}

/// `parse_oid_hex_algop`: a full sha1 or sha256 hex name (what follows
/// is ignored by git; here it must be nothing).
fn is_oid(v: &str) -> bool {
    matches!(v.len(), 40 | 64) && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a whole response at once (tests, fuzzing).
pub fn read_report(response: &[u8], sideband: bool, advertisement: bool) -> PushReport {
    let mut r = ReportReader::new(sideband, advertisement);
    r.feed(response);
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::git::pktline;
    use bytes::BytesMut;

    fn report(lines: &[&str]) -> BytesMut {
        let mut b = BytesMut::new();
        for l in lines {
            pktline::write_data(&mut b, format!("{l}\n").as_bytes()).unwrap();
        }
        pktline::write_flush(&mut b);
        b
    }

    fn sideband(inner: &[u8], chunk: usize) -> BytesMut {
        let mut out = BytesMut::new();
        pktline::write_data(&mut out, b"\x02progress\n").unwrap();
        pktline::write_data(&mut out, b"\x01").unwrap(); // keepalive
        for c in inner.chunks(chunk) {
            let mut p = vec![1u8];
            p.extend_from_slice(c);
            pktline::write_data(&mut out, &p).unwrap();
        }
        pktline::write_flush(&mut out);
        out
    }

    #[test]
    fn plain() {
        let r = read_report(
            &report(&[
                "unpack ok",
                "ok refs/heads/a",
                "ng refs/heads/b non-fast-forward",
            ]),
            false,
            false,
        );
        assert!(r.unpack_ok && r.complete && r.error.is_none());
        let updated: Vec<&str> = r.updated().into_iter().map(|(n, _)| n).collect();
        assert_eq!(updated, ["refs/heads/a"]);
        assert_eq!(r.statuses[1].message.as_deref(), Some("non-fast-forward"));
    }

    #[test]
    fn sideband_split_anywhere_and_fed_bytewise() {
        let inner = report(&["unpack ok", "ok refs/heads/a", "ok refs/tags/v1"]);
        for chunk in [1, 3, 7, 100] {
            let outer = sideband(&inner, chunk);
            let mut reader = ReportReader::new(true, false);
            for b in outer.chunks(5) {
                reader.feed(b);
            }
            let r = reader.finish();
            assert!(r.complete, "chunk {chunk}");
            assert_eq!(r.updated().len(), 2);
        }
    }

    #[test]
    fn advertisement_is_skipped() {
        let mut all =
            report(&["0000000000000000000000000000000000000000 capabilities^{}\0report-status"]);
        all.extend_from_slice(&report(&["unpack ok", "ok refs/heads/main"]));
        let r = read_report(&all, false, true);
        assert_eq!(r.updated().len(), 1);
    }

    #[test]
    fn unpack_failure_updates_nothing() {
        let r = read_report(
            &report(&["unpack index-pack abnormal exit", "ok refs/heads/a"]),
            false,
            false,
        );
        assert!(!r.unpack_ok);
        assert!(r.updated().is_empty());
    }

    #[test]
    fn v2_options() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let r = read_report(
            &report(&[
                "unpack ok",
                "ok refs/for/main",
                "option refname refs/changes/1",
                &format!("option old-oid {a}"),
                &format!("option new-oid {b}"),
                "ok refs/for/main",
                "option refname refs/changes/2",
                "ok refs/heads/x",
            ]),
            false,
            false,
        );
        let u = r.updated();
        assert_eq!(u.len(), 3);
        assert_eq!(u[0].1.ref_name.as_deref(), Some("refs/changes/1"));
        assert_eq!(u[0].1.new_oid.as_deref(), Some(b.as_str()));
        assert_eq!(u[1].1.ref_name.as_deref(), Some("refs/changes/2"));
        assert_eq!(u[2].0, "refs/heads/x");
    }

    #[test]
    fn garbage_stops_without_panicking() {
        for input in [&b"zzzz"[..], b"0003", b"0006\x05x", b"0005\x03"] {
            let r = read_report(input, true, false);
            assert!(r.updated().is_empty());
        }
        let r = read_report(&report(&["bogus"]), false, false);
        assert!(r.error.is_some());
    }
}
