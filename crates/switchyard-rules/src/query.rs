//! Query strings read the way Go's `url.Values` reads them, without building a map.
//!
//! Pairs are separated by `&`; a pair containing `;` is dropped (Go 1.17 and later); keys and values
//! are unescaped (`+` is a space, `%XX` a byte) and a pair with an invalid escape is dropped.

use smallvec::SmallVec;

use crate::request::hex_digit;

/// One value of a query parameter, still escaped.
pub(crate) struct Value<'q> {
    raw: &'q [u8],
}

impl Value<'_> {
    /// Whether the unescaped value equals `expected`.
    pub(crate) fn equals(&self, expected: &[u8]) -> bool {
        let mut decoded = Unescape::new(self.raw);
        let mut expected = expected.iter();
        loop {
            match (decoded.next(), expected.next()) {
                (None, None) => return true,
                (Some(Ok(a)), Some(&b)) if a == b => {}
                _ => return false,
            }
        }
    }

    /// Calls `f` with the unescaped value, unescaping on the stack when it is short.
    pub(crate) fn decoded<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        if !self.raw.iter().any(|&b| b == b'%' || b == b'+') {
            return f(self.raw);
        }
        let buf: SmallVec<[u8; 128]> = Unescape::new(self.raw).map_while(Result::ok).collect();
        f(&buf)
    }
}

/// Whether any value of parameter `key` in `query` satisfies `pred`.
pub(crate) fn any_value(query: &[u8], key: &[u8], pred: impl FnMut(Value<'_>) -> bool) -> bool {
    query
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty() && !pair.contains(&b';'))
        .filter_map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            let key_matches = Value { raw: k }.equals(key);
            (key_matches && Unescape::new(v).all(|b| b.is_ok())).then_some(Value { raw: v })
        })
        .any(pred)
}

/// Go's `QueryUnescape`, byte by byte; an invalid escape yields `Err`.
struct Unescape<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Unescape<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self { raw, at: 0 }
    }
}

impl Iterator for Unescape<'_> {
    type Item = Result<u8, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let byte = *self.raw.get(self.at)?;
        self.at += 1;
        Some(match byte {
            b'+' => Ok(b' '),
            b'%' => {
                let hex = self.raw.get(self.at..self.at + 2);
                self.at = self.raw.len().min(self.at + 2);
                hex.and_then(|h| Some(hex_digit(h[0])? << 4 | hex_digit(h[1])?))
                    .ok_or(())
            }
            other => Ok(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(query: &str, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        any_value(query.as_bytes(), key.as_bytes(), |v| {
            v.decoded(|d| out.push(String::from_utf8_lossy(d).into_owned()));
            false
        });
        out
    }

    #[test]
    fn parses_like_go_url_values() {
        assert_eq!(values("a=1&a=2&b=3", "a"), ["1", "2"]);
        assert_eq!(values("a&a=", "a"), ["", ""]);
        assert_eq!(values("q=hello+world%21", "q"), ["hello world!"]);
        assert_eq!(values("my+key=v&my%20key=w", "my key"), ["v", "w"]);
        assert_eq!(values("a=1;b=2&a=3", "a"), ["3"], "pairs with ';' are dropped");
        assert_eq!(values("a=%zz&a=ok", "a"), ["ok"], "pairs with bad escapes are dropped");
        assert_eq!(values("a%zz=1&a=2", "a"), ["2"]);
        assert_eq!(values("=x&&a=b=c", "a"), ["b=c"]);
        assert!(values("", "a").is_empty());
    }

    #[test]
    fn equality_unescapes() {
        assert!(Value { raw: b"a%20b" }.equals(b"a b"));
        assert!(Value { raw: b"a+b" }.equals(b"a b"));
        assert!(!Value { raw: b"a+b" }.equals(b"a+b"));
        assert!(!Value { raw: b"ab" }.equals(b"abc"));
        assert!(!Value { raw: b"%4" }.equals(b"%4"));
    }
}
