//! The PROXY protocol header (versions 1 and 2) written to a TCP backend before the client's bytes,
//! telling it the client's address and the address the client connected to.

use std::net::SocketAddr;

/// The 12 bytes that open a version 2 header.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// A header, built on the stack: at most 108 bytes (version 1) or 52 (version 2).
pub(crate) struct ProxyHeader {
    bytes: [u8; 108],
    len: usize,
}

impl ProxyHeader {
    /// The header of `version` (1 or 2) for a connection from `client` to `local`. Addresses of
    /// different families (an IPv4 client on an IPv6 socket) are both written as IPv6.
    pub(crate) fn new(version: u8, client: SocketAddr, local: SocketAddr) -> Self {
        let (client, local) = same_family(client, local);
        let mut header = Self {
            bytes: [0; 108],
            len: 0,
        };
        if version == 1 {
            header.v1(client, local);
        } else {
            header.v2(client, local);
        }
        header
    }

    /// The bytes to write.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn v1(&mut self, client: SocketAddr, local: SocketAddr) {
        use std::io::Write;
        let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
        let mut cursor = std::io::Cursor::new(&mut self.bytes[..]);
        // 108 bytes hold the longest line the protocol allows (two full IPv6 addresses and ports).
        let _ = write!(
            cursor,
            "PROXY {family} {} {} {} {}\r\n",
            client.ip(),
            local.ip(),
            client.port(),
            local.port()
        );
        self.len = usize::try_from(cursor.position()).unwrap_or(0);
    }

    fn v2(&mut self, client: SocketAddr, local: SocketAddr) {
        self.push(&V2_SIGNATURE);
        // Version 2, command PROXY; then the family: TCP over IPv4 (0x11) or IPv6 (0x21).
        self.push(&[0x21]);
        match (client, local) {
            (SocketAddr::V4(c), SocketAddr::V4(l)) => {
                self.push(&[0x11, 0, 12]);
                self.push(&c.ip().octets());
                self.push(&l.ip().octets());
            }
            (c, l) => {
                self.push(&[0x21, 0, 36]);
                self.push(&ipv6(c).octets());
                self.push(&ipv6(l).octets());
            }
        }
        self.push(&client.port().to_be_bytes());
        self.push(&local.port().to_be_bytes());
    }
}

fn ipv6(addr: SocketAddr) -> std::net::Ipv6Addr {
    match addr {
        SocketAddr::V4(v4) => v4.ip().to_ipv6_mapped(),
        SocketAddr::V6(v6) => *v6.ip(),
    }
}

/// Both addresses in one family: IPv4 when both are (or map to) IPv4, else both IPv6.
fn same_family(client: SocketAddr, local: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (c, l) = (canonical(client), canonical(local));
    if c.is_ipv4() == l.is_ipv4() {
        (c, l)
    } else {
        (
            SocketAddr::new(ipv6(c).into(), c.port()),
            SocketAddr::new(ipv6(l).into(), l.port()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_is_one_text_line() {
        let header = ProxyHeader::new(1, "10.0.0.2:51000".parse().unwrap(), "10.0.0.1:443".parse().unwrap());
        assert_eq!(header.as_bytes(), b"PROXY TCP4 10.0.0.2 10.0.0.1 51000 443\r\n");
        let longest = ProxyHeader::new(
            1,
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap(),
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535".parse().unwrap(),
        );
        assert!(longest.as_bytes().ends_with(b" 65535 65535\r\n"));
    }

    #[test]
    fn version_2_is_binary_and_mixed_families_become_ipv6() {
        let header = ProxyHeader::new(2, "10.0.0.2:51000".parse().unwrap(), "10.0.0.1:443".parse().unwrap());
        let bytes = header.as_bytes();
        assert_eq!(bytes.len(), 16 + 12);
        assert_eq!(&bytes[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(&bytes[16..20], &[10, 0, 0, 2]);
        let mixed = ProxyHeader::new(2, "10.0.0.2:1".parse().unwrap(), "[::1]:2".parse().unwrap());
        assert_eq!(mixed.as_bytes().len(), 16 + 36);
        assert_eq!(mixed.as_bytes()[13], 0x21);
    }
}
