//! The PROXY protocol (HAProxy's, v1 text and v2 binary) at the start of
//! a connection from a load balancer: who the client is when every TCP
//! connection comes from the balancer.
//!
//! The `ppp` crate parses the header; this module reads exactly the
//! header's bytes from the socket (never a byte of the TLS or SSH stream
//! after it), under a deadline and a size limit, and adds the checks the
//! crate leaves to its caller: nothing after the header in the bytes read,
//! only the address family and protocol pairs the specification defines,
//! well-formed TLVs, and a v1 line of the characters a header can have
//! (the crate accepts a `+` before a port).
//!
//! What a header says becomes the client's address: `PROXY` with a TCP
//! source gives that source; v2 `LOCAL` (the balancer's own health
//! checks), v1 `UNKNOWN` and v2 `AF_UNSPEC` keep the connection's own
//! address, as the specification requires.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::shared::config::fleet::ProxyProtocol;

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part of a v2 header: signature, version and command,
/// family and protocol, length.
const V2_FIXED: usize = 16;
/// Largest v2 address-and-TLV part accepted. HAProxy's headers with all
/// its TLVs (unique id, SSL details, authority) stay well under this; the
/// format allows 64 KiB, which no balancer needs.
pub const MAX_V2_PAYLOAD: usize = 1024;
/// The v1 prefix.
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// Longest v1 line, CRLF included (the specification's 107 bytes).
const V1_MAX: usize = 107;
/// Shortest v1 line: `PROXY UNKNOWN\r\n`.
const V1_MIN: usize = 15;

/// Why a connection was closed before it was served.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The TCP peer is not in `trusted_proxies`.
    #[error("connection from {0}, which is not in trusted_proxies")]
    Untrusted(IpAddr),
    /// No complete header before the deadline.
    #[error("no complete PROXY protocol header within {0:?}")]
    Timeout(Duration),
    /// The connection ended or failed before the header was complete.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a header this server accepts.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(&'static str),
}

/// What a valid header says about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// A proxied TCP connection from this address.
    Proxied(SocketAddr),
    /// The balancer speaks for itself (v2 `LOCAL`), or does not know the
    /// client (v1 `UNKNOWN`, v2 `AF_UNSPEC`): the connection's own address
    /// stands.
    Local,
}

/// Checks that `peer` is a trusted proxy, reads its header from `stream`
/// within `timeout`, and returns the client's address: the header's source,
/// or `peer` itself for `LOCAL`.
pub async fn accept<S: AsyncRead + Unpin>(
    settings: &ProxyProtocol,
    stream: &mut S,
    peer: SocketAddr,
    timeout: Duration,
) -> Result<SocketAddr, ProxyError> {
    if !settings.trusts(peer.ip()) {
        return Err(ProxyError::Untrusted(peer.ip()));
    }
    let header = tokio::time::timeout(timeout, read_header(stream))
        .await
        .map_err(|_| ProxyError::Timeout(timeout))??;
    Ok(match parse(&header)? {
        Client::Proxied(addr) => addr,
        Client::Local => peer,
    })
}

/// The client's address for a connection accepted from `peer` on the
/// `door` listener: `peer` itself with `proxy_protocol = "off"`; else what
/// [`accept`] says, or `None` (logged) when the connection must be closed.
pub async fn client_address<S: AsyncRead + Unpin>(
    settings: Option<&ProxyProtocol>,
    stream: &mut S,
    peer: SocketAddr,
    timeout: Duration,
    door: &'static str,
) -> Option<SocketAddr> {
    let Some(settings) = settings else {
        return Some(peer);
    };
    match accept(settings, stream, peer, timeout).await {
        Ok(client) => Some(client),
        // A balancer's plain TCP check connects and closes: not worth a
        // warning.
        Err(ProxyError::Io(e)) => {
            tracing::debug!(%peer, door, error = %e, "connection closed: no PROXY protocol header");
            None
        }
        Err(e) => {
            tracing::warn!(%peer, door, error = %e, "connection closed");
            None
        }
    }
}

/// Reads exactly one header's bytes (v1 or v2) and nothing after it.
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, ProxyError> {
    // Every header is at least 15 bytes long, and both versions are told
    // apart within them; reading them in one go never reads past a header.
    let mut buf = vec![0u8; V1_MIN];
    stream.read_exact(&mut buf).await?;
    if buf.starts_with(V2_SIGNATURE) {
        buf.resize(V2_FIXED, 0);
        stream
            .read_exact(buf.get_mut(V1_MIN..).unwrap_or_default())
            .await?;
        let len = match buf.get(V2_FIXED - 2..V2_FIXED) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(ProxyError::Invalid("truncated v2 header")),
        };
        if len > MAX_V2_PAYLOAD {
            return Err(ProxyError::Invalid("v2 header longer than 1024 bytes"));
        }
        buf.resize(V2_FIXED + len, 0);
        stream
            .read_exact(buf.get_mut(V2_FIXED..).unwrap_or_default())
            .await?;
        Ok(buf)
    } else if buf.starts_with(V1_PREFIX) {
        // A text line: one byte at a time up to LF, so that the first byte
        // of the stream after it stays in the socket.
        while buf.last() != Some(&b'\n') {
            if buf.len() >= V1_MAX {
                return Err(ProxyError::Invalid("v1 header longer than 107 bytes"));
            }
            buf.push(stream.read_u8().await?);
        }
        Ok(buf)
    } else {
        Err(ProxyError::Invalid(
            "the connection does not start with a PROXY protocol header",
        ))
    }
}

/// Parses `bytes`, which must be exactly one complete header.
pub fn parse(bytes: &[u8]) -> Result<Client, ProxyError> {
    if bytes.starts_with(V2_SIGNATURE) {
        parse_v2(bytes)
    } else if bytes.starts_with(V1_PREFIX) {
        parse_v1(bytes)
    } else {
        Err(ProxyError::Invalid(
            "the connection does not start with a PROXY protocol header",
        ))
    }
}

fn parse_v1(bytes: &[u8]) -> Result<Client, ProxyError> {
    use ppp::v1::{Addresses, Header};
    let Some(body) = bytes.strip_suffix(b"\r\n") else {
        return Err(ProxyError::Invalid("v1 header does not end with CRLF"));
    };
    if bytes.len() > V1_MAX {
        return Err(ProxyError::Invalid("v1 header longer than 107 bytes"));
    }
    // Addresses, ports and keywords only: letters, digits, `.`, `:` and
    // single spaces (the crate would take `+80` as a port).
    if !body
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b' ' || b == b'.' || b == b':')
    {
        return Err(ProxyError::Invalid(
            "v1 header has a character it cannot have",
        ));
    }
    let header = Header::try_from(bytes).map_err(|_| ProxyError::Invalid("malformed v1 header"))?;
    if header.header.len() != bytes.len() {
        return Err(ProxyError::Invalid("bytes after the v1 header"));
    }
    match header.addresses {
        Addresses::Tcp4(a) => Ok(Client::Proxied(SocketAddr::new(
            IpAddr::V4(a.source_address),
            a.source_port,
        ))),
        Addresses::Tcp6(a) => Ok(Client::Proxied(SocketAddr::new(
            IpAddr::V6(a.source_address).to_canonical(),
            a.source_port,
        ))),
        Addresses::Unknown => Ok(Client::Local),
    }
}

fn parse_v2(bytes: &[u8]) -> Result<Client, ProxyError> {
    use ppp::v2::{Addresses, Command, Header, Protocol};
    // The pairs of address family and protocol the specification defines
    // (UNSPEC, TCP/UDP over IPv4 and IPv6, UNIX stream/datagram); others
    // "must be rejected as invalid by receivers".
    match bytes.get(13) {
        Some(0x00 | 0x11 | 0x12 | 0x21 | 0x22 | 0x31 | 0x32) => {}
        _ => {
            return Err(ProxyError::Invalid(
                "v2 header with an undefined family or protocol",
            ));
        }
    }
    if bytes.len() > V2_FIXED + MAX_V2_PAYLOAD {
        return Err(ProxyError::Invalid("v2 header longer than 1024 bytes"));
    }
    let header = Header::try_from(bytes).map_err(|_| ProxyError::Invalid("malformed v2 header"))?;
    if header.len() != bytes.len() {
        return Err(ProxyError::Invalid("bytes after the v2 header"));
    }
    if header.tlvs().any(|tlv| tlv.is_err()) {
        return Err(ProxyError::Invalid("malformed TLV in the v2 header"));
    }
    match header.command {
        Command::Local => Ok(Client::Local),
        Command::Proxy => match (header.addresses, header.protocol) {
            (Addresses::IPv4(a), Protocol::Stream) => Ok(Client::Proxied(SocketAddr::new(
                IpAddr::V4(a.source_address),
                a.source_port,
            ))),
            (Addresses::IPv6(a), Protocol::Stream) => Ok(Client::Proxied(SocketAddr::new(
                IpAddr::V6(a.source_address).to_canonical(),
                a.source_port,
            ))),
            (Addresses::Unspecified, _) => Ok(Client::Local),
            _ => Err(ProxyError::Invalid(
                "v2 header for a connection that is not TCP",
            )),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Command, Protocol, Type, Version};

    fn v2(command: Command, family_protocol: u8, addresses: ppp::v2::Addresses) -> Vec<u8> {
        let protocol = match family_protocol & 0x0F {
            0 => Protocol::Unspecified,
            1 => Protocol::Stream,
            _ => Protocol::Datagram,
        };
        Builder::with_addresses(Version::Two | command, protocol, addresses)
            .build()
            .unwrap()
    }

    fn ipv4(src: [u8; 4], port: u16) -> ppp::v2::Addresses {
        ppp::v2::IPv4::new(src, [10, 0, 0, 9], port, 8443).into()
    }

    fn trusted() -> ProxyProtocol {
        ProxyProtocol {
            trusted: vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6_give_the_source() {
        assert_eq!(
            parse(b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 8443\r\n").unwrap(),
            Client::Proxied("192.0.2.7:51234".parse().unwrap())
        );
        assert_eq!(
            parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n").unwrap(),
            Client::Proxied("[2001:db8::1]:4000".parse().unwrap())
        );
        // An IPv4-mapped source is the IPv4 client (as policies see it).
        assert_eq!(
            parse(b"PROXY TCP6 ::ffff:192.0.2.7 ::1 4000 443\r\n").unwrap(),
            Client::Proxied("192.0.2.7:4000".parse().unwrap())
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), Client::Local);
    }

    #[test]
    fn v1_rejects_what_is_not_exactly_a_header() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 8443\n"[..],
            b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 8443 extra\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 8443\r\nGET",
            b"PROXY TCP4 192.0.2.7  10.0.0.9 51234 8443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.9 +51234 8443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.9 051234 8443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.9 65536 8443\r\n",
            b"PROXY TCP4 2001:db8::1 10.0.0.9 1 2\r\n",
            b"PROXY TCP6 192.0.2.7 10.0.0.9 1 2\r\n",
            b"PROXY TCP4 192.000.2.7 10.0.0.9 1 2\r\n",
            b"PROXY UDP4 192.0.2.7 10.0.0.9 1 2\r\n",
            b"PROXY tcp4 192.0.2.7 10.0.0.9 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.9 1 2\r\r\n",
            b"PROXY \r\n",
        ] {
            assert!(
                parse(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("PROXY UNKNOWN {}\r\n", "a".repeat(100));
        assert!(parse(long.as_bytes()).is_err());
    }

    #[test]
    fn v2_proxy_local_and_unspec() {
        let h = v2(Command::Proxy, 0x11, ipv4([192, 0, 2, 7], 51234));
        assert_eq!(
            parse(&h).unwrap(),
            Client::Proxied("192.0.2.7:51234".parse().unwrap())
        );
        let h = v2(Command::Local, 0x11, ipv4([127, 0, 0, 1], 1));
        assert_eq!(parse(&h).unwrap(), Client::Local);
        let h = v2(Command::Proxy, 0x00, ppp::v2::Addresses::Unspecified);
        assert_eq!(parse(&h).unwrap(), Client::Local);
        let six = ppp::v2::IPv6::new(
            "2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap(),
            "2001:db8::9".parse::<std::net::Ipv6Addr>().unwrap(),
            7,
            443,
        );
        let h = v2(Command::Proxy, 0x21, six.into());
        assert_eq!(
            parse(&h).unwrap(),
            Client::Proxied("[2001:db8::7]:7".parse().unwrap())
        );
    }

    #[test]
    fn v2_with_tlvs_is_accepted_when_well_formed() {
        let h = Builder::with_addresses(
            Version::Two | Command::Proxy,
            Protocol::Stream,
            ipv4([192, 0, 2, 7], 1),
        )
        .write_tlv(Type::UniqueId, b"abc")
        .unwrap()
        .build()
        .unwrap();
        assert!(parse(&h).is_ok());
        // The same with its last TLV cut short (length fields adjusted so
        // that only the TLV is wrong).
        let mut cut = h.clone();
        cut.pop();
        let len = u16::from_be_bytes([cut[14], cut[15]]) - 1;
        cut[14..16].copy_from_slice(&len.to_be_bytes());
        assert!(parse(&cut).is_err());
    }

    #[test]
    fn v2_rejects_what_is_not_exactly_a_header() {
        let good = v2(Command::Proxy, 0x11, ipv4([192, 0, 2, 7], 1));
        let mut trailing = good.clone();
        trailing.push(0x16);
        assert!(parse(&trailing).is_err());
        let mut short = good.clone();
        short.pop();
        assert!(parse(&short).is_err());
        for (at, value) in [(12, 0x11), (12, 0x22), (13, 0x13), (13, 0x41), (13, 0x10)] {
            let mut bad = good.clone();
            bad[at] = value;
            assert!(parse(&bad).is_err(), "accepted byte {at} = {value:#x}");
        }
        // UDP and UNIX-socket sources are not TCP clients.
        let udp = v2(Command::Proxy, 0x12, ipv4([192, 0, 2, 7], 1));
        assert!(parse(&udp).is_err());
        // An IPv4 header too short for its addresses.
        let mut tiny = good[..16].to_vec();
        tiny[14..16].copy_from_slice(&4u16.to_be_bytes());
        tiny.extend([1, 2, 3, 4]);
        assert!(parse(&tiny).is_err());
    }

    async fn accept_bytes(peer: &str, input: &[u8]) -> (Result<SocketAddr, ProxyError>, Vec<u8>) {
        let mut reader = input;
        let result = accept(
            &trusted(),
            &mut reader,
            peer.parse().unwrap(),
            Duration::from_secs(1),
        )
        .await;
        (result, reader.to_vec())
    }

    #[tokio::test]
    async fn off_serves_the_connection_as_it_came_without_reading() {
        let mut reader: &[u8] = b"\x16\x03\x01hello";
        let peer = "192.0.2.9:4444".parse().unwrap();
        let client = client_address(None, &mut reader, peer, Duration::from_secs(1), "https").await;
        assert_eq!(client, Some(peer));
        assert_eq!(reader, b"\x16\x03\x01hello");
    }

    #[tokio::test]
    async fn accept_reads_the_header_and_not_a_byte_more() {
        let mut input = b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 8443\r\n".to_vec();
        input.extend(b"\x16\x03\x01rest");
        let (result, rest) = accept_bytes("10.1.2.3:999", &input).await;
        assert_eq!(result.unwrap(), "192.0.2.7:51234".parse().unwrap());
        assert_eq!(rest, b"\x16\x03\x01rest");

        let mut input = v2(Command::Proxy, 0x11, ipv4([192, 0, 2, 8], 2));
        input.extend(b"SSH-2.0-x\r\n");
        let (result, rest) = accept_bytes("127.0.0.1:999", &input).await;
        assert_eq!(result.unwrap(), "192.0.2.8:2".parse().unwrap());
        assert_eq!(rest, b"SSH-2.0-x\r\n");

        // LOCAL: the balancer's own address.
        let input = v2(Command::Local, 0x00, ppp::v2::Addresses::Unspecified);
        let (result, _) = accept_bytes("127.0.0.1:999", &input).await;
        assert_eq!(result.unwrap(), "127.0.0.1:999".parse().unwrap());
    }

    #[tokio::test]
    async fn accept_refuses_untrusted_peers_missing_and_oversized_headers() {
        let header = b"PROXY TCP4 192.0.2.7 10.0.0.9 51234 8443\r\n";
        let (result, rest) = accept_bytes("192.0.2.200:999", header).await;
        assert!(matches!(result, Err(ProxyError::Untrusted(_))));
        assert_eq!(
            rest.len(),
            header.len(),
            "nothing read from an untrusted peer"
        );

        let (result, _) = accept_bytes(
            "127.0.0.1:1",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh",
        )
        .await;
        assert!(matches!(result, Err(ProxyError::Invalid(_))));

        let mut huge = v2(Command::Proxy, 0x11, ipv4([1, 2, 3, 4], 1))[..14].to_vec();
        huge.extend(2000u16.to_be_bytes());
        huge.extend(vec![0u8; 2000]);
        let (result, _) = accept_bytes("127.0.0.1:1", &huge).await;
        assert!(matches!(result, Err(ProxyError::Invalid(_))));

        let long = format!("PROXY UNKNOWN {}\r\n", "a".repeat(200));
        let (result, _) = accept_bytes("127.0.0.1:1", long.as_bytes()).await;
        assert!(matches!(result, Err(ProxyError::Invalid(_))));

        let (result, _) = accept_bytes("127.0.0.1:1", b"PROXY TCP4 1.2").await;
        assert!(matches!(result, Err(ProxyError::Io(_))));
    }

    #[tokio::test]
    async fn accept_gives_up_on_a_silent_peer() {
        let (_client, mut server) = tokio::io::duplex(64);
        let result = accept(
            &trusted(),
            &mut server,
            "127.0.0.1:1".parse().unwrap(),
            Duration::from_millis(50),
        )
        .await;
        assert!(matches!(result, Err(ProxyError::Timeout(_))));
    }
}
