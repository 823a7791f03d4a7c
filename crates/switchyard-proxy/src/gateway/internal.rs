//! What the gateway routes itself, as Traefik generates it: the API on the `traefik` entrypoint
//! (`api.insecure`), `/metrics` on `metrics.prometheus.entryPoint` (unless `manualRouting`), and one
//! redirect router per entrypoint with `http.redirections.entryPoint`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use switchyard_config::{DynamicConfig, EntryPoint, RedirectEntryPoint, Router, StaticConfig};

use super::PROMETHEUS_SERVICE;
use crate::compile::{API_SERVICE, NOOP_SERVICE};

/// The entrypoint Traefik serves its API on when `api.insecure` is set.
const API_ENTRY_POINT: &str = "traefik";

/// The internal routers and middlewares; `bound` gives the port an entrypoint listens on.
pub(super) fn internal_config(
    static_config: &StaticConfig,
    entry_points: &BTreeMap<String, EntryPoint>,
    bound: &dyn Fn(&str) -> Option<SocketAddr>,
) -> DynamicConfig {
    let mut internal = DynamicConfig::default();
    if static_config.api.as_ref().is_some_and(|api| api.debug) {
        tracing::warn!(
            target: "switchyard::api",
            "api.debug is not supported and is ignored: switchyard has no Go runtime endpoints (/debug/vars, pprof); profile with perf"
        );
    }
    if let Some(api) = static_config.api.as_ref().filter(|api| api.insecure) {
        let base = api.base_path.trim_end_matches('/');
        let rule = format!("PathPrefix(`{base}/api`) || PathPrefix(`{base}/dashboard`)");
        let mut router = Router::new(&rule, API_SERVICE);
        router.priority = i64::MAX - 1;
        router.entry_points = vec![API_ENTRY_POINT.to_owned()];
        internal.http.routers.insert("api".into(), router);
    }
    let prometheus = static_config.metrics.as_ref().and_then(|m| m.prometheus.as_ref());
    if let Some(prometheus) = prometheus.filter(|p| !p.manual_routing) {
        let mut router = Router::new("PathPrefix(`/metrics`)", PROMETHEUS_SERVICE);
        router.priority = i64::MAX - 1;
        router.entry_points = vec![prometheus.entry_point.clone()];
        internal.http.routers.insert("prometheus".into(), router);
    }
    for (name, config) in entry_points {
        if let Some(redirect) = config.http.redirections.as_ref().and_then(|r| r.entry_point.as_ref()) {
            redirection(&mut internal, name, redirect, bound);
        }
    }
    internal
}

/// `web-to-websecure@internal` with the middleware `redirect-web-to-websecure@internal`, catching every
/// host at the configured priority.
fn redirection(
    internal: &mut DynamicConfig,
    name: &str,
    redirect: &RedirectEntryPoint,
    bound: &dyn Fn(&str) -> Option<SocketAddr>,
) {
    let (target, port) = match redirect.to.strip_prefix(':') {
        Some(port) => (port.to_owned(), Some(port.to_owned())),
        None => (redirect.to.clone(), bound(&redirect.to).map(|a| a.port().to_string())),
    };
    let Some(port) = port else {
        tracing::error!(
            target: "switchyard::entrypoint",
            "entryPoints.{name}.http.redirections.entryPoint.to: entrypoint `{}` does not exist; no redirection",
            redirect.to
        );
        return;
    };
    let middleware = format!("redirect-{name}-to-{target}");
    let scheme = switchyard_config::RedirectScheme {
        scheme: redirect.scheme.clone(),
        port,
        permanent: redirect.permanent,
    };
    internal.http.middlewares.insert(
        middleware.clone(),
        switchyard_config::Middleware::RedirectScheme(scheme),
    );
    let mut router = Router::new("HostRegexp(`^.+$`)", NOOP_SERVICE);
    router.priority = redirect.priority;
    router.entry_points = vec![name.to_owned()];
    router.middlewares = vec![middleware];
    internal.http.routers.insert(format!("{name}-to-{target}"), router);
}
