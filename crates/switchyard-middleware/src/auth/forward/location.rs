//! URL references as Go's `net/url` reads and resolves them, for the `Location` of a refusing
//! authentication server (made absolute against the server's address unless `preserveLocationHeader`)
//! and for `authSigninURL` (made absolute-path against the request's path, as `http.Redirect` does).

/// A URL reference split into its parts; `None` for an absent part (`?` alone is an empty query).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
    /// The whole text, for opaque references (`mailto:x`), which are used as they are.
    text: &'a str,
}

/// Why a reference cannot be used: what Go's `url.Parse` refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum ReferenceError {
    #[error("control character in URL")]
    ControlCharacter,
    #[error("invalid percent-escape in URL")]
    BadEscape,
    #[error("first path segment in URL cannot contain colon")]
    ColonInFirstSegment,
    #[error("invalid port in URL")]
    BadPort,
}

impl<'a> Reference<'a> {
    /// Splits `text`, refusing what Go's `url.Parse` refuses.
    pub(super) fn parse(text: &'a str) -> Result<Self, ReferenceError> {
        if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(ReferenceError::ControlCharacter);
        }
        let (rest, fragment) = split(text, '#');
        check_escapes(fragment.unwrap_or(""))?;
        let (rest, query) = split(rest, '?');
        let (scheme, rest) = split_scheme(rest)?;
        let (authority, path) = split_authority(rest);
        if let Some(authority) = authority {
            check_port(authority)?;
            check_escapes(authority)?;
        }
        check_escapes(path)?;
        Ok(Self {
            scheme,
            authority,
            path,
            query,
            fragment,
            text,
        })
    }

    fn is_opaque(&self) -> bool {
        self.scheme.is_some() && self.authority.is_none() && !self.path.starts_with('/')
    }

    /// `self` resolved against `base` (RFC 3986 §5.2, as Go's `URL.ResolveReference`), written out.
    pub(super) fn resolve(&self, base: &Reference<'_>) -> String {
        if self.is_opaque() {
            return self.text.to_owned();
        }
        let scheme = self.scheme.or(base.scheme);
        let (authority, path) = if self.scheme.is_some() || self.authority.is_some() {
            (self.authority, remove_dot_segments(self.path, ""))
        } else {
            (base.authority, remove_dot_segments(base.path, self.path))
        };
        // An empty reference keeps the base's query, and its fragment unless it has one.
        let (query, fragment) =
            if self.scheme.is_none() && self.authority.is_none() && self.path.is_empty() && self.query.is_none() {
                (base.query, self.fragment.or(base.fragment))
            } else {
                (self.query, self.fragment)
            };
        write_url(scheme, authority, &path, query, fragment)
    }
}

/// A URL written from its parts (the scheme lowercased).
fn write_url(
    scheme: Option<&str>,
    authority: Option<&str>,
    path: &str,
    query: Option<&str>,
    fragment: Option<&str>,
) -> String {
    let mut out = String::new();
    if let Some(scheme) = scheme {
        out.push_str(&scheme.to_ascii_lowercase());
        out.push(':');
    }
    push_part(&mut out, "//", authority);
    out.push_str(path);
    push_part(&mut out, "?", query);
    push_part(&mut out, "#", fragment);
    out
}

/// Appends a part that is present, after its delimiter.
fn push_part(out: &mut String, delimiter: &str, part: Option<&str>) {
    if let Some(part) = part {
        out.push_str(delimiter);
        out.push_str(part);
    }
}

/// The scheme of a reference (without its query and fragment), and the rest; a colon before any `/`
/// that does not end a scheme is refused.
fn split_scheme(rest: &str) -> Result<(Option<&str>, &str), ReferenceError> {
    match rest.split_once(':') {
        Some((scheme, after)) if is_scheme(scheme) => Ok((Some(scheme), after)),
        Some((first, _)) if !first.contains('/') => Err(ReferenceError::ColonInFirstSegment),
        _ => Ok((None, rest)),
    }
}

/// The authority after `//`, if any, and the path.
fn split_authority(rest: &str) -> (Option<&str>, &str) {
    match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            (Some(&after[..end]), &after[end..])
        }
        None => (None, rest),
    }
}

fn split(text: &str, at: char) -> (&str, Option<&str>) {
    match text.split_once(at) {
        Some((before, after)) => (before, Some(after)),
        None => (text, None),
    }
}

fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn check_escapes(s: &str) -> Result<(), ReferenceError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(ReferenceError::BadEscape)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(ReferenceError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// A port after the host (past any `[v6]` literal and `user@`) must be digits.
fn check_port(authority: &str) -> Result<(), ReferenceError> {
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let after_literal = host.rfind(']').map_or(host, |end| &host[end + 1..]);
    match after_literal.rsplit_once(':') {
        Some((_, port)) if !port.bytes().all(|b| b.is_ascii_digit()) => Err(ReferenceError::BadPort),
        _ => Ok(()),
    }
}

/// Merges a reference path with its base's directory and removes `.` and `..` segments, as Go's
/// `resolvePath` does (the result starts with `/`, or is empty when both are).
fn remove_dot_segments(base: &str, reference: &str) -> String {
    let full = merge_paths(base, reference);
    if full.is_empty() {
        return String::new();
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut last = "";
    for segment in full.split('/') {
        last = segment;
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::from("/");
    out.push_str(segments.join("/").trim_start_matches('/'));
    if (last == "." || last == "..") && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// A reference path merged with its base: the base when empty, an absolute path as it is, else after
/// the base's last `/`.
fn merge_paths(base: &str, reference: &str) -> String {
    if reference.is_empty() {
        base.to_owned()
    } else if !reference.starts_with('/') {
        let dir = base.rfind('/').map_or("", |i| &base[..=i]);
        format!("{dir}{reference}")
    } else {
        reference.to_owned()
    }
}

/// The `Location` Go's `http.Redirect` writes for `url` on a request for `request_path`: a relative
/// reference is made an absolute path and cleaned (keeping a trailing `/`), and non-ASCII bytes are
/// percent-escaped. Also returns the text to put in the HTML body's link.
pub(super) fn redirect_location(url: &str, request_path: &str) -> (String, String) {
    let mut url = url.to_owned();
    if let Ok(reference) = Reference::parse(&url) {
        if reference.scheme.is_none() && reference.authority.is_none() {
            url = absolute_path(&url, request_path);
        }
    }
    let mut location = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii() {
            location.push(char::from(b));
        } else {
            location.push_str(&format!("%{b:02x}"));
        }
    }
    (location, html_escape(&url))
}

fn absolute_path(url: &str, request_path: &str) -> String {
    let old_path = if request_path.is_empty() { "/" } else { request_path };
    let joined = if url.starts_with('/') {
        url.to_owned()
    } else {
        let dir = old_path.rfind('/').map_or("", |i| &old_path[..=i]);
        format!("{dir}{url}")
    };
    let (path, query) = match joined.find('?') {
        Some(i) => joined.split_at(i),
        None => (joined.as_str(), ""),
    };
    let mut cleaned = clean(path);
    if path.ends_with('/') && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned + query
}

/// Go's `path.Clean` for a path: one slash between segments, no `.`, `..` resolved (a rooted path
/// cannot climb above `/`).
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.last().is_some_and(|s| *s != "..") {
                    segments.pop();
                } else if !rooted {
                    segments.push("..");
                }
            }
            _ => segments.push(segment),
        }
    }
    let joined = segments.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(base: &str, reference: &str) -> Result<String, ReferenceError> {
        let base = Reference::parse(base).unwrap();
        Ok(Reference::parse(reference)?.resolve(&base))
    }

    #[test]
    fn resolves_like_go() {
        let base = "http://auth.example:9000/oauth/verify?x=1";
        for (reference, expected) in [
            ("/login", "http://auth.example:9000/login"),
            ("login?next=%2F", "http://auth.example:9000/oauth/login?next=%2F"),
            ("../login", "http://auth.example:9000/login"),
            ("../../../login", "http://auth.example:9000/login"),
            ("./", "http://auth.example:9000/oauth/"),
            ("..", "http://auth.example:9000/"),
            ("?y=2", "http://auth.example:9000/oauth/verify?y=2"),
            ("#frag", "http://auth.example:9000/oauth/verify?x=1#frag"),
            ("", "http://auth.example:9000/oauth/verify?x=1"),
            ("//other.example/a", "http://other.example/a"),
            ("https://login.example/a/../b?c#d", "https://login.example/b?c#d"),
            ("HTTPS://login.example", "https://login.example"),
            ("mailto:admin@example.com", "mailto:admin@example.com"),
            ("/a//b", "http://auth.example:9000/a//b"),
        ] {
            assert_eq!(resolve(base, reference).unwrap(), expected, "{reference}");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        let base = "http://auth/";
        assert_eq!(resolve(base, "/a\nb"), Err(ReferenceError::ControlCharacter));
        assert_eq!(resolve(base, "/a%zz"), Err(ReferenceError::BadEscape));
        assert_eq!(resolve(base, "/a%2"), Err(ReferenceError::BadEscape));
        assert_eq!(resolve(base, "1a:b"), Err(ReferenceError::ColonInFirstSegment));
        assert_eq!(resolve(base, "http://host:port/"), Err(ReferenceError::BadPort));
        assert!(resolve(base, "http://[::1]:8080/").is_ok());
        assert!(resolve(base, "/a?%zz").is_ok(), "queries are not checked");
    }

    #[test]
    fn redirect_location_is_go_http_redirect() {
        let location = |url: &str, path: &str| redirect_location(url, path).0;
        assert_eq!(
            location("https://login.example/?rd=1", "/app/x"),
            "https://login.example/?rd=1"
        );
        assert_eq!(location("/login", "/app/x"), "/login");
        assert_eq!(location("login?x=1", "/app/x"), "/app/login?x=1");
        assert_eq!(location("../login/", "/app/x"), "/login/");
        assert_eq!(location("/a/./b/../c", "/"), "/a/c");
        assert_eq!(location("/é", "/"), "/%c3%a9");
        assert_eq!(redirect_location("/a?b=1&c=\"", "/").1, "/a?b=1&amp;c=&#34;");
    }
}
