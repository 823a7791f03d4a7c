//! HTTPRoutes and GRPCRoutes whose hostnames intersect on one listener. The specification accepts
//! exactly one of the two there: the older route, then the first by `{namespace}/{name}`. Routes
//! are taken in that order, and a route loses a listener when a route of the other kind already
//! holds an intersecting hostname on it; it is not attached to that listener, and a parent
//! reference that kept no listener is `Accepted: False` with reason `HostnameConflict`.

use std::collections::{BTreeMap, BTreeSet};

use kube::Resource;
use serde_json::Value;

use super::routes::{RouteKind, admitted, namespace_labels, selected};
use super::spec::HttpRouteSpec;
use super::{GROUP, GatewayState, GatewayView, hostname};

/// The reason of the `Accepted: False` condition of a route that lost every listener it selects.
pub(crate) const REASON: &str = "HostnameConflict";

/// A route's claim on a listener: the hostnames it would serve there (empty: any).
struct Claim {
    kind: RouteKind,
    created: String,
    route: String,
    hosts: Vec<String>,
}

/// The listeners each route lost: (kind, `namespace/name`, Gateway `namespace/name`, listener).
#[derive(Debug, Default)]
pub(crate) struct Conflicts {
    lost: BTreeSet<(&'static str, String, String, String)>,
}

impl Conflicts {
    /// Finds the conflicts among every route of `view` on `gateways`.
    pub(crate) fn find(view: &GatewayView, gateways: &[GatewayState]) -> Self {
        let mut claims: BTreeMap<(String, String), Vec<Claim>> = BTreeMap::new();
        let http = view.http_routes.iter().map(|r| (RouteKind::Http, r.meta(), &r.spec));
        let grpc = view.grpc_routes.iter().map(|r| (RouteKind::Grpc, r.meta(), &r.spec));
        for (kind, meta, spec) in http.chain(grpc) {
            claim(view, gateways, kind, meta, spec, &mut claims);
        }
        let mut lost = BTreeSet::new();
        for ((gateway, listener), mut on_listener) in claims {
            on_listener.sort_by(|a, b| (&a.created, &a.route).cmp(&(&b.created, &b.route)));
            let mut held: Vec<&Claim> = Vec::new();
            for claim in &on_listener {
                let conflicts = held
                    .iter()
                    .any(|h| h.kind != claim.kind && intersect(&h.hosts, &claim.hosts));
                if conflicts {
                    lost.insert((
                        claim.kind.name(),
                        claim.route.clone(),
                        gateway.clone(),
                        listener.clone(),
                    ));
                } else {
                    held.push(claim);
                }
            }
        }
        Self { lost }
    }

    /// Whether route `namespace/name` of `kind` lost listener `listener` of Gateway
    /// `gateway_namespace/gateway`.
    pub(crate) fn lost(&self, kind: RouteKind, route: (&str, &str), gateway: (&str, &str), listener: &str) -> bool {
        if self.lost.is_empty() {
            return false;
        }
        self.lost.contains(&(
            kind.name(),
            format!("{}/{}", route.0, route.1),
            format!("{}/{}", gateway.0, gateway.1),
            listener.to_owned(),
        ))
    }
}

/// Records the listeners a route would attach to.
fn claim(
    view: &GatewayView,
    gateways: &[GatewayState],
    kind: RouteKind,
    meta: &kube::core::ObjectMeta,
    spec: &Value,
    claims: &mut BTreeMap<(String, String), Vec<Claim>>,
) {
    let Ok(spec) = serde_json::from_value::<HttpRouteSpec>(spec.clone()) else {
        return;
    };
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let name = meta.name.as_deref().unwrap_or_default();
    let created = meta
        .creation_timestamp
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let labels = namespace_labels(view, namespace);
    let mut seen = BTreeSet::new();
    for parent in &spec.parent_refs {
        if parent.kind.as_deref().unwrap_or("Gateway") != "Gateway" || parent.group.as_deref().unwrap_or(GROUP) != GROUP
        {
            continue;
        }
        let gateway_namespace = parent.namespace.as_deref().unwrap_or(namespace);
        let Some(gateway) = gateways
            .iter()
            .find(|g| g.namespace == gateway_namespace && g.name == parent.name)
        else {
            continue;
        };
        for listener in gateway.listeners.iter().filter(|l| selected(parent, l)) {
            if !admitted(listener, kind, namespace, &gateway.namespace, &labels) {
                continue;
            }
            let Some(hosts) = hostname::intersect(listener.hostname.as_deref(), &spec.hostnames) else {
                continue;
            };
            let at = (format!("{}/{}", gateway.namespace, gateway.name), listener.name.clone());
            if seen.insert(at.clone()) {
                claims.entry(at).or_default().push(Claim {
                    kind,
                    created: created.clone(),
                    route: format!("{namespace}/{name}"),
                    hosts,
                });
            }
        }
    }
}

/// Whether two sets of hostnames served on one listener share a host (empty is any host).
fn intersect(a: &[String], b: &[String]) -> bool {
    a.is_empty()
        || b.is_empty()
        || a.iter()
            .any(|x| b.iter().any(|y| hostname::covers(x, y) || hostname::covers(y, x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hostnames_intersect_when_one_covers_the_other_or_either_is_any() {
        assert!(intersect(&hosts(&["a.test"]), &hosts(&["a.test"])));
        assert!(intersect(&hosts(&["*.test"]), &hosts(&["a.test"])));
        assert!(intersect(&hosts(&["a.test"]), &hosts(&["*.test"])));
        assert!(intersect(&[], &hosts(&["a.test"])));
        assert!(!intersect(&hosts(&["a.test"]), &hosts(&["b.test"])));
        assert!(!intersect(&hosts(&["*.a.test"]), &hosts(&["b.test"])));
    }
}
