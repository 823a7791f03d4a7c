//! Trace and span ids: W3C's 16- and 8-byte identifiers, their lower-case hex, and fresh random ones.

use std::fmt;

/// A trace id (128 bits); zero is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TraceId(pub(crate) u128);

/// A span id (64 bits); zero is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SpanId(pub(crate) u64);

impl TraceId {
    /// A random, valid trace id.
    pub(crate) fn random() -> Self {
        // Drawing again on zero (one chance in 2^128) is cheaper than drawing from a range.
        loop {
            let id = fastrand::u128(..);
            if id != 0 {
                return Self(id);
            }
        }
    }

    /// A trace id of 1 to 32 hex digits, zero-padded on the left (Zipkin's and Jaeger's 64-bit ids);
    /// `None` for anything else or zero.
    pub(crate) fn from_hex(hex: &str) -> Option<Self> {
        parse_hex(hex, 32).map(Self).filter(|id| id.0 != 0)
    }

    /// The id as protobuf `bytes` (big-endian).
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The 32 lower-case hex digits.
    pub(crate) fn hex(self) -> [u8; 32] {
        let mut out = [0; 32];
        #[expect(clippy::cast_possible_truncation, reason = "the id's two halves")]
        let (high, low) = ((self.0 >> 64) as u64, self.0 as u64);
        out[..16].copy_from_slice(&hex_u64(high));
        out[16..].copy_from_slice(&hex_u64(low));
        out
    }
}

impl SpanId {
    /// A random, valid span id.
    pub(crate) fn random() -> Self {
        loop {
            let id = fastrand::u64(..);
            if id != 0 {
                return Self(id);
            }
        }
    }

    /// A span id of 1 to 16 hex digits; `None` for anything else or zero.
    pub(crate) fn from_hex(hex: &str) -> Option<Self> {
        let id = parse_hex(hex, 16)?;
        u64::try_from(id).ok().map(Self).filter(|id| id.0 != 0)
    }

    /// The id as protobuf `bytes` (big-endian).
    pub(crate) fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The 16 lower-case hex digits.
    pub(crate) fn hex(self) -> [u8; 16] {
        hex_u64(self.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii(&self.hex()))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii(&self.hex()))
    }
}

/// Hex digits as text (they are ASCII by construction).
pub(crate) fn ascii(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).unwrap_or_default()
}

/// Up to `max` hex digits (either case) as a number.
fn parse_hex(hex: &str, max: usize) -> Option<u128> {
    if !(1..=max).contains(&hex.len()) {
        return None;
    }
    hex.bytes().try_fold(0u128, |id, b| {
        let digit = char::from(b).to_digit(16)?;
        Some(id << 4 | u128::from(digit))
    })
}

/// The 16 lower-case hex digits of `value`, computed eight at a time in a word (every id that goes
/// upstream is written out so).
fn hex_u64(value: u64) -> [u8; 16] {
    let (high, low) = (hex_u32(value >> 32), hex_u32(value & 0xffff_ffff));
    let mut out = [0; 16];
    out[..8].copy_from_slice(&high.to_be_bytes());
    out[8..].copy_from_slice(&low.to_be_bytes());
    out
}

/// The eight hex digits of `value` (below 2^32) as the bytes of a word, most significant first.
fn hex_u32(value: u64) -> u64 {
    // Spread the nibbles one to a byte, the most significant in the top byte.
    let mut x = value;
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more, which read `a`-`f` rather than `0`-`9`.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    x + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_write_lower_case_hex_and_refuse_zero_and_junk() {
        let trace = TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").expect("valid");
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            TraceId::from_hex("abc").map(|t| t.to_string()).as_deref(),
            Some("00000000000000000000000000000abc")
        );
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b7").map(|s| s.0),
            Some(0x00f0_67aa_0ba9_02b7)
        );
        assert_eq!(SpanId(9).to_string(), "0000000000000009");
        for bad in ["", "0", "00000000000000000000000000000000", "xyz", "+1"] {
            assert_eq!(TraceId::from_hex(bad), None, "{bad:?}");
        }
        assert_eq!(TraceId::from_hex(&"1".repeat(33)), None);
        assert_eq!(SpanId::from_hex(&"1".repeat(17)), None);
        assert_ne!(TraceId::random(), TraceId::random());
        for value in [0, 9, 10, 0xf, 0x0123_4567_89ab_cdef, u64::MAX, 0xa0b0_c0d0_e0f0_0909] {
            assert_eq!(ascii(&SpanId(value).hex()), format!("{value:016x}"));
            let trace = u128::from(value) << 64 | u128::from(!value);
            assert_eq!(ascii(&TraceId(trace).hex()), format!("{trace:032x}"));
        }
        assert_ne!(SpanId::random().0, 0);
    }
}
