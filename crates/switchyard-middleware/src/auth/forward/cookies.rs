//! `addAuthCookiesToResponse`: cookies of the authentication server's answer that replace the
//! backend's cookies of the same name in the response.

use std::collections::HashSet;

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Response};

use crate::ResponseBody;

/// The name of the cookie a `Set-Cookie` value sets, when it is a valid one (Go skips the others).
fn cookie_name(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let pair = text.split(';').next()?;
    let (name, _) = pair.split_once('=')?;
    let name = name.trim();
    let is_token = |b: u8| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b);
    (!name.is_empty() && name.bytes().all(is_token)).then_some(name)
}

/// Whether the authentication answer sets any cookie: Traefik only touches the response then.
pub(super) fn has_cookies(headers: &HeaderMap) -> bool {
    headers.get_all(SET_COOKIE).iter().any(|v| cookie_name(v).is_some())
}

/// The backend's cookies not named in `names`, then the authentication server's cookies named in
/// `names`. Cookies are passed on as written (Go re-serializes them, which can drop attributes it does
/// not know); `Set-Cookie` values without a valid cookie are dropped, as Go drops them.
pub(super) fn merge(
    mut response: Response<ResponseBody>,
    auth_cookies: &[HeaderValue],
    names: &HashSet<String>,
) -> Response<ResponseBody> {
    let backend: Vec<HeaderValue> = response.headers_mut().get_all(SET_COOKIE).iter().cloned().collect();
    let headers = response.headers_mut();
    headers.remove(SET_COOKIE);
    let kept = backend
        .into_iter()
        .filter(|v| cookie_name(v).is_some_and(|name| !names.contains(name)));
    let added = auth_cookies
        .iter()
        .filter(|v| cookie_name(v).is_some_and(|name| names.contains(name)))
        .cloned();
    for value in kept.chain(added) {
        headers.append(SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(response: &Response<ResponseBody>) -> Vec<&str> {
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn listed_auth_cookies_replace_the_backends() {
        let mut response = Response::new(ResponseBody::empty());
        for value in ["session=backend; Path=/", "theme=dark", "broken", "=nameless"] {
            response
                .headers_mut()
                .append(SET_COOKIE, HeaderValue::from_static(value));
        }
        let auth = [
            HeaderValue::from_static("session=auth; HttpOnly"),
            HeaderValue::from_static("other=x"),
        ];
        let names = HashSet::from(["session".to_owned()]);
        let merged = merge(response, &auth, &names);
        assert_eq!(cookies(&merged), ["theme=dark", "session=auth; HttpOnly"]);
        assert!(has_cookies(&HeaderMap::from_iter([(SET_COOKIE, auth[1].clone())])));
        assert!(!has_cookies(&HeaderMap::from_iter([(
            SET_COOKIE,
            HeaderValue::from_static("invalid")
        )])));
    }
}
