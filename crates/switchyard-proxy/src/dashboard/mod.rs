//! The dashboard (`/dashboard/` beside the internal API): a read-only page that draws the live
//! configuration from the API every two seconds — entrypoints, routers with their rules, services with
//! their servers' health, middlewares, TCP and UDP, every element's errors and warnings, and a form for
//! `/api/explain`. The page, its script and its style sheet are compiled into the binary; it loads
//! nothing from elsewhere, and its content security policy says so.
//!
//! Served wherever `api@internal` is routed when the static `api.dashboard` is on (Traefik's default);
//! the page reads the API relative to its own address, so it also works behind a `stripPrefix`.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, Response, StatusCode};
use switchyard_middleware::ResponseBody;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Nothing but this origin's own script, style and API.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's answer for `path` (`/dashboard`, `/dashboard/`, `/dashboard/app.js`, …); `None` for
/// a path outside it.
pub(crate) fn respond(path: &str) -> Option<Response<ResponseBody>> {
    let rest = path.strip_prefix("/dashboard")?;
    let (body, content_type) = match rest {
        // Relative, so that a prefix stripped in front of the API is kept.
        "" => return Some(redirect("dashboard/")),
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/app.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut response = Response::new(ResponseBody::from(Bytes::from_static(body.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}

fn redirect(to: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    response.headers_mut().insert(LOCATION, HeaderValue::from_static(to));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_served_and_nothing_else() {
        let page = respond("/dashboard/").unwrap();
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(
            page.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        assert_eq!(
            respond("/dashboard/app.js").unwrap().headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            respond("/dashboard/app.css").unwrap().headers()[CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let bare = respond("/dashboard").unwrap();
        assert_eq!(bare.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(bare.headers()[LOCATION], "dashboard/");
        assert!(respond("/dashboard/../api").is_none());
        assert!(respond("/dashboardx").is_none());
        assert!(respond("/api/overview").is_none());
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        // No CDN, no inline script: the policy above would block either.
        assert!(!INDEX.contains("http://") && !INDEX.contains("https://"));
        assert!(!INDEX.contains("<script>"));
        assert!(INDEX.contains(r#"<script src="app.js" defer></script>"#));
    }
}
