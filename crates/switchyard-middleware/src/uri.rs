//! Request paths as Go's `net/url` models them, which is what Traefik's middlewares rewrite: the decoded
//! path, plus the raw (escaped) form when it differs from the default escaping of the decoded one.

use std::fmt::Write as _;

use http::Uri;
use http::uri::PathAndQuery;

/// Go's `url.QueryEscape`, which Traefik uses for query values and header values it builds: letters,
/// digits and `-_.~` stay, a space is `+`, every other byte is `%XX`.
///
/// ```
/// assert_eq!(switchyard_middleware::query_escape("a b=c/d~"), "a+b%3Dc%2Fd~");
/// ```
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// A request path, decoded and raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoPath {
    /// The decoded path (`Path`).
    pub(crate) path: String,
    /// The escaped form when it is not the default escaping of `path` (`RawPath`), else empty.
    pub(crate) raw: String,
}

impl GoPath {
    /// Reads the path of a URI; `None` when its escapes do not decode (Go rejects such requests).
    pub(crate) fn of(uri: &Uri) -> Option<Self> {
        let raw = uri.path();
        let path = unescape(raw)?;
        let raw = if escape(&path) == raw {
            String::new()
        } else {
            raw.to_owned()
        };
        Some(Self { path, raw })
    }

    /// The escaped path to send (`EscapedPath`): the raw form if it still encodes the path, else the
    /// default escaping of the path.
    pub(crate) fn escaped(&self) -> String {
        if !self.raw.is_empty() && valid_encoded(&self.raw) && unescape(&self.raw).as_deref() == Some(&self.path) {
            return self.raw.clone();
        }
        escape(&self.path)
    }
}

/// Replaces the path of `uri` by `escaped` (an escaped path), keeping the query. An empty path is
/// sent as `/`, as Go's `RequestURI` does.
pub(crate) fn set_path(uri: &mut Uri, escaped: &str) -> bool {
    let path = if escaped.is_empty() { "/" } else { escaped };
    let value = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let Ok(path_and_query) = PathAndQuery::from_maybe_shared(value) else {
        return false;
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(path_and_query);
    match Uri::from_parts(parts) {
        Ok(new) => {
            *uri = new;
            true
        }
        Err(_) => false,
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
pub(crate) fn unescape(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Go's `shouldEscape` for paths.
fn should_escape(b: u8) -> bool {
    !(b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
        ))
}

/// Go's `escape(s, encodePath)`.
pub(crate) fn escape(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Go's `validEncoded` for paths: only characters that may appear unescaped, and escapes.
fn valid_encoded(s: &str) -> bool {
    s.bytes().all(|b| {
        matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(b)
    })
}

/// Cleans a path as Go's `url.JoinPath()` does: `.` and `..` segments resolved, repeated slashes
/// collapsed, a trailing slash kept, and a leading slash added.
pub(crate) fn join_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (path.ends_with('/') && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_is_kept_only_when_it_differs_from_the_default_escaping() {
        let plain = GoPath::of(&"/a%20b".parse().unwrap()).unwrap();
        assert_eq!(plain.path, "/a b");
        assert_eq!(plain.raw, "");
        let slash = GoPath::of(&"/a%2Fb".parse().unwrap()).unwrap();
        assert_eq!(slash.path, "/a/b");
        assert_eq!(slash.raw, "/a%2Fb");
        assert_eq!(slash.escaped(), "/a%2Fb");
        assert!(GoPath::of(&"/a%zz".parse().unwrap()).is_none());
    }

    #[test]
    fn join_path_cleans_like_go() {
        assert_eq!(join_path("/a/../b"), "/b");
        assert_eq!(join_path("//a//b/"), "/a/b/");
        assert_eq!(join_path("/"), "/");
        assert_eq!(join_path("a/./b"), "/a/b");
    }

    #[test]
    fn set_path_keeps_the_query() {
        let mut uri: Uri = "/old?x=1".parse().unwrap();
        assert!(set_path(&mut uri, "/new"));
        assert_eq!(uri, "/new?x=1");
        assert!(set_path(&mut uri, ""));
        assert_eq!(uri, "/?x=1");
    }
}
