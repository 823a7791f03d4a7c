//! Appending text to a line without the formatting machinery: numbers, addresses and escaped text go
//! straight into the `String`, since every request writes a line.

use std::fmt::Write as _;
use std::net::SocketAddr;

pub(super) use crate::ip::{push_ip, push_ipv4};

/// How text is escaped where it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    /// As it is.
    None,
    /// In a CLF quoted item: `"` as `\"`.
    Clf,
    /// In a JSON string, as Go's `encoding/json` with its HTML escaping.
    Json,
}

impl Escape {
    /// Appends `text` to `out`, escaped.
    #[inline]
    pub(super) fn push(self, out: &mut String, text: &str) {
        match self {
            Self::None => out.push_str(text),
            Self::Clf => push_clf_quoted(out, text),
            Self::Json => push_json(out, text),
        }
    }
}

/// Appends `value` in decimal.
pub(super) fn push_decimal(out: &mut String, value: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends `value` in decimal, with leading zeros up to `width` digits (`{value:0width$}`).
pub(super) fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(value);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Appends `value` in decimal, its sign included in `width` (`{value:0width$}` of a signed number).
pub(super) fn push_signed_padded(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
        push_padded(out, value.unsigned_abs(), width.saturating_sub(1));
    } else {
        push_padded(out, value.unsigned_abs(), width);
    }
}

/// Appends `value` (below 100) in two digits (`07`).
pub(super) fn push_two_digits(out: &mut String, value: u8) {
    out.push(char::from(b'0' + value / 10 % 10));
    out.push(char::from(b'0' + value % 10));
}

/// Appends a socket address as `Display` writes it (`192.0.2.10:51000`, `[::1]:80`).
pub(super) fn push_addr(out: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            push_ipv4(out, *v4.ip());
            out.push(':');
            push_decimal(out, v4.port());
        }
        SocketAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `text` with each `"` as `\"`, in one piece when it has none.
fn push_clf_quoted(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = find_quote(rest.as_bytes()) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        out.push_str("\\\"");
        rest = after.get(1..).unwrap_or("");
    }
    out.push_str(rest);
}

/// Where the first `"` of `bytes` is, looked for eight bytes at a time.
pub(super) fn find_quote(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut start = 0;
    for chunk in &mut chunks {
        // A zero byte of `word` is a quote of the chunk; the expression is not 0 when there is one.
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default()) ^ QUOTES;
        if word.wrapping_sub(ONES) & !word & HIGHS != 0 {
            break;
        }
        start += 8;
    }
    let rest = bytes.get(start..).unwrap_or_default();
    rest.iter().position(|&b| b == b'"').map(|at| start + at)
}

/// Appends `text` escaped for a JSON string as Go's `encoding/json` does, HTML characters included;
/// the runs that need no escaping are copied whole.
fn push_json(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.bytes().position(may_need_json_escape) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let mut chars = after.chars();
        if let Some(c) = chars.next() {
            push_json_char(out, c);
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// Whether the character starting with `byte` may need escaping in JSON: ASCII controls, `"`, `\`,
/// `<`, `>`, `&`, and the first byte of U+2028 and U+2029 (which U+2000 to U+2FFF share).
fn may_need_json_escape(byte: u8) -> bool {
    byte < 0x20 || matches!(byte, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2)
}

/// Appends `c` escaped for a JSON string.
fn push_json_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\0'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => push_unicode_escape(out, c),
        c => out.push(c),
    }
}

/// Appends `\u` and the four lower-case hex digits of `c` (a character of the Basic Multilingual
/// Plane).
fn push_unicode_escape(out: &mut String, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let code = u32::from(c);
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        let digit = usize::try_from((code >> shift) & 0xF).unwrap_or(0);
        out.push(char::from(HEX[digit]));
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};

    use super::*;

    fn with(write: impl FnOnce(&mut String)) -> String {
        let mut out = String::from(">");
        write(&mut out);
        out
    }

    #[test]
    fn decimals_from_zero_to_the_largest() {
        assert_eq!(with(|o| push_decimal(o, 0u64)), ">0");
        assert_eq!(with(|o| push_decimal(o, 7u8)), ">7");
        assert_eq!(with(|o| push_decimal(o, 1_000_000_007u64)), ">1000000007");
        assert_eq!(with(|o| push_decimal(o, u64::MAX)), ">18446744073709551615");
        assert_eq!(with(|o| push_decimal(o, u16::MAX)), ">65535");
    }

    #[test]
    fn padded_decimals_are_formats() {
        for (value, width) in [(0, 0), (0, 2), (7, 2), (42, 2), (123, 2), (5, 4), (12_345, 4), (1, 9)] {
            assert_eq!(with(|o| push_padded(o, value, width)), format!(">{value:0width$}"));
        }
        for (value, width) in [
            (0, 4),
            (1, 4),
            (2025, 4),
            (-1, 4),
            (-12, 4),
            (-12_345, 4),
            (-9999, 4),
            (i64::MIN, 4),
        ] {
            assert_eq!(
                with(|o| push_signed_padded(o, value, width)),
                format!(">{value:0width$}")
            );
        }
    }

    #[test]
    fn two_digits() {
        assert_eq!(with(|o| push_two_digits(o, 0)), ">00");
        assert_eq!(with(|o| push_two_digits(o, 7)), ">07");
        assert_eq!(with(|o| push_two_digits(o, 59)), ">59");
    }

    #[test]
    fn ipv4_addresses_as_display() {
        for ip in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [192, 0, 2, 10],
            [10, 0, 100, 9],
            [1, 22, 133, 4],
        ] {
            let ip = Ipv4Addr::from(ip);
            assert_eq!(with(|o| push_ipv4(o, ip)), format!(">{ip}"));
            assert_eq!(with(|o| push_ip(o, IpAddr::V4(ip))), format!(">{ip}"));
            for port in [0, 80, 65535] {
                let addr = SocketAddr::from((ip, port));
                assert_eq!(with(|o| push_addr(o, addr)), format!(">{addr}"));
            }
        }
        assert_eq!(with(|o| push_ipv4(o, Ipv4Addr::new(192, 0, 2, 10))), ">192.0.2.10");
    }

    #[test]
    fn ipv6_addresses_as_display() {
        let ips: [Ipv6Addr; 4] =
            ["2001:db8::1", "::", "::ffff:1.2.3.4", "fe80::1:2:3:4"].map(|s| s.parse().expect("an IPv6"));
        for ip in ips {
            assert_eq!(with(|o| push_ip(o, IpAddr::V6(ip))), format!(">{ip}"));
        }
        assert_eq!(with(|o| push_ip(o, IpAddr::V6(ips[0]))), ">2001:db8::1");
        let scoped = SocketAddr::V6(SocketAddrV6::new(ips[3], 443, 0, 3));
        assert_eq!(with(|o| push_addr(o, scoped)), ">[fe80::1:2:3:4%3]:443");
        let plain = SocketAddr::V6(SocketAddrV6::new(ips[0], 80, 0, 0));
        assert_eq!(with(|o| push_addr(o, plain)), ">[2001:db8::1]:80");
    }

    #[test]
    fn clf_quoting_escapes_quotes_only() {
        let cases = [
            ("", ""),
            ("plain text", "plain text"),
            ("\"", "\\\""),
            ("\"\"", "\\\"\\\""),
            ("a\"b\"", "a\\\"b\\\""),
            ("\"é\\<", "\\\"é\\<"),
        ];
        for (text, escaped) in cases {
            assert_eq!(with(|o| Escape::Clf.push(o, text)), format!(">{escaped}"));
        }
        assert_eq!(with(|o| Escape::None.push(o, "a\"b")), ">a\"b");
    }

    #[test]
    fn quotes_are_found_wherever_they_are() {
        assert_eq!(find_quote(b""), None);
        assert_eq!(find_quote(b"no quote in these thirty bytes"), None);
        for len in 1..40 {
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                bytes[at] = b'"';
                assert_eq!(find_quote(&bytes), Some(at), "{len} {at}");
                if at + 1 < len {
                    bytes[len - 1] = b'"';
                    assert_eq!(find_quote(&bytes), Some(at), "{len} {at} twice");
                }
            }
        }
        let near: Vec<u8> = (0..=255u8).filter(|&b| b != b'"').collect();
        assert_eq!(find_quote(&near), None);
        assert_eq!(find_quote("é€😀\"".as_bytes()), Some(9));
    }

    #[test]
    fn json_escaping_is_gos() {
        let cases = [
            ("", ""),
            ("plain é€😀 text", "plain é€😀 text"),
            ("a\"b\\c", "a\\\"b\\\\c"),
            ("<a>&", "\\u003ca\\u003e\\u0026"),
            ("\n\r\t\u{8}\u{c}", "\\n\\r\\t\\b\\f"),
            ("\0\u{1}\u{1f}\u{7f}", "\\u0000\\u0001\\u001f\u{7f}"),
            ("\u{2028}x\u{2029}", "\\u2028x\\u2029"),
            ("\u{2027}\u{202a}\u{2000}", "\u{2027}\u{202a}\u{2000}"),
            ("end\"", "end\\\""),
        ];
        for (text, escaped) in cases {
            assert_eq!(with(|o| Escape::Json.push(o, text)), format!(">{escaped}"));
        }
    }
}
