//! IP addresses as text without the formatting machinery or an allocation, as `Display` writes them:
//! the access log and the spans write the client's address for every request. (The access log's text
//! tests check them against `Display`.)

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// An IP address written out, on the stack: see [`IpText::of`].
#[derive(Clone, Copy)]
pub(crate) struct IpText {
    /// The longest IPv6 text (an IPv4-mapped address with every group written) is 45 bytes.
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    /// `ip` as `Display` writes it (IPv6 through it: those are rare).
    pub(crate) fn of(ip: IpAddr) -> Self {
        let mut text = Self { buf: [0; 48], len: 0 };
        match ip {
            IpAddr::V4(v4) => text.push_ipv4(v4),
            IpAddr::V6(v6) => {
                let _ = write!(text, "{v6}");
            }
        }
        text
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn push_ipv4(&mut self, ip: Ipv4Addr) {
        let [a, b, c, d] = ip.octets();
        self.push_octet(a);
        for octet in [b, c, d] {
            self.push(b'.');
            self.push_octet(octet);
        }
    }

    /// Appends `octet` in decimal, digit by digit.
    fn push_octet(&mut self, octet: u8) {
        if octet >= 100 {
            self.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            self.push(b'0' + octet / 10 % 10);
        }
        self.push(b'0' + octet % 10);
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends an IPv4 address in dotted decimal (`192.0.2.10`), as `Display` writes it.
#[cfg(feature = "access-log")]
pub(crate) fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    out.push_str(IpText::of(IpAddr::V4(ip)).as_str());
}

/// Appends an IP address as `Display` writes it.
#[cfg(feature = "access-log")]
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    out.push_str(IpText::of(ip).as_str());
}
