//! The PROXY protocol (versions 1 and 2), which load balancers in front of an entrypoint use to pass on
//! the client's address (`entryPoints.<name>.proxyProtocol`).
//!
//! As in Traefik, only peers in `trustedIPs` (or any peer with `insecure`) may send a header, and for
//! them it is optional; a connection from anyone else is served as it comes, so a header it sends is
//! not HTTP and gets a 400.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::trusted_peers::TrustedPeers;

/// The 12-byte signature that starts a version 2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A version 1 header is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;
/// Version 2 headers are bounded by what peek can show at once.
const PEEK: usize = 536;

/// Which peers may send a PROXY header.
#[derive(Debug, Clone)]
pub(crate) struct ProxyProtocol {
    pub(crate) peers: TrustedPeers,
}

/// What was read at the start of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// No header: the peer is the client.
    Absent,
    /// A header naming the client.
    Client(SocketAddr),
    /// A header without a usable address (`UNKNOWN`, `LOCAL`, a non-IP family): the peer stands for the client.
    Local,
}

/// A header that cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderError {
    #[error("malformed PROXY protocol header")]
    Malformed,
    #[error("PROXY protocol header not received in time")]
    Timeout,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ProxyProtocol {
    /// Reads a header from a trusted peer, leaving the bytes after it for HTTP.
    pub(crate) async fn accept(
        &self,
        stream: &mut TcpStream,
        peer: SocketAddr,
        limit: Duration,
    ) -> Result<Header, HeaderError> {
        if !self.peers.trusts(peer.ip()) {
            return Ok(Header::Absent);
        }
        let mut buf = [0u8; PEEK];
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
                .await
                .map_err(|_| HeaderError::Timeout)??;
            if n == 0 {
                return Ok(Header::Absent);
            }
            match parse(&buf[..n])? {
                Parsed::Done(length, header) => {
                    discard(stream, length).await?;
                    return Ok(header);
                }
                Parsed::NotProxy => return Ok(Header::Absent),
                // Rare: the header came in pieces. Wait for more without spinning on `peek`.
                Parsed::Partial => tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(5)))
                    .await
                    .map_err(|_| HeaderError::Timeout)?,
            }
        }
    }
}

async fn discard(stream: &mut TcpStream, mut length: usize) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; PEEK];
    while length > 0 {
        let n = stream.read(&mut sink[..length]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        length -= n;
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Done(usize, Header),
    Partial,
    NotProxy,
}

fn parse(buf: &[u8]) -> Result<Parsed, HeaderError> {
    let is_prefix = |sig: &[u8]| buf.len() >= sig.len() && buf.starts_with(sig) || sig.starts_with(buf);
    if is_prefix(V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if is_prefix(b"PROXY ") {
        return parse_v1(buf);
    }
    Ok(Parsed::NotProxy)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, HeaderError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(HeaderError::Malformed)
        } else {
            Ok(Parsed::Partial)
        };
    };
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| HeaderError::Malformed)?;
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Header::Local,
        [
            "PROXY",
            family @ ("TCP4" | "TCP6"),
            source,
            _destination,
            source_port,
            _destination_port,
        ] => {
            let ip: IpAddr = source.parse().map_err(|_| HeaderError::Malformed)?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(HeaderError::Malformed);
            }
            let port: u16 = source_port.parse().map_err(|_| HeaderError::Malformed)?;
            Header::Client(SocketAddr::new(ip, port))
        }
        _ => return Err(HeaderError::Malformed),
    };
    Ok(Parsed::Done(end + 2, header))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, HeaderError> {
    if buf.len() < 16 {
        return Ok(Parsed::Partial);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 || command > 1 {
        return Err(HeaderError::Malformed);
    }
    let length = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if length > PEEK {
        return Err(HeaderError::Malformed);
    }
    if buf.len() < length {
        return Ok(Parsed::Partial);
    }
    let body = &buf[16..length];
    let header = match (command, buf[13] >> 4) {
        (0, _) => Header::Local,
        (1, 1) if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Header::Client(SocketAddr::new(ip.into(), u16::from_be_bytes([body[8], body[9]])))
        }
        (1, 2) if body.len() >= 36 => {
            let octets: [u8; 16] = body[..16].try_into().map_err(|_| HeaderError::Malformed)?;
            let port = u16::from_be_bytes([body[32], body[33]]);
            Header::Client(SocketAddr::new(Ipv6Addr::from(octets).into(), port))
        }
        (1, 1 | 2) => return Err(HeaderError::Malformed),
        _ => Header::Local,
    };
    Ok(Parsed::Done(length, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_1() {
        let header = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(header).unwrap(),
            Parsed::Done(42, Header::Client("203.0.113.7:51234".parse().unwrap()))
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), Parsed::Done(15, Header::Local));
        assert_eq!(parse(b"PROXY TCP4 203.0").unwrap(), Parsed::Partial);
        assert_eq!(parse(b"PRO").unwrap(), Parsed::Partial);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n").unwrap(), Parsed::NotProxy);
        assert!(parse(b"PROXY TCP4 ::1 10.0.0.1 1 2\r\n").is_err());
        assert!(parse(b"PROXY TCP4 a b c d\r\n").is_err());
    }

    #[test]
    fn reads_version_2() {
        let mut header = V2_SIGNATURE.to_vec();
        header.extend_from_slice(&[0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0, 80]);
        assert_eq!(
            parse(&header).unwrap(),
            Parsed::Done(28, Header::Client("198.51.100.9:8080".parse().unwrap()))
        );
        assert_eq!(parse(&header[..20]).unwrap(), Parsed::Partial);
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local).unwrap(), Parsed::Done(16, Header::Local));
        let mut bad = V2_SIGNATURE.to_vec();
        bad.extend_from_slice(&[0x31, 0x11, 0, 0]);
        assert!(parse(&bad).is_err());
    }
}
