//! Go string literals, the argument syntax Traefik inherits from Go's expression parser.
//!
//! Backquoted ("raw") literals are taken as written, minus carriage returns. Double-quoted
//! ("interpreted") literals understand Go's escapes: `\a \b \f \n \r \t \v \\ \"`, three-digit
//! octal `\NNN`, `\xNN`, `\uNNNN` and `\UNNNNNNNN`.

/// A problem inside a literal: the byte offset of the faulty escape within the body, and why.
pub(crate) type LiteralError = (usize, &'static str);

/// Decodes the body of a raw (backquoted) literal.
pub(crate) fn raw(body: &str) -> String {
    body.chars().filter(|&c| c != '\r').collect()
}

/// Decodes the body of an interpreted (double-quoted) literal.
pub(crate) fn interpreted(body: &str) -> Result<String, LiteralError> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i = unescape(bytes, i, &mut out)?;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| (e.utf8_error().valid_up_to(), "escapes produce invalid UTF-8"))
}

/// Decodes the escape at `bytes[start]` (a backslash) into `out`; returns the index after it.
fn unescape(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, LiteralError> {
    let Some(&kind) = bytes.get(start + 1) else {
        return Err((start, "escape sequence not terminated"));
    };
    if let Some(byte) = single_character_escape(kind) {
        out.push(byte);
        return Ok(start + 2);
    }
    match kind {
        b'0'..=b'7' => {
            out.push(octal(bytes, start)?);
            Ok(start + 4)
        }
        b'x' => {
            out.push(hex_byte(bytes, start)?);
            Ok(start + 4)
        }
        b'u' | b'U' => {
            let width = if kind == b'u' { 4 } else { 8 };
            push_unicode(bytes, start, width, out)?;
            Ok(start + 2 + width)
        }
        _ => Err((start, "unknown escape sequence")),
    }
}

/// The byte a one-character escape (`\n`, `\"`) stands for.
fn single_character_escape(kind: u8) -> Option<u8> {
    match kind {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        _ => None,
    }
}

/// The byte of the three-digit octal escape at `bytes[start]`.
fn octal(bytes: &[u8], start: usize) -> Result<u8, LiteralError> {
    let digits = bytes
        .get(start + 1..start + 4)
        .ok_or((start, "octal escape needs three digits"))?;
    let value = digits.iter().try_fold(0u32, |acc, &d| match d {
        b'0'..=b'7' => Ok(acc * 8 + u32::from(d - b'0')),
        _ => Err((start, "octal escape needs three digits")),
    })?;
    u8::try_from(value).map_err(|_| (start, "octal escape is greater than 255"))
}

/// The byte of the `\xNN` escape at `bytes[start]`.
fn hex_byte(bytes: &[u8], start: usize) -> Result<u8, LiteralError> {
    let value = hex_value(bytes, start + 2, 2).ok_or((start, "\\x needs two hex digits"))?;
    Ok(value as u8)
}

/// Decodes the `\u` (`width` 4) or `\U` (`width` 8) escape at `bytes[start]` into `out`, in UTF-8.
fn push_unicode(bytes: &[u8], start: usize, width: usize, out: &mut Vec<u8>) -> Result<(), LiteralError> {
    let value = hex_value(bytes, start + 2, width).ok_or((start, "\\u needs 4 and \\U 8 hex digits"))?;
    let c = char::from_u32(value).ok_or((start, "escape is not a valid Unicode code point"))?;
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    Ok(())
}

fn hex_value(bytes: &[u8], at: usize, width: usize) -> Option<u32> {
    let digits = bytes.get(at..at + width)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreted_escapes() {
        assert_eq!(interpreted(r#"a\tb\n\"q\"\\"#).unwrap(), "a\tb\n\"q\"\\");
        assert_eq!(interpreted(r"\x41\101\u00e9\U0001F600").unwrap(), "AAé😀");
        assert_eq!(interpreted(r"^/api/\\d+$").unwrap(), r"^/api/\d+$");
    }

    #[test]
    fn interpreted_errors_point_at_the_escape() {
        assert_eq!(interpreted(r"ab\q").unwrap_err(), (2, "unknown escape sequence"));
        assert_eq!(interpreted(r"\'").unwrap_err().1, "unknown escape sequence");
        assert_eq!(interpreted(r"x\4").unwrap_err(), (1, "octal escape needs three digits"));
        assert_eq!(interpreted(r"\400").unwrap_err().1, "octal escape is greater than 255");
        assert_eq!(interpreted(r"\xZZ").unwrap_err().1, "\\x needs two hex digits");
        assert_eq!(
            interpreted(r"\uD800").unwrap_err().1,
            "escape is not a valid Unicode code point"
        );
        assert_eq!(
            interpreted(r"ok\xff").unwrap_err(),
            (2, "escapes produce invalid UTF-8")
        );
        assert_eq!(interpreted("\\").unwrap_err().1, "escape sequence not terminated");
    }

    #[test]
    fn raw_drops_carriage_returns_only() {
        assert_eq!(raw("a\r\nb\\n"), "a\nb\\n");
    }
}
