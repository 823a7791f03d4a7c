//! A rule's filters as middlewares and mirrors: the header modifiers as internal `HeaderModifier`
//! middlewares (which append for `add`), `CORS` and a `URLRewrite` of the hostname as `headers`
//! middlewares, `RequestRedirect` as an internal `StatusRedirect` (its status whatever the method),
//! a `URLRewrite` of the
//! path as `replacePath` or `replacePathRegex`, `RequestMirror` as mirrors of the rule's service, and
//! `ExtensionRef` as a reference to a Traefik Middleware (`<ns>-<name>@kubernetescrd`). A filter that
//! cannot be applied fails its rule (`UnsupportedValue`) rather than being skipped.

use switchyard_config::{HeaderSide, Headers, Middleware, ReplacePath, ReplacePathRegex, StatusRedirect};

use super::GatewayTranslation;
use super::spec::{Cors, HeaderModifier, HttpRouteFilter, PathModifier, RequestMirror, RequestRedirect, UrlRewrite};
use crate::translate::crd::Object;

/// What a rule's filters make.
#[derive(Debug, Default)]
pub(crate) struct Filtered {
    /// Middleware names, in the filters' order.
    pub(crate) middlewares: Vec<String>,
    /// The mirrors of the rule's service.
    pub(crate) mirrors: Vec<RequestMirror>,
}

impl GatewayTranslation<'_> {
    /// The middlewares of a rule's filters, named `<route key>-<index>`. `prefix` is the rule's
    /// `PathPrefix` value when all its matches share one (what `ReplacePrefixMatch` replaces).
    pub(crate) fn filters(
        &mut self,
        object: Object<'_>,
        filters: &[HttpRouteFilter],
        route_key: &str,
        prefix: Option<&str>,
    ) -> Result<Filtered, String> {
        let mut out = Filtered::default();
        for (i, filter) in filters.iter().enumerate() {
            let middleware = match filter.type_.as_str() {
                "RequestHeaderModifier" => headers(filter.request_header_modifier.as_ref(), true)?,
                "ResponseHeaderModifier" => headers(filter.response_header_modifier.as_ref(), false)?,
                "CORS" => cors(filter.cors.as_ref().ok_or("CORS without cors")?),
                "RequestRedirect" => redirect(
                    filter
                        .request_redirect
                        .as_ref()
                        .ok_or("RequestRedirect without requestRedirect")?,
                    prefix,
                )?,
                "URLRewrite" => {
                    let rewrite = filter.url_rewrite.as_ref().ok_or("URLRewrite without urlRewrite")?;
                    for (j, middleware) in rewrites(rewrite, prefix)?.into_iter().enumerate() {
                        let key = crate::translate::normalize(&format!("{route_key}-{i}-{j}"));
                        self.out
                            .snapshot
                            .config
                            .http
                            .middlewares
                            .insert(key.clone(), middleware);
                        out.middlewares.push(key);
                    }
                    continue;
                }
                "RequestMirror" => {
                    out.mirrors.push(
                        filter
                            .request_mirror
                            .clone()
                            .ok_or("RequestMirror without requestMirror")?,
                    );
                    continue;
                }
                "ExtensionRef" => {
                    let reference = filter
                        .extension_ref
                        .as_ref()
                        .ok_or("ExtensionRef without extensionRef")?;
                    if reference.group != crate::TRAEFIK_GROUP || reference.kind != "Middleware" {
                        return Err(format!(
                            "ExtensionRef to {}/{} is not supported (traefik.io/Middleware)",
                            reference.group, reference.kind
                        ));
                    }
                    let name = crate::translate::normalize(&format!("{}-{}", object.namespace, reference.name));
                    out.middlewares
                        .push(format!("{name}@{}", crate::translate::crd::PROVIDER));
                    continue;
                }
                other => return Err(format!("filter {other} is not supported")),
            };
            let key = crate::translate::normalize(&format!("{route_key}-{i}"));
            self.out
                .snapshot
                .config
                .http
                .middlewares
                .insert(key.clone(), middleware);
            out.middlewares.push(key);
        }
        Ok(out)
    }
}

/// A header modifier: `set` replaces a header's values, `add` appends one, `remove` removes the
/// header, on the request or on the response.
fn headers(modifier: Option<&HeaderModifier>, request: bool) -> Result<Middleware, String> {
    let modifier = modifier.ok_or("a header modifier without its settings")?;
    let pairs = |headers: &[super::spec::Header]| {
        headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect::<Vec<_>>()
    };
    Ok(Middleware::HeaderModifier(switchyard_config::HeaderModifier {
        side: if request {
            HeaderSide::Request
        } else {
            HeaderSide::Response
        },
        set: pairs(&modifier.set),
        add: pairs(&modifier.add),
        remove: modifier.remove.clone(),
    }))
}

/// `CORS` as the `headers` middleware's access-control settings; an origin with a `*` inside
/// (`https://*.example.com`) becomes a regular expression.
fn cors(cors: &Cors) -> Middleware {
    let mut headers = Headers::default();
    for origin in &cors.allow_origins {
        if origin == "*" || !origin.contains('*') {
            headers.access_control_allow_origin_list.push(origin.clone());
        } else {
            let pattern = origin.split('*').map(escape).collect::<Vec<_>>().join("[^/]*");
            headers
                .access_control_allow_origin_list_regex
                .push(format!("^{pattern}$"));
        }
    }
    headers.access_control_allow_credentials = cors.allow_credentials.unwrap_or(false);
    headers.access_control_allow_methods = cors.allow_methods.clone();
    headers.access_control_allow_headers = cors.allow_headers.clone();
    headers.access_control_expose_headers = cors.expose_headers.clone();
    headers.access_control_max_age = Some(cors.max_age.unwrap_or(5));
    headers.add_vary_header = true;
    Middleware::Headers(headers)
}

/// A regular expression matching `text` literally.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as a literal in a regex replacement.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// The URL of a request as the redirect middleware sees it: scheme, host, `:port`, path, `?query`.
const URL: &str = r"^([a-z]+)://([^/:?]+)(:[0-9]+)?";

/// `RequestRedirect` as a redirect on the request's URL with the status asked for (302 by default),
/// whatever the method.
fn redirect(redirect: &RequestRedirect, prefix: Option<&str>) -> Result<Middleware, String> {
    let status = redirect.status_code.unwrap_or(302);
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err(format!(
            "redirect status {status} is not supported (301, 302, 303, 307, 308)"
        ));
    }
    let scheme = redirect.scheme.as_deref().map_or("${1}".to_owned(), literal);
    let host = redirect.hostname.as_deref().map_or("${2}".to_owned(), literal);
    let port = match (redirect.port, redirect.scheme.as_deref()) {
        (Some(443), Some("https")) | (Some(80), Some("http")) => String::new(),
        (Some(port), _) => format!(":{port}"),
        (None, Some(_)) => String::new(),
        (None, None) => "${3}".to_owned(),
    };
    let (path_pattern, path) = path_replacement(redirect.path.as_ref(), prefix, "[^?]*", 4)?;
    Ok(Middleware::StatusRedirect(StatusRedirect {
        regex: format!(r"{URL}{path_pattern}(\?.*)?$"),
        replacement: format!("{scheme}://{host}{port}{path}${{5}}"),
        status,
    }))
}

/// The pattern of the path part (one group, number `group`) and its replacement, for a path modifier
/// or none. `rest` is what the path may hold (`[^?]*` in a URL, `.*` in a path).
fn path_replacement(
    modifier: Option<&PathModifier>,
    prefix: Option<&str>,
    rest: &str,
    group: usize,
) -> Result<(String, String), String> {
    let keep = (format!("({rest})"), format!("${{{group}}}"));
    let Some(modifier) = modifier else { return Ok(keep) };
    match modifier.type_.as_str() {
        "ReplaceFullPath" => {
            let path = modifier.replace_full_path.as_deref().unwrap_or("/");
            Ok((format!("({rest})"), literal(path)))
        }
        "ReplacePrefixMatch" => {
            let prefix = prefix.ok_or("ReplacePrefixMatch needs every match of the rule to be one PathPrefix")?;
            let prefix = escape(prefix.trim_end_matches('/'));
            let replacement = modifier.replace_prefix_match.as_deref().unwrap_or("/");
            let replacement = literal(replacement.trim_end_matches('/'));
            // `/old/x` becomes `<new>/x` and `/old` becomes `<new>`, or `/` when `<new>` is `/`.
            Ok(if replacement.is_empty() {
                (format!("{prefix}/?({rest})"), format!("/${{{group}}}"))
            } else {
                (format!("{prefix}(/{rest})?"), format!("{replacement}${{{group}}}"))
            })
        }
        other => Err(format!("path modifier {other} is not supported")),
    }
}

/// `URLRewrite`: the hostname as a `headers` middleware setting `Host`, the path as `replacePath` or
/// `replacePathRegex`.
fn rewrites(rewrite: &UrlRewrite, prefix: Option<&str>) -> Result<Vec<Middleware>, String> {
    let mut out = Vec::new();
    if let Some(hostname) = &rewrite.hostname {
        let mut headers = Headers::default();
        headers
            .custom_request_headers
            .insert("Host".to_owned(), hostname.clone());
        out.push(Middleware::Headers(headers));
    }
    if let Some(path) = &rewrite.path {
        out.push(match path.type_.as_str() {
            "ReplaceFullPath" => Middleware::ReplacePath(ReplacePath {
                path: path.replace_full_path.clone().unwrap_or_else(|| "/".to_owned()),
            }),
            _ => {
                let (pattern, replacement) = path_replacement(Some(path), prefix, ".*", 1)?;
                Middleware::ReplacePathRegex(ReplacePathRegex {
                    regex: format!("^{pattern}$"),
                    replacement,
                })
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(middleware: &Middleware, input: &str) -> String {
        let (regex, replacement) = match middleware {
            Middleware::StatusRedirect(r) => (&r.regex, &r.replacement),
            Middleware::ReplacePathRegex(r) => (&r.regex, &r.replacement),
            other => panic!("{other:?}"),
        };
        let regex = regex::Regex::new(regex).unwrap();
        assert!(regex.is_match(input), "{regex} does not match {input}");
        regex.replace_all(input, replacement.as_str()).into_owned()
    }

    fn modifier(type_: &str, value: &str) -> Option<PathModifier> {
        Some(PathModifier {
            type_: type_.into(),
            replace_full_path: Some(value.into()),
            replace_prefix_match: Some(value.into()),
        })
    }

    #[test]
    fn prefixes_are_replaced_segment_wise() {
        let rewrite = |prefix: &str, to: &str, path: &str| {
            let rewrite = UrlRewrite {
                hostname: None,
                path: modifier("ReplacePrefixMatch", to),
            };
            apply(&rewrites(&rewrite, Some(prefix)).unwrap()[0], path)
        };
        assert_eq!(rewrite("/prefix/one", "/one", "/prefix/one/two"), "/one/two");
        assert_eq!(rewrite("/prefix/one", "/one", "/prefix/one"), "/one");
        assert_eq!(rewrite("/strip-prefix", "/", "/strip-prefix/three"), "/three");
        assert_eq!(rewrite("/strip-prefix", "/", "/strip-prefix"), "/");
        assert_eq!(rewrite("/a/", "/b/", "/a/x"), "/b/x");
    }

    #[test]
    fn redirects_rebuild_the_url() {
        let redirect_to = |r: RequestRedirect, url: &str| apply(&redirect(&r, Some("/old")).unwrap(), url);
        let https = RequestRedirect {
            scheme: Some("https".into()),
            ..RequestRedirect::default()
        };
        assert_eq!(redirect_to(https, "http://a.test:8080/x?y=1"), "https://a.test/x?y=1");
        let host = RequestRedirect {
            hostname: Some("b.test".into()),
            ..RequestRedirect::default()
        };
        assert_eq!(redirect_to(host, "http://a.test:8080/x"), "http://b.test:8080/x");
        let port = RequestRedirect {
            port: Some(8443),
            path: modifier("ReplaceFullPath", "/new"),
            ..RequestRedirect::default()
        };
        assert_eq!(redirect_to(port, "http://a.test/x?q"), "http://a.test:8443/new?q");
        let prefix = RequestRedirect {
            path: modifier("ReplacePrefixMatch", "/new"),
            ..RequestRedirect::default()
        };
        assert_eq!(redirect_to(prefix, "http://a.test/old/x"), "http://a.test/new/x");
        let teapot = RequestRedirect {
            status_code: Some(418),
            ..RequestRedirect::default()
        };
        assert!(redirect(&teapot, None).is_err());
    }

    #[test]
    fn cors_origins_with_wildcards_become_patterns() {
        let Middleware::Headers(headers) = cors(&Cors {
            allow_origins: vec!["https://a.test".into(), "https://*.b.test".into()],
            ..Cors::default()
        }) else {
            panic!()
        };
        assert_eq!(headers.access_control_allow_origin_list, ["https://a.test"]);
        assert_eq!(
            headers.access_control_allow_origin_list_regex,
            ["^https://[^/]*\\.b\\.test$"]
        );
    }
}
