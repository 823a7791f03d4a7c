//! IP addresses appended to text without the formatting machinery, as `Display` writes them: the
//! access log and the spans write the client's address for every request. (The access log's text
//! tests check them against `Display`.)

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// Appends an IPv4 address in dotted decimal (`192.0.2.10`), as `Display` writes it.
pub(crate) fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    let [a, b, c, d] = ip.octets();
    push_octet(out, a);
    for octet in [b, c, d] {
        out.push('.');
        push_octet(out, octet);
    }
}

/// Appends `octet` in decimal, digit by digit.
fn push_octet(out: &mut String, octet: u8) {
    if octet >= 100 {
        out.push(char::from(b'0' + octet / 100));
    }
    if octet >= 10 {
        out.push(char::from(b'0' + octet / 10 % 10));
    }
    out.push(char::from(b'0' + octet % 10));
}

/// Appends an IP address as `Display` writes it (IPv6 through it: those are rare).
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => push_ipv4(out, v4),
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}
