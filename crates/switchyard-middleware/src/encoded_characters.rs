//! `encodedCharacters`: refuses requests whose path holds encoded characters the configuration does not
//! allow (`%2F`, `%5C`, `%00`, `%3B`, `%25`, `%3F`, `%23`; each denied unless allowed), with a bare
//! `400`, as Traefik does. An escape cut short at the end of the path is refused too.
//!
//! Entrypoints filter the same characters (`http.encodedCharacters`) after routing; a router whose
//! middlewares include `encodedCharacters` is filtered by that middleware instead, so the middleware can
//! allow per router what the entrypoint refuses.

use http::{Request, Response, StatusCode};
use switchyard_config::EncodedCharacters;

use crate::layers::builtin_layer;
use crate::stack::{OnRequest, on_request};
use crate::{BuildContext, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

/// A set of the seven encoded characters that entrypoints and the `encodedCharacters` middleware
/// filter: `%2F` (`/`), `%5C` (`\`), `%00`, `%3B` (`;`), `%25` (`%`), `%3F` (`?`) and `%23` (`#`).
///
/// ```
/// use switchyard_config::EncodedCharacters;
/// use switchyard_middleware::EncodedSet;
///
/// let denied = EncodedSet::denied_by(&EncodedCharacters { allow_encoded_slash: true, ..Default::default() });
/// assert!(!denied.intersects(EncodedSet::found_in(b"/a%2fb").unwrap()));
/// assert!(denied.intersects(EncodedSet::found_in(b"/a%3Bb").unwrap()));
/// assert!(EncodedSet::found_in(b"/cut%2").is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EncodedSet(u8);

impl EncodedSet {
    /// No character.
    pub const NONE: Self = Self(0);
    /// All seven characters: what an entrypoint refuses by default.
    pub const ALL: Self = Self(0x7f);

    /// The member for a decoded byte, if it is one of the seven.
    pub const fn of_byte(decoded: u8) -> Self {
        Self(match decoded {
            b'/' => 1,
            b'\\' => 2,
            0 => 4,
            b';' => 8,
            b'%' => 16,
            b'?' => 32,
            b'#' => 64,
            _ => 0,
        })
    }

    /// The characters a configuration does not allow.
    pub fn denied_by(config: &EncodedCharacters) -> Self {
        let allowed = [
            (config.allow_encoded_slash, b'/'),
            (config.allow_encoded_back_slash, b'\\'),
            (config.allow_encoded_null_character, 0),
            (config.allow_encoded_semicolon, b';'),
            (config.allow_encoded_percent, b'%'),
            (config.allow_encoded_question_mark, b'?'),
            (config.allow_encoded_hash, b'#'),
        ];
        allowed
            .into_iter()
            .filter(|(allow, _)| !allow)
            .fold(Self::NONE, |set, (_, byte)| set.with(Self::of_byte(byte)))
    }

    /// The characters encoded in a path (escapes in either case); `None` when an escape is cut short
    /// or holds a non-hex digit.
    pub fn found_in(path: &[u8]) -> Option<Self> {
        let mut found = Self::NONE;
        let mut i = 0;
        while i < path.len() {
            if path[i] == b'%' {
                let high = hex_value(*path.get(i + 1)?)?;
                let low = hex_value(*path.get(i + 2)?)?;
                found = found.with(Self::of_byte(high << 4 | low));
                i += 3;
            } else {
                i += 1;
            }
        }
        Some(found)
    }

    /// Both sets together.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the sets share a character.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

struct Denied(EncodedSet);

impl OnRequest for Denied {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        if self.0.is_empty() {
            return Ok(());
        }
        match EncodedSet::found_in(req.uri().path().as_bytes()) {
            Some(found) if !self.0.intersects(found) => Ok(()),
            _ => Err(bad_request()),
        }
    }
}

fn bad_request() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

pub(crate) fn encoded_characters(
    config: &EncodedCharacters,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(on_request(Denied(EncodedSet::denied_by(config))))
}

builtin_layer! {
    /// `encodedCharacters` as a tower layer: answers `400` to a request whose path has an encoded
    /// character the configuration does not allow (`%2F`, `%5C`, `%00`, `%3B`, `%25`, `%3F`, `%23`).
    ///
    /// ```
    /// use switchyard_config::EncodedCharacters;
    /// use switchyard_middleware::layers::EncodedCharactersLayer;
    ///
    /// let slashes = EncodedCharacters { allow_encoded_slash: true, ..Default::default() };
    /// let layer = EncodedCharactersLayer::new(slashes).unwrap();
    /// # let _ = layer;
    /// ```
    EncodedCharactersLayer(EncodedCharacters => |config| {
        encoded_characters(config, &BuildContext::new("encodedCharacters"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(config: &EncodedCharacters, path: &str) -> u16 {
        let mut req = Request::builder().uri(path).body(RequestBody::empty()).unwrap();
        Denied(EncodedSet::denied_by(config))
            .on_request(&mut req)
            .err()
            .map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn denied_escapes_are_refused_in_either_case() {
        let strict = EncodedCharacters::default();
        assert_eq!(status(&strict, "/a%2Fb"), 400);
        assert_eq!(status(&strict, "/a%2fb"), 400);
        assert_eq!(status(&strict, "/a%20b"), 200);
        assert_eq!(status(&strict, "/a%2"), 400);
        let slashes = EncodedCharacters {
            allow_encoded_slash: true,
            ..EncodedCharacters::default()
        };
        assert_eq!(status(&slashes, "/a%2Fb"), 200);
        assert_eq!(status(&slashes, "/a%25b"), 400);
    }

    type Allow = fn(&mut EncodedCharacters);

    #[test]
    fn each_option_allows_its_own_character_only() {
        let options: [(Allow, &str); 7] = [
            (|c| c.allow_encoded_slash = true, "%2F"),
            (|c| c.allow_encoded_back_slash = true, "%5c"),
            (|c| c.allow_encoded_null_character = true, "%00"),
            (|c| c.allow_encoded_semicolon = true, "%3b"),
            (|c| c.allow_encoded_percent = true, "%25"),
            (|c| c.allow_encoded_question_mark = true, "%3F"),
            (|c| c.allow_encoded_hash = true, "%23"),
        ];
        assert_eq!(EncodedSet::denied_by(&EncodedCharacters::default()), EncodedSet::ALL);
        for (allow, escape) in options {
            let mut config = EncodedCharacters::default();
            allow(&mut config);
            let denied = EncodedSet::denied_by(&config);
            let found = EncodedSet::found_in(format!("/a{escape}b").as_bytes()).unwrap();
            assert!(!found.is_empty() && !denied.intersects(found), "{escape} is allowed");
            assert_eq!(denied.with(found), EncodedSet::ALL, "only {escape} is allowed");
        }
    }
}
