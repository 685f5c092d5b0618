//! The command section of a `git-receive-pack` request, read exactly as
//! `builtin/receive-pack.c` (`read_head_info`, `queue_command`,
//! `read_push_options`) reads it, so the proxy authorizes the very ref
//! updates the backend will apply.
//!
//! Wire format (gitprotocol-pack, "Reference Update Request"):
//! ```text
//! shallow <oid>                          (zero or more)
//! <old> SP <new> SP <ref> NUL <caps>     (first command)
//! <old> SP <new> SP <ref>                (more commands)
//!   or: push-cert NUL <caps> / certificate lines / push-cert-end
//! 0000
//! <push option>...  0000                 (only with the push-options capability)
//! PACK...                                (unless every command is a delete)
//! ```
//! The parser is a state machine fed one [`Packet`] at a time, so it works on
//! a streamed body; [`parse_command_section`] runs it over a complete buffer.
//! Where Git would tolerate something no Git client ever sends (a delim
//! packet ending the command list, trailing bytes after a shallow oid,
//! unsigned commands next to a push certificate) this reader refuses: the
//! proxy must never pass what it did not fully understand.

use bytes::Bytes;

use super::pktline::{self, Packet};

/// Why a command section was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceivePackError {
    /// The pkt-line framing itself is broken.
    #[error(transparent)]
    Pkt(#[from] pktline::PktError),
    /// The body ended before the command section was complete.
    #[error("request body ended inside the command section")]
    Truncated,
    /// A packet Git never sends in this position (delim, response-end).
    #[error("protocol error: unexpected {0} packet in the command section")]
    UnexpectedPacket(&'static str),
    /// The client sent an `ERR` packet.
    #[error("client sent an error packet")]
    ErrPacket,
    /// A command line that is not `<old> SP <new> SP <ref>`.
    #[error("protocol error: expected old/new/ref, got {0:?}")]
    BadCommand(String),
    /// A `shallow` line whose oid does not parse.
    #[error("protocol error: expected shallow sha, got {0:?}")]
    BadShallow(String),
    /// A ref name Git would refuse (`check_refname_format`) or that is not UTF-8.
    #[error("invalid ref name {0:?}")]
    BadRefName(String),
    /// An `object-format` other than sha1 or sha256.
    #[error("unsupported object format {0:?}")]
    UnsupportedObjectFormat(String),
    /// A second push certificate, or a certificate mixed with unsigned commands.
    #[error("protocol error: unexpected push certificate")]
    UnexpectedCertificate,
    /// A push certificate without the blank line separating header and commands.
    #[error("malformed push certificate")]
    MalformedCertificate,
    /// A push option that is not UTF-8 text.
    #[error("push option is not valid UTF-8")]
    BadPushOption,
    /// Packets after the end of the section.
    #[error("protocol error: data after the end of the command section")]
    TrailingData,
}

/// The hash function naming objects in this push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectFormat {
    /// 40 hex digits (default).
    Sha1,
    /// 64 hex digits (`object-format=sha256`).
    Sha256,
}

impl ObjectFormat {
    /// Number of hex digits in an object name.
    pub fn hex_len(self) -> usize {
        match self {
            ObjectFormat::Sha1 => 40,
            ObjectFormat::Sha256 => 64,
        }
    }

    /// Name as used in the `object-format` capability.
    pub fn name(self) -> &'static str {
        match self {
            ObjectFormat::Sha1 => "sha1",
            ObjectFormat::Sha256 => "sha256",
        }
    }
}

/// An object name in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId(String);

impl ObjectId {
    /// Parses exactly `format.hex_len()` hex digits at the start of `s` (as
    /// Git's `parse_oid_hex`, either case) and returns the rest.
    fn parse_prefix(s: &[u8], format: ObjectFormat) -> Option<(ObjectId, &[u8])> {
        let n = format.hex_len();
        let hex = s.get(..n)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let id = String::from_utf8_lossy(hex).to_ascii_lowercase();
        Some((ObjectId(id), s.get(n..).unwrap_or_default()))
    }

    /// Parses a complete object name.
    pub fn parse(s: &str, format: ObjectFormat) -> Option<ObjectId> {
        match Self::parse_prefix(s.as_bytes(), format) {
            Some((id, [])) => Some(id),
            _ => None,
        }
    }

    /// The all-zero name: "no object" (create's old, delete's new).
    pub fn is_zero(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }

    /// Lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a ref update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefUpdateKind {
    /// Old oid is zero.
    Create,
    /// New oid is zero.
    Delete,
    /// Both set.
    Update,
}

/// One `<old> <new> <ref>` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    /// Value the client believes the ref has (zero: does not exist).
    pub old: ObjectId,
    /// Value to set (zero: delete).
    pub new: ObjectId,
    /// Full ref name, e.g. `refs/heads/main`.
    pub name: String,
}

impl RefUpdate {
    /// Create, delete or update.
    pub fn kind(&self) -> RefUpdateKind {
        if self.new.is_zero() {
            RefUpdateKind::Delete
        } else if self.old.is_zero() {
            RefUpdateKind::Create
        } else {
            RefUpdateKind::Update
        }
    }
}

/// The capability list the client sent after the NUL of its first command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(Vec<String>);

impl Capabilities {
    /// Parses a space-separated list (git's own list starts with a space).
    pub fn parse(list: &str) -> Self {
        Capabilities(
            list.split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn extend(&mut self, other: Capabilities) {
        self.0.extend(other.0);
    }

    /// True when the bare capability `name` (not `name=...`) was requested.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c == name)
    }

    /// Value of `name=value`, first occurrence.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find_map(|c| c.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    /// All capabilities in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// `report-status` was requested.
    pub fn report_status(&self) -> bool {
        self.has("report-status")
    }

    /// `report-status-v2` was requested.
    pub fn report_status_v2(&self) -> bool {
        self.has("report-status-v2")
    }

    /// `side-band-64k` was requested.
    pub fn side_band_64k(&self) -> bool {
        self.has("side-band-64k")
    }

    /// `push-options` was requested (options follow the command list).
    pub fn push_options(&self) -> bool {
        self.has("push-options")
    }

    /// `atomic` was requested.
    pub fn atomic(&self) -> bool {
        self.has("atomic")
    }

    /// The object format the client announced (sha1 when absent).
    pub fn object_format(&self) -> Result<ObjectFormat, ReceivePackError> {
        match self.value("object-format") {
            None | Some("sha1") => Ok(ObjectFormat::Sha1),
            Some("sha256") => Ok(ObjectFormat::Sha256),
            Some(other) => Err(ReceivePackError::UnsupportedObjectFormat(other.to_owned())),
        }
    }
}

/// Everything in a receive-pack request before the pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// Ref updates, in order (from the push certificate for a signed push).
    pub commands: Vec<RefUpdate>,
    /// Capabilities requested by the client.
    pub capabilities: Capabilities,
    /// `git push -o` values (empty without the push-options capability).
    pub push_options: Vec<String>,
    /// `shallow` lines (the client's shallow boundary).
    pub shallow: Vec<ObjectId>,
    /// Object format of every oid above.
    pub object_format: ObjectFormat,
    /// The commands came from a push certificate (`git push --signed`).
    pub signed: bool,
    /// No commands at all: the `0000` probe git sends before a large chunked
    /// push (receive-pack does nothing for it).
    pub is_probe: bool,
}

impl PushRequest {
    /// True when a pack follows the command section (any non-delete).
    pub fn expects_pack(&self) -> bool {
        self.commands
            .iter()
            .any(|c| c.kind() != RefUpdateKind::Delete)
    }
}

/// Result of feeding one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More packets are needed.
    NeedMore,
    /// The section is complete; call [`CommandSectionParser::finish`].
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Commands,
    Certificate,
    PushOptions,
    Done,
}

/// Incremental reader of the command section.
#[derive(Debug)]
pub struct CommandSectionParser {
    state: State,
    capabilities: Capabilities,
    saw_capabilities: bool,
    shallow: Vec<Bytes>,
    commands: Vec<Bytes>,
    certificate: Option<Vec<u8>>,
    push_options: Vec<String>,
}

impl Default for CommandSectionParser {
    fn default() -> Self {
        Self::new()
    }
}

/// `PACKET_READ_CHOMP_NEWLINE`: drop one trailing LF.
fn chomp(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// Git handles lines as C strings: everything from a NUL on is invisible
/// except the capability list of a command line.
fn split_nul(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    match line.iter().position(|b| *b == 0) {
        Some(i) => (line.get(..i).unwrap_or_default(), line.get(i + 1..)),
        None => (line, None),
    }
}

/// Client bytes quoted in an error: lossy UTF-8, cut short (like Git's
/// `%.100s`) so a hostile line cannot flood logs.
fn lossy(b: &[u8]) -> String {
    const MAX: usize = 100;
    let text = String::from_utf8_lossy(b.get(..MAX).unwrap_or(b)).into_owned();
    if b.len() > MAX {
        format!("{text}...")
    } else {
        text
    }
}

impl CommandSectionParser {
    /// A parser at the start of a request body.
    pub fn new() -> Self {
        Self {
            state: State::Commands,
            capabilities: Capabilities::default(),
            saw_capabilities: false,
            shallow: Vec::new(),
            commands: Vec::new(),
            certificate: None,
            push_options: Vec::new(),
        }
    }

    /// Feeds the next packet of the body.
    pub fn push(&mut self, packet: Packet) -> Result<Progress, ReceivePackError> {
        if let Packet::Data(d) = &packet {
            // PACKET_READ_DIE_ON_ERR_PACKET
            if d.starts_with(b"ERR ") {
                return Err(ReceivePackError::ErrPacket);
            }
        }
        match (self.state, packet) {
            (State::Done, _) => Err(ReceivePackError::TrailingData),
            (_, Packet::Delim) => Err(ReceivePackError::UnexpectedPacket("delim")),
            (_, Packet::ResponseEnd) => Err(ReceivePackError::UnexpectedPacket("response-end")),
            (State::Commands, Packet::Flush) | (State::Certificate, Packet::Flush) => {
                self.end_of_commands()
            }
            (State::PushOptions, Packet::Flush) => {
                self.state = State::Done;
                Ok(Progress::Done)
            }
            (State::Commands, Packet::Data(line)) => {
                self.command_line(line)?;
                Ok(Progress::NeedMore)
            }
            (State::Certificate, Packet::Data(line)) => {
                // Certificate lines are read without chomping.
                if line.as_ref() == b"push-cert-end\n" {
                    self.state = State::Commands;
                } else {
                    let (text, _) = split_nul(&line);
                    if let Some(cert) = self.certificate.as_mut() {
                        cert.extend_from_slice(text);
                    }
                }
                Ok(Progress::NeedMore)
            }
            (State::PushOptions, Packet::Data(line)) => {
                let (text, _) = split_nul(chomp(&line));
                let option =
                    std::str::from_utf8(text).map_err(|_| ReceivePackError::BadPushOption)?;
                self.push_options.push(option.to_owned());
                Ok(Progress::NeedMore)
            }
        }
    }

    fn command_line(&mut self, line: Bytes) -> Result<(), ReceivePackError> {
        let line = chomp(&line);
        if line.len() > 8 && line.starts_with(b"shallow ") {
            self.shallow
                .push(Bytes::copy_from_slice(line.get(8..).unwrap_or_default()));
            return Ok(());
        }
        let (text, features) = split_nul(line);
        if let Some(features) = features {
            let features = std::str::from_utf8(features)
                .map_err(|_| ReceivePackError::BadCommand(lossy(line)))?;
            self.capabilities.extend(Capabilities::parse(features));
            self.saw_capabilities = true;
        }
        if text == b"push-cert" {
            if self.certificate.is_some() || !self.commands.is_empty() {
                return Err(ReceivePackError::UnexpectedCertificate);
            }
            self.certificate = Some(Vec::new());
            self.state = State::Certificate;
            return Ok(());
        }
        if self.certificate.is_some() {
            // Git would merge these with the certificate's commands; no
            // client sends both, so refuse instead of guessing.
            return Err(ReceivePackError::UnexpectedCertificate);
        }
        self.commands.push(Bytes::copy_from_slice(text));
        Ok(())
    }

    fn end_of_commands(&mut self) -> Result<Progress, ReceivePackError> {
        // receive-pack reads push options only when the list of commands
        // (for a signed push: those in the certificate) is not empty.
        let certified = match &self.certificate {
            Some(cert) => {
                !commands_from_certificate(cert, self.capabilities.object_format()?)?.is_empty()
            }
            None => false,
        };
        let any_commands = !self.commands.is_empty() || certified;
        if any_commands && self.capabilities.push_options() {
            self.state = State::PushOptions;
            Ok(Progress::NeedMore)
        } else {
            self.state = State::Done;
            Ok(Progress::Done)
        }
    }

    /// True once the whole section has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Validates what was read and builds the request. Fails with
    /// [`ReceivePackError::Truncated`] if the section is not complete.
    pub fn finish(self) -> Result<PushRequest, ReceivePackError> {
        if self.state != State::Done {
            return Err(ReceivePackError::Truncated);
        }
        let format = self.capabilities.object_format()?;
        let shallow = self
            .shallow
            .iter()
            .map(|raw| {
                std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| ObjectId::parse(s, format))
                    .ok_or_else(|| ReceivePackError::BadShallow(lossy(raw)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut commands = self
            .commands
            .iter()
            .map(|raw| parse_command(raw, format))
            .collect::<Result<Vec<_>, _>>()?;
        let signed = self.certificate.is_some();
        if let Some(cert) = &self.certificate {
            commands.extend(commands_from_certificate(cert, format)?);
        }
        Ok(PushRequest {
            is_probe: commands.is_empty(),
            commands,
            capabilities: self.capabilities,
            push_options: self.push_options,
            shallow,
            object_format: format,
            signed,
        })
    }
}

/// `queue_command`: `<old> SP <new> SP <ref>`.
fn parse_command(line: &[u8], format: ObjectFormat) -> Result<RefUpdate, ReceivePackError> {
    let bad = || ReceivePackError::BadCommand(lossy(line));
    let (old, rest) = ObjectId::parse_prefix(line, format).ok_or_else(bad)?;
    let rest = rest.strip_prefix(b" ").ok_or_else(bad)?;
    let (new, rest) = ObjectId::parse_prefix(rest, format).ok_or_else(bad)?;
    let name = rest.strip_prefix(b" ").ok_or_else(bad)?;
    let name = std::str::from_utf8(name).map_err(|_| ReceivePackError::BadRefName(lossy(name)))?;
    if !is_valid_ref_name(name) {
        return Err(ReceivePackError::BadRefName(name.to_owned()));
    }
    Ok(RefUpdate {
        old,
        new,
        name: name.to_owned(),
    })
}

/// Signature armor lines Git recognises (`gpg-interface.c`).
const SIGNATURE_STARTS: [&[u8]; 4] = [
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN PGP MESSAGE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
    b"-----BEGIN SSH SIGNATURE-----",
];

/// `parse_signed_buffer`: offset of the last line starting a signature.
fn signed_payload_len(buf: &[u8]) -> usize {
    let mut offset = 0;
    let mut payload_end = buf.len();
    for line in buf.split_inclusive(|b| *b == b'\n') {
        if SIGNATURE_STARTS.iter().any(|s| line.starts_with(s)) {
            payload_end = offset;
        }
        offset += line.len();
    }
    payload_end
}

/// `queue_commands_from_cert`: the lines between the header's blank line and
/// the signature.
fn commands_from_certificate(
    cert: &[u8],
    format: ObjectFormat,
) -> Result<Vec<RefUpdate>, ReceivePackError> {
    let start = cert
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
        .ok_or(ReceivePackError::MalformedCertificate)?;
    let end = signed_payload_len(cert);
    let body = cert.get(start..end).unwrap_or_default();
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|b| *b == b'\n')
        .map(|line| parse_command(line, format))
        .collect()
}

/// `check_refname_format(name + 5, 0)` after the `refs/` prefix check that
/// receive-pack's `update()` applies: names Git refuses are refused here.
pub fn is_valid_ref_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("refs/") else {
        return false;
    };
    if rest.is_empty() || rest.ends_with('/') || rest.ends_with('.') || rest == "@" {
        return false;
    }
    let mut components = 0;
    for component in rest.split('/') {
        components += 1;
        if component.is_empty()
            || component.starts_with('.')
            || component.ends_with(".lock")
            || component.contains("..")
            || component.contains("@{")
            || component.bytes().any(|b| {
                b <= b' '
                    || b == 0x7f
                    || matches!(b, b'~' | b'^' | b':' | b'?' | b'[' | b'*' | b'\\')
            })
        {
            return false;
        }
    }
    // Without REFNAME_ALLOW_ONELEVEL, `refs/foo` is refused.
    components >= 2
}

/// Parses a complete command section at the start of `body`. Returns the
/// request and the number of bytes the section occupied; whatever follows
/// (the pack) is not examined.
pub fn parse_command_section(body: &[u8]) -> Result<(PushRequest, usize), ReceivePackError> {
    let body = Bytes::copy_from_slice(body);
    let mut offset = 0;
    let mut parser = CommandSectionParser::new();
    loop {
        let rest = body.slice(offset..);
        let Some((packet, used)) = pktline::decode(&rest)? else {
            return Err(ReceivePackError::Truncated);
        };
        offset += used;
        if parser.push(packet)? == Progress::Done {
            return Ok((parser.finish()?, offset));
        }
    }
}

#[cfg(test)]
mod tests;
