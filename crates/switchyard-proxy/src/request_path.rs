//! What an entrypoint does to a request path before routing, in the three stages of Traefik's "Request
//! Path" security model:
//!
//! 1. **Encoded characters**: the escapes of `/`, `\`, NUL, `;`, `%`, `?` and `#` found in the path are
//!    collected here and refused after routing (400) unless the entrypoint's `http.encodedCharacters`
//!    (or an `encodedCharacters` middleware of the router) allows them.
//! 2. **Normalization**: escapes of unreserved characters are decoded (`%7E` → `~`, `%61` → `a`) and the
//!    remaining escapes upper-cased (RFC 3986 §6.2.2).
//! 3. **Sanitization** (`http.sanitizePath`, default on): `.` and `..` segments are resolved and repeated
//!    slashes merged as Go's `URL.JoinPath` does (a trailing slash stays); a raw backslash counts as a
//!    slash, as browsers and many backends read it; a `.`, `..` or empty segment carrying `;` parameters
//!    (`/..;/admin`, which servlet containers resolve as `..`) is refused.
//!
//! The result replaces the request's path, so routers match and backends receive the same path. A path
//! that needs none of this is not copied.

use bytes::Bytes;
use http::Uri;
use http::uri::PathAndQuery;
use smallvec::SmallVec;
use switchyard_middleware::EncodedSet;

/// Paths up to this many bytes are rewritten on the stack.
const INLINE: usize = 256;

type Buffer = SmallVec<[u8; INLINE]>;

/// Why a request path is refused with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding at byte {0} of the path")]
    InvalidEscape(usize),
    /// A raw backslash on an entrypoint that does not sanitize paths: backends that read it as a slash
    /// would see another path than the routers did.
    #[error("a backslash in the path, and sanitizePath is off")]
    Backslash,
    /// `/..;/`, `/.;x/` or `/;x/`: a segment that servlet containers resolve as a dot segment or drop.
    #[error("a dot segment or an empty segment with `;` parameters")]
    ParameterSegment,
    /// The rewritten request target does not parse (not expected: it is made of the bytes of one that
    /// did, slashes and unreserved characters).
    #[error("the cleaned request target does not parse")]
    Rebuild,
}

/// How an entrypoint treats request targets (`http.sanitizePath`, `http.encodeQuerySemicolons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TargetPolicy {
    /// Resolve dot segments and merge slashes.
    pub(crate) sanitize: bool,
    /// Keep `;` in queries as data (`%3B`) rather than reading it as `&`, as Go does by default.
    pub(crate) encode_query_semicolons: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        Self {
            sanitize: true,
            encode_query_semicolons: false,
        }
    }
}

/// Brings the target of `uri` into the form routers match and backends receive, and returns the
/// filtered encoded characters its path holds. With `sanitize` off, only normalization applies to the
/// path; a `;` in the query becomes `&` (or `%3B` with `encode_query_semicolons`).
pub(crate) fn clean(uri: &mut Uri, policy: TargetPolicy) -> Result<EncodedSet, PathError> {
    let semicolons = uri.query().is_some_and(|q| q.contains(';'));
    let path = uri.path().as_bytes();
    if !needs_work(path, policy.sanitize)? {
        if semicolons {
            let path = path.to_vec();
            replace_target(uri, &path, policy)?;
        }
        return Ok(EncodedSet::NONE);
    }
    let (mut normalized, found) = normalize(path)?;
    // `needs_work` stops at the first escape, before a backslash further on.
    if !policy.sanitize && normalized.contains(&b'\\') {
        return Err(PathError::Backslash);
    }
    if policy.sanitize && path.starts_with(b"/") {
        for byte in normalized.iter_mut().filter(|b| **b == b'\\') {
            *byte = b'/';
        }
        if has_parameter_segment(&normalized) {
            return Err(PathError::ParameterSegment);
        }
        normalized = remove_dot_segments(&normalized);
    }
    if semicolons || normalized.as_slice() != path {
        replace_target(uri, &normalized, policy)?;
    }
    Ok(found)
}

/// The encoded characters that backends may read as path separators.
pub(crate) const SEPARATORS: EncodedSet = EncodedSet::of_byte(b'/').with(EncodedSet::of_byte(b'\\'));

/// How a backend that decodes `%2F` and `%5C` into separators reads a (cleaned) path: the escapes
/// decoded, then cleaned again. Routing this reading too catches paths whose allowed encoded slashes
/// would take them past a router that their decoded form matches.
pub(crate) fn separator_reading(uri: &Uri) -> Option<Uri> {
    let path = uri.path().as_bytes();
    let mut decoded = Buffer::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        match path.get(i..i + 3) {
            Some(b"%2F" | b"%5C") => {
                decoded.push(b'/');
                i += 3;
            }
            _ => {
                decoded.push(path[i]);
                i += 1;
            }
        }
    }
    let mut reading = uri.clone();
    replace_target(&mut reading, &remove_dot_segments(&decoded), TargetPolicy::default()).ok()?;
    Some(reading)
}

/// The quick look every request gets: whether the path holds anything the later stages could change
/// or refuse. Ordinary paths pass with one read of their bytes.
fn needs_work(path: &[u8], sanitize: bool) -> Result<bool, PathError> {
    let mut previous_slash = false;
    for (i, &byte) in path.iter().enumerate() {
        // Letters, digits and most punctuation sort above `/` and need nothing: one comparison each.
        if byte > b'/' && byte != b';' && byte != b'\\' {
            previous_slash = false;
            continue;
        }
        match byte {
            b'%' => return Ok(true),
            b'\\' if sanitize => return Ok(true),
            b'\\' => return Err(PathError::Backslash),
            b'/' if previous_slash && sanitize => return Ok(true),
            b'.' | b';' if previous_slash && sanitize && special_segment(&path[i..]) => return Ok(true),
            _ => {}
        }
        previous_slash = byte == b'/';
    }
    Ok(false)
}

/// Whether a segment (from its first byte to the path's end) is `.` or `..`, or starts like one with
/// `;` parameters after it, or is empty with parameters.
fn special_segment(rest: &[u8]) -> bool {
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let segment = &rest[..end];
    let name = segment.split(|&b| b == b';').next().unwrap_or_default();
    matches!(name, b"" | b"." | b"..")
}

/// Decodes escapes of unreserved characters and upper-cases the others; collects the filtered ones.
fn normalize(path: &[u8]) -> Result<(Buffer, EncodedSet), PathError> {
    let mut out = Buffer::with_capacity(path.len());
    let mut found = EncodedSet::NONE;
    let mut i = 0;
    while i < path.len() {
        if path[i] != b'%' {
            out.push(path[i]);
            i += 1;
            continue;
        }
        let decoded = path
            .get(i + 1..i + 3)
            .and_then(|hex| Some(hex_digit(hex[0])? << 4 | hex_digit(hex[1])?))
            .ok_or(PathError::InvalidEscape(i))?;
        if is_unreserved(decoded) {
            out.push(decoded);
        } else {
            found = found.with(EncodedSet::of_byte(decoded));
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER[usize::from(decoded >> 4)],
                HEX_UPPER[usize::from(decoded & 15)],
            ]);
        }
        i += 3;
    }
    Ok((out, found))
}

/// RFC 3986 §2.3: letters, digits, `-`, `.`, `_` and `~`, whose escapes mean the character itself.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn has_parameter_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .skip(1)
        .any(|segment| segment.contains(&b';') && special_segment(segment))
}

/// Go's `path.Clean` (single slashes, no `.` segments, `..` removing the segment before it, never above
/// the root), keeping a trailing slash as `URL.JoinPath` does.
fn remove_dot_segments(path: &[u8]) -> Buffer {
    let mut out = Buffer::with_capacity(path.len());
    out.push(b'/');
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                let parent = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(parent.max(1));
            }
            _ => {
                if out.len() > 1 {
                    out.push(b'/');
                }
                out.extend_from_slice(segment);
            }
        }
    }
    if path.ends_with(b"/") && !out.ends_with(b"/") {
        out.push(b'/');
    }
    out
}

/// Puts `path` in place of the URI's path, keeping its scheme, authority and query (whose `;` become
/// separators, or escapes with `encode_query_semicolons`).
fn replace_target(uri: &mut Uri, path: &[u8], policy: TargetPolicy) -> Result<(), PathError> {
    let query = uri.query();
    let mut target = Vec::with_capacity(path.len() + query.map_or(0, |q| q.len() * 3 + 1));
    target.extend_from_slice(path);
    if let Some(query) = query {
        target.push(b'?');
        for &byte in query.as_bytes() {
            match (byte, policy.encode_query_semicolons) {
                (b';', false) => target.push(b'&'),
                (b';', true) => target.extend_from_slice(b"%3B"),
                (byte, _) => target.push(byte),
            }
        }
    }
    let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(target)).map_err(|_| PathError::Rebuild)?;
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(path_and_query);
    *uri = Uri::from_parts(parts).map_err(|_| PathError::Rebuild)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the allocations of the current thread, to show that clean paths cost none.
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
        }

        struct Counting;

        // Test-only: forwards to the system allocator and counts calls per thread.
        #[allow(unsafe_code)]
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                ALLOCATIONS.with(|n| n.set(n.get() + 1));
                // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
                unsafe { System.alloc(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: `ptr` was allocated by `System` with `layout`, as `alloc` above did.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static COUNTING: Counting = Counting;

        /// How many allocations `f` made on this thread.
        pub(super) fn allocations(f: impl FnOnce()) -> usize {
            let before = ALLOCATIONS.with(Cell::get);
            f();
            ALLOCATIONS.with(Cell::get) - before
        }
    }

    #[test]
    fn paths_that_need_nothing_cost_no_allocation() {
        for target in [
            "/",
            "/api/v1/users/42?page=2&sort=asc",
            "/a%20b/%C3%A9",
            "/.well-known/acme",
        ] {
            let mut uri: Uri = target.parse().unwrap();
            let made = counting::allocations(|| {
                clean(&mut uri, TargetPolicy::default()).unwrap();
            });
            assert_eq!(made, 0, "{target}");
        }
        let mut uri: Uri = "/a/../b".parse().unwrap();
        assert!(
            counting::allocations(|| assert!(clean(&mut uri, TargetPolicy::default()).is_ok())) > 0,
            "the counter counts"
        );
    }

    fn cleaned(target: &str, sanitize: bool) -> Result<(String, EncodedSet), PathError> {
        let mut uri: Uri = target.parse().unwrap();
        let policy = TargetPolicy {
            sanitize,
            ..TargetPolicy::default()
        };
        let found = clean(&mut uri, policy)?;
        Ok((uri.to_string(), found))
    }

    fn path(target: &str) -> String {
        cleaned(target, true).unwrap().0
    }

    /// Found by the `request_path` fuzz target: with `sanitizePath` off, a raw backslash after an
    /// escape (`/%61/\\x`) passed, where one alone is refused.
    #[test]
    fn a_backslash_after_an_escape_is_refused_without_sanitizing() {
        assert_eq!(cleaned("/x\\y", false), Err(PathError::Backslash));
        assert_eq!(cleaned("/%61/\\x", false), Err(PathError::Backslash));
        assert_eq!(cleaned("/%61/x", false).unwrap().0, "/a/x");
    }

    /// Found by the `request_path` fuzz target: an encoded character in a segment that `..` removes
    /// is still refused, as Traefik judges encoded characters on the path as it came. Cleaning twice
    /// finds none, and that is the only way the two passes may differ.
    #[test]
    fn encoded_characters_are_judged_before_dot_segments_go() {
        let (once, found) = cleaned("/%23/../f", true).unwrap();
        assert_eq!(once, "/f");
        assert_eq!(found, EncodedSet::of_byte(b'#'));
        assert_eq!(cleaned(&once, true).unwrap(), ("/f".to_owned(), EncodedSet::NONE));
    }

    #[test]
    fn ordinary_paths_are_left_alone() {
        for target in ["/", "/a/b", "/a/b/", "/.well-known/x", "/a.b/..c/...", "/a;b=c/d", "*"] {
            assert_eq!(path(target), target);
        }
    }

    #[test]
    fn dot_segments_and_repeated_slashes_go() {
        assert_eq!(path("//admin"), "/admin");
        assert_eq!(path("/./admin"), "/admin");
        assert_eq!(path("/x/../admin"), "/admin");
        assert_eq!(path("/../../admin"), "/admin");
        assert_eq!(path("/a/b/.."), "/a");
        assert_eq!(path("/a/b/../"), "/a/");
        assert_eq!(path("/a/."), "/a");
        assert_eq!(path("/a//"), "/a/");
        assert_eq!(path("/.."), "/");
        assert_eq!(path("/x/..?q=/../"), "/?q=/../");
        assert_eq!(path("http://h.example//a/./b?x"), "http://h.example/a/b?x");
    }

    #[test]
    fn escapes_are_normalized_before_cleaning() {
        assert_eq!(path("/%2e/admin"), "/admin");
        assert_eq!(path("/x/%2E%2e/admin"), "/admin");
        assert_eq!(path("/%61dmin/%7e"), "/admin/~");
        assert_eq!(path("/a%2fb%5c"), "/a%2Fb%5C");
        assert_eq!(path("/%c0%ae%c0%ae/admin"), "/%C0%AE%C0%AE/admin");
    }

    #[test]
    fn filtered_escapes_are_collected() {
        let (_, found) = cleaned("/a%2fb%00", true).unwrap();
        assert_eq!(found, EncodedSet::of_byte(b'/').with(EncodedSet::of_byte(0)));
        let (_, found) = cleaned("/a%20b%41", true).unwrap();
        assert!(found.is_empty());
        assert_eq!(cleaned("/a%2", true), Err(PathError::InvalidEscape(2)));
        assert_eq!(cleaned("/a%g0", false), Err(PathError::InvalidEscape(2)));
    }

    #[test]
    fn backslashes_are_slashes_or_refused() {
        assert_eq!(path("/\\admin"), "/admin");
        assert_eq!(path("/x\\..\\admin"), "/admin");
        assert_eq!(cleaned("/\\admin", false), Err(PathError::Backslash));
    }

    #[test]
    fn segments_with_parameters_that_servlets_resolve_are_refused() {
        for target in ["/x/..;/admin", "/.;x/admin", "/;x/admin", "/x/%2e%2e;/admin", "/x/..;"] {
            assert_eq!(cleaned(target, true), Err(PathError::ParameterSegment), "{target}");
        }
        assert_eq!(path("/admin;jsessionid=1"), "/admin;jsessionid=1");
    }

    #[test]
    fn query_semicolons_are_separators_or_escapes() {
        assert_eq!(path("/a?x=1;y=2"), "/a?x=1&y=2");
        assert_eq!(path("/a/../b?x=1;y=2"), "/b?x=1&y=2");
        let mut uri: Uri = "/a?x=1;y=2".parse().unwrap();
        let policy = TargetPolicy {
            encode_query_semicolons: true,
            ..TargetPolicy::default()
        };
        clean(&mut uri, policy).unwrap();
        assert_eq!(uri, "/a?x=1%3By=2");
    }

    #[test]
    fn without_sanitizing_only_normalization_applies() {
        assert_eq!(cleaned("//x/../%7e", false).unwrap().0, "//x/../~");
        assert_eq!(cleaned("/x/..;/a", false).unwrap().0, "/x/..;/a");
    }
}
