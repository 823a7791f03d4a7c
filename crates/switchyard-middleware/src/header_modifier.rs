//! The internal `HeaderModifier` middleware: the Gateway API's header modifier filters, which set
//! (replace), append and remove request or response headers.

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use switchyard_config::{HeaderModifier, HeaderSide};

use crate::stack::{Around, around};
use crate::{MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

/// The edits, parsed once.
struct Edits {
    side: HeaderSide,
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl Edits {
    fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name, value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name, value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

impl Around for Edits {
    type State = ();

    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        if self.side == HeaderSide::Request {
            self.apply(req.headers_mut());
        }
        Ok(())
    }

    fn on_response(&self, (): (), mut response: Response<ResponseBody>) -> Response<ResponseBody> {
        if self.side == HeaderSide::Response {
            self.apply(response.headers_mut());
        }
        response
    }
}

fn name(field: String, name: &str) -> Result<HeaderName, MiddlewareError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| MiddlewareError::invalid(field, format!("{name:?} is not a valid header name")))
}

fn pairs(field: &str, pairs: &[(String, String)]) -> Result<Vec<(HeaderName, HeaderValue)>, MiddlewareError> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (n, v))| {
            let value = HeaderValue::from_str(v).map_err(|_| {
                MiddlewareError::invalid(format!("{field}[{i}]"), format!("{v:?} is not a valid header value"))
            })?;
            Ok((name(format!("{field}[{i}]"), n)?, value))
        })
        .collect()
}

/// Builds the middleware; a name or value that is not valid in a header is an error at its field.
pub(crate) fn header_modifier(config: &HeaderModifier) -> Result<MiddlewareLayer, MiddlewareError> {
    let remove = config
        .remove
        .iter()
        .enumerate()
        .map(|(i, n)| name(format!("remove[{i}]"), n))
        .collect::<Result<_, _>>()?;
    Ok(around(Edits {
        side: config.side,
        set: pairs("set", &config.set)?,
        add: pairs("add", &config.add)?,
        remove,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(side: HeaderSide) -> Edits {
        let config = HeaderModifier {
            side,
            set: vec![("x-set".into(), "one".into())],
            add: vec![("x-add".into(), "two".into())],
            remove: vec!["x-gone".into()],
        };
        Edits {
            side,
            set: pairs("set", &config.set).unwrap(),
            add: pairs("add", &config.add).unwrap(),
            remove: vec![name("remove".into(), "x-gone").unwrap()],
        }
    }

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-set", HeaderValue::from_static("old"));
        headers.insert("x-add", HeaderValue::from_static("first"));
        headers.insert("x-gone", HeaderValue::from_static("bye"));
        headers
    }

    #[test]
    fn set_replaces_add_appends_remove_removes() {
        let mut headers = headers();
        edits(HeaderSide::Request).apply(&mut headers);
        let all = |n: &str| {
            headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("x-set"), ["one"]);
        assert_eq!(all("x-add"), ["first", "two"]);
        assert!(all("x-gone").is_empty());
    }

    #[test]
    fn a_side_leaves_the_other_alone() {
        let step = edits(HeaderSide::Response);
        let mut req = Request::new(RequestBody::empty());
        *req.headers_mut() = headers();
        step.on_request(&mut req).unwrap();
        assert_eq!(req.headers()["x-set"], "old");
        let mut response = Response::new(ResponseBody::empty());
        *response.headers_mut() = headers();
        let response = step.on_response((), response);
        assert_eq!(response.headers()["x-set"], "one");
    }

    #[test]
    fn invalid_names_and_values_are_reported_at_their_field() {
        let config = HeaderModifier {
            add: vec![("ok".into(), "bad\nvalue".into())],
            ..HeaderModifier::default()
        };
        let error = header_modifier(&config).err().unwrap();
        assert_eq!(error.field(), "add[0]");
        let config = HeaderModifier {
            remove: vec!["bad name".into()],
            ..HeaderModifier::default()
        };
        assert_eq!(header_modifier(&config).err().unwrap().field(), "remove[0]");
    }
}
