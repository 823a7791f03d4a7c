//! `encodedCharacters`: refuses requests whose path holds encoded characters the configuration does not
//! allow (`%2F`, `%5C`, `%00`, `%3B`, `%25`, `%3F`, `%23`; each denied unless allowed), with a bare
//! `400`, as Traefik does. An escape cut short at the end of the path is refused too.

use http::{Request, Response, StatusCode};
use switchyard_config::EncodedCharacters;

use crate::stack::{OnRequest, on_request};
use crate::{BuildContext, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

struct Denied {
    /// Upper-case hex pairs of the denied characters (`2F`).
    denied: Vec<[u8; 2]>,
}

impl OnRequest for Denied {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        if self.denied.is_empty() {
            return Ok(());
        }
        let path = req.uri().path().as_bytes();
        let mut i = 0;
        while i < path.len() {
            if path[i] != b'%' {
                i += 1;
                continue;
            }
            let Some(pair) = path.get(i + 1..i + 3) else {
                return Err(bad_request());
            };
            let pair = [pair[0].to_ascii_uppercase(), pair[1].to_ascii_uppercase()];
            if self.denied.contains(&pair) {
                return Err(bad_request());
            }
            i += 3;
        }
        Ok(())
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
    Ok(on_request(Denied::new(config)))
}

impl Denied {
    fn new(config: &EncodedCharacters) -> Self {
        let rules = [
            (config.allow_encoded_slash, *b"2F"),
            (config.allow_encoded_back_slash, *b"5C"),
            (config.allow_encoded_null_character, *b"00"),
            (config.allow_encoded_semicolon, *b"3B"),
            (config.allow_encoded_percent, *b"25"),
            (config.allow_encoded_question_mark, *b"3F"),
            (config.allow_encoded_hash, *b"23"),
        ];
        Self {
            denied: rules
                .iter()
                .filter(|(allowed, _)| !allowed)
                .map(|(_, pair)| *pair)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(config: &EncodedCharacters, path: &str) -> u16 {
        let mut req = Request::builder().uri(path).body(RequestBody::empty()).unwrap();
        Denied::new(config)
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
}
