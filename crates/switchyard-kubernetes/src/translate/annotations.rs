//! Traefik's `traefik.ingress.kubernetes.io/router.*` and `service.*` annotations.

use std::collections::BTreeMap;

use switchyard_config::{Cookie, RouterObservability, RouterTls, Sticky, TlsDomain};

use crate::error::TranslateError;

/// The prefix of every annotation read here.
pub(crate) const PREFIX: &str = "traefik.ingress.kubernetes.io/";

/// What an Ingress's `router.*` annotations ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RouterAnnotations {
    pub(crate) entry_points: Vec<String>,
    pub(crate) middlewares: Vec<String>,
    pub(crate) priority: Option<i64>,
    pub(crate) tls: Option<RouterTls>,
    pub(crate) path_matcher: Option<String>,
    pub(crate) rule_syntax: Option<String>,
    pub(crate) observability: Option<RouterObservability>,
}

/// What a Service's `service.*` annotations ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceAnnotations {
    pub(crate) sticky: Option<Sticky>,
    pub(crate) pass_host_header: Option<bool>,
    pub(crate) servers_scheme: Option<String>,
    pub(crate) servers_transport: Option<String>,
    pub(crate) native_lb: Option<bool>,
}

/// Annotations under [`PREFIX`], with the prefix removed.
struct Traefik<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> Traefik<'a> {
    fn new(annotations: Option<&'a BTreeMap<String, String>>) -> Self {
        Self(
            annotations
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| Some((key.strip_prefix(PREFIX)?, value.trim())))
                .collect(),
        )
    }

    fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| (*v).to_owned())
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.0
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, TranslateError>
    where
        T::Err: std::fmt::Display,
    {
        self.0
            .get(key)
            .map(|value| {
                value.parse::<T>().map_err(|err| TranslateError::Annotation {
                    key: format!("{PREFIX}{key}"),
                    value: (*value).to_owned(),
                    reason: err.to_string(),
                })
            })
            .transpose()
    }
}

impl RouterAnnotations {
    /// Reads an Ingress's annotations; a value that does not parse is an error for the whole Ingress.
    pub(crate) fn read(annotations: Option<&BTreeMap<String, String>>) -> Result<Self, TranslateError> {
        let a = Traefik::new(annotations);
        let tls = router_tls(&a)?;
        let path_matcher = path_matcher(&a)?;
        let observability = observability(&a)?;
        Ok(Self {
            entry_points: a.list("router.entrypoints"),
            middlewares: a.list("router.middlewares"),
            priority: a.parse("router.priority")?,
            tls,
            path_matcher,
            rule_syntax: a.text("router.rulesyntax"),
            observability,
        })
    }
}

/// `router.tls*`: TLS when asked for, or when a resolver, options or domains are named.
fn router_tls(a: &Traefik<'_>) -> Result<Option<RouterTls>, TranslateError> {
    let tls_wanted = a.parse::<bool>("router.tls")?.unwrap_or(false);
    let resolver = a.text("router.tls.certresolver");
    let options = a.text("router.tls.options");
    let domains = tls_domains(a);
    Ok(
        (tls_wanted || resolver.is_some() || options.is_some() || !domains.is_empty()).then(|| RouterTls {
            options: options.unwrap_or_default(),
            cert_resolver: resolver.unwrap_or_default(),
            domains,
        }),
    )
}

/// `router.pathmatcher`: one of the path matchers.
fn path_matcher(a: &Traefik<'_>) -> Result<Option<String>, TranslateError> {
    let path_matcher = a.text("router.pathmatcher");
    if let Some(matcher) = &path_matcher
        && !matches!(matcher.as_str(), "Path" | "PathPrefix" | "PathRegexp")
    {
        return Err(TranslateError::Annotation {
            key: format!("{PREFIX}router.pathmatcher"),
            value: matcher.clone(),
            reason: "must be one of Path, PathPrefix, PathRegexp".into(),
        });
    }
    Ok(path_matcher)
}

fn tls_domains(a: &Traefik<'_>) -> Vec<TlsDomain> {
    let mut domains: BTreeMap<u32, TlsDomain> = BTreeMap::new();
    for (key, value) in &a.0 {
        let Some(rest) = key.strip_prefix("router.tls.domains.") else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse() else { continue };
        let domain = domains.entry(index).or_default();
        match field {
            "main" => domain.main = (*value).to_owned(),
            "sans" => domain.sans = value.split(',').map(|s| s.trim().to_owned()).collect(),
            _ => {}
        }
    }
    domains.into_values().collect()
}

fn observability(a: &Traefik<'_>) -> Result<Option<RouterObservability>, TranslateError> {
    let access_logs = a.parse::<bool>("router.observability.accesslogs")?;
    let metrics = a.parse::<bool>("router.observability.metrics")?;
    let tracing = a.parse::<bool>("router.observability.tracing")?;
    let verbosity = a.text("router.observability.traceverbosity");
    if access_logs.is_none() && metrics.is_none() && tracing.is_none() && verbosity.is_none() {
        return Ok(None);
    }
    let defaults = RouterObservability::default();
    Ok(Some(RouterObservability {
        access_logs: access_logs.unwrap_or(defaults.access_logs),
        metrics: metrics.unwrap_or(defaults.metrics),
        tracing: tracing.unwrap_or(defaults.tracing),
        trace_verbosity: verbosity.unwrap_or(defaults.trace_verbosity),
    }))
}

impl ServiceAnnotations {
    /// Reads a Service's annotations; a value that does not parse is an error for every backend using
    /// the Service.
    pub(crate) fn read(annotations: Option<&BTreeMap<String, String>>) -> Result<Self, TranslateError> {
        let a = Traefik::new(annotations);
        Ok(Self {
            sticky: sticky(&a)?,
            pass_host_header: a.parse("service.passhostheader")?,
            servers_scheme: a.text("service.serversscheme"),
            servers_transport: a.text("service.serverstransport"),
            native_lb: a.parse("service.nativelb")?,
        })
    }
}

/// `service.sticky.cookie*`: a sticky cookie when asked for.
fn sticky(a: &Traefik<'_>) -> Result<Option<Sticky>, TranslateError> {
    if !a.parse::<bool>("service.sticky.cookie")?.unwrap_or(false) {
        return Ok(None);
    }
    let defaults = Cookie::default();
    Ok(Some(Sticky {
        cookie: Some(Cookie {
            name: a.text("service.sticky.cookie.name").unwrap_or_default(),
            secure: a.parse("service.sticky.cookie.secure")?.unwrap_or(false),
            http_only: a.parse("service.sticky.cookie.httponly")?.unwrap_or(false),
            same_site: a.text("service.sticky.cookie.samesite").unwrap_or_default(),
            max_age: a.parse("service.sticky.cookie.maxage")?.unwrap_or(0),
            path: a.text("service.sticky.cookie.path").unwrap_or(defaults.path),
            domain: a.text("service.sticky.cookie.domain").unwrap_or_default(),
            ..defaults
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn router_annotations_are_read() {
        let read = RouterAnnotations::read(Some(&annotations(&[
            ("router.entrypoints", "web, websecure"),
            ("router.middlewares", "default-auth@kubernetescrd"),
            ("router.priority", "42"),
            ("router.tls", "true"),
            ("router.tls.options", "default-modern@kubernetescrd"),
            ("router.tls.domains.0.main", "example.com"),
            ("router.tls.domains.0.sans", "a.example.com,b.example.com"),
        ])))
        .unwrap();
        assert_eq!(read.entry_points, ["web", "websecure"]);
        assert_eq!(read.middlewares, ["default-auth@kubernetescrd"]);
        assert_eq!(read.priority, Some(42));
        let tls = read.tls.unwrap();
        assert_eq!(tls.options, "default-modern@kubernetescrd");
        assert_eq!(tls.domains[0].sans, ["a.example.com", "b.example.com"]);
    }

    #[test]
    fn a_bad_value_names_the_annotation() {
        let error = RouterAnnotations::read(Some(&annotations(&[("router.priority", "high")]))).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("traefik.ingress.kubernetes.io/router.priority"),
            "{error}"
        );
        assert!(RouterAnnotations::read(Some(&annotations(&[("router.pathmatcher", "Regex")]))).is_err());
        assert!(ServiceAnnotations::read(Some(&annotations(&[("service.nativelb", "yes")]))).is_err());
    }

    #[test]
    fn service_annotations_set_sticky_cookie_and_transport() {
        let read = ServiceAnnotations::read(Some(&annotations(&[
            ("service.sticky.cookie", "true"),
            ("service.sticky.cookie.name", "sid"),
            ("service.sticky.cookie.secure", "true"),
            ("service.passhostheader", "false"),
            ("service.serverstransport", "default-tr@kubernetescrd"),
            ("service.nativelb", "true"),
        ])))
        .unwrap();
        let cookie = read.sticky.unwrap().cookie.unwrap();
        assert_eq!(
            (cookie.name.as_str(), cookie.secure, cookie.path.as_str()),
            ("sid", true, "/")
        );
        assert_eq!(read.pass_host_header, Some(false));
        assert_eq!(read.servers_transport.as_deref(), Some("default-tr@kubernetescrd"));
        assert_eq!(read.native_lb, Some(true));
    }
}
