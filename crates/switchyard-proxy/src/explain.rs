//! Why a request would go where it goes, answered from a live [`Snapshot`] without sending anything:
//! the router that wins and the parts of its rule that matched, the routers that match too and lose,
//! the middlewares in front of the service, the service and its servers.
//!
//! The request goes through the very steps a request from the wire goes through (the entrypoint's
//! checks and rewrites of the head, the entrypoint's indexed route table, the route's own checks);
//! only the losing routers are found by trying every router of the table in match order.

use std::net::{IpAddr, Ipv4Addr};

use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use serde::Serialize;
use switchyard_config::{FixedAnswer, ServiceKind};
use switchyard_rules::{MatchingRoute, RequestView};

use crate::respond::Refusal;
use crate::routing::{self, RouteInput};
use crate::service::Node;
use crate::snapshot::{RouteTarget, Snapshot, Target};

/// A request to explain: what a client would send, on which entrypoint, from where, over what.
///
/// ```
/// use switchyard_proxy::ExplainRequest;
///
/// let request = ExplainRequest::new("GET", "https://api.example.com/v1/users?page=2")
///     .unwrap()
///     .entry_point("websecure")
///     .header("x-env", "prod")
///     .unwrap()
///     .client_ip("192.0.2.7".parse().unwrap());
/// assert!(request.is_tls());
/// ```
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    entry_point: Option<String>,
    method: Method,
    uri: Uri,
    host: Option<String>,
    headers: HeaderMap,
    client_ip: IpAddr,
    tls: bool,
    sni: Option<String>,
}

/// Why a request cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExplainError {
    /// The method is not a valid HTTP method.
    #[error("`{0}` is not an HTTP method")]
    Method(String),
    /// The target is neither an absolute URL nor a path.
    #[error("`{0}` is not a URL or a path")]
    Uri(String),
    /// A header name or value is invalid.
    #[error("header `{0}` is invalid")]
    Header(String),
    /// The client address is not an IP address.
    #[error("`{0}` is not an IP address")]
    ClientIp(String),
    /// No HTTP entrypoint has this name.
    #[error("no HTTP entrypoint is named `{0}`")]
    UnknownEntryPoint(String),
    /// The request names no entrypoint and the gateway has several.
    #[error("name the entrypoint: one of {0}")]
    AmbiguousEntryPoint(String),
}

impl ExplainRequest {
    /// A request for `target`: an absolute URL (`https://host/path?query`, which also sets the host and,
    /// for `https`, TLS with the host as server name) or an origin-form path (`/path?query`, with the
    /// host set by [`host`](Self::host)).
    ///
    /// ```
    /// use switchyard_proxy::ExplainRequest;
    ///
    /// let request = ExplainRequest::new("POST", "/upload").unwrap().host("files.example.com");
    /// assert!(!request.is_tls());
    /// assert!(ExplainRequest::new("G E T", "/").is_err());
    /// ```
    pub fn new(method: &str, target: &str) -> Result<Self, ExplainError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| ExplainError::Method(method.to_owned()))?;
        let uri: Uri = target.parse().map_err(|_| ExplainError::Uri(target.to_owned()))?;
        let tls = uri.scheme_str() == Some("https");
        let host = uri.host().map(str::to_owned);
        if uri.scheme().is_none() && !target.starts_with('/') {
            return Err(ExplainError::Uri(target.to_owned()));
        }
        Ok(Self {
            entry_point: None,
            method,
            sni: host.clone().filter(|_| tls),
            host: uri.authority().map(|a| a.as_str().to_owned()).or(host),
            uri: uri
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone())),
            headers: HeaderMap::new(),
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            tls,
        })
    }

    /// The entrypoint the request arrives on; without one, the gateway's only HTTP entrypoint.
    #[must_use]
    pub fn entry_point(mut self, name: impl Into<String>) -> Self {
        self.entry_point = Some(name.into());
        self
    }

    /// The `Host` the request carries (with a port if you like; it is ignored by routing).
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ExplainError> {
        let invalid = || ExplainError::Header(name.to_owned());
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        self.headers.append(name, value);
        Ok(self)
    }

    /// The client's address (for `ClientIP` rules); `0.0.0.0` when unset.
    #[must_use]
    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = ip;
        self
    }

    /// Whether the request comes over TLS, and the server name its handshake sent (which decides the
    /// TLS options the connection gets; a router whose options differ answers 421).
    #[must_use]
    pub fn tls(mut self, tls: bool, server_name: Option<&str>) -> Self {
        self.tls = tls;
        self.sni = server_name.map(str::to_owned);
        self
    }

    /// Whether the request comes over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A request read back from the canary's ring: already parsed, with its host apart.
    #[allow(clippy::too_many_arguments, reason = "each is one recorded part of the request")]
    pub(crate) fn recorded(
        entry_point: String,
        method: Method,
        uri: Uri,
        host: Option<String>,
        headers: HeaderMap,
        client_ip: IpAddr,
        tls: bool,
        sni: Option<String>,
    ) -> Self {
        Self {
            entry_point: Some(entry_point),
            method,
            uri,
            host,
            headers,
            client_ip,
            tls,
            sni,
        }
    }

    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    pub(crate) fn host_header(&self) -> Option<&str> {
        self.host.as_deref()
    }

    #[cfg(test)]
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(crate) fn client(&self) -> IpAddr {
        self.client_ip
    }

    /// The request head as an entrypoint would receive it.
    fn parts(&self) -> Result<http::request::Parts, ExplainError> {
        let mut head = Request::new(());
        *head.method_mut() = self.method.clone();
        *head.uri_mut() = self.uri.clone();
        *head.headers_mut() = self.headers.clone();
        if let Some(host) = &self.host {
            let value = HeaderValue::from_str(host).map_err(|_| ExplainError::Header("host".into()))?;
            head.headers_mut().insert(HOST, value);
        }
        Ok(head.into_parts().0)
    }
}

/// How a request would be routed ([`Snapshot::explain`]); serialised as the `/api/explain` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Explanation {
    /// The entrypoint the request was explained on.
    pub entry_point: String,
    /// Whether it came over TLS (only routers with a `tls` section, or on an entrypoint with
    /// `http.tls`, serve it then).
    pub tls: bool,
    /// The path (and query) after the entrypoint's cleaning: what routers match and the backend gets.
    pub path: String,
    /// The router that takes the request, or `None` when none matches.
    pub router: Option<RouterMatch>,
    /// The routers that match too but lose to it, in match order.
    pub losers: Vec<RouterMatch>,
    /// When the entrypoint answers the request itself instead of the router's service: its status and
    /// why (no router matches, a refused path, TLS options that differ from the handshake's…).
    pub refused: Option<Refused>,
    /// The middlewares in front of the service, outermost first (the entrypoint's, the router's, the
    /// service's own).
    pub middlewares: Vec<String>,
    /// The service, with the services and servers below it.
    pub service: Option<ServiceTree>,
    /// The server the request would go to, when that is decided without sending it (one healthy
    /// server at the end of the way); `None` when the load balancer chooses per request.
    pub server: Option<String>,
}

/// A router that matches the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RouterMatch {
    /// Its qualified name.
    pub name: String,
    /// Its priority (the rule's length unless set).
    pub priority: i64,
    /// Its rule as written.
    pub rule: String,
    /// The parts of the rule that matched: matcher calls and negations, left to right.
    pub matched: Vec<String>,
}

/// The entrypoint's own answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Refused {
    /// The status it answers.
    pub status: u16,
    /// Why.
    pub reason: String,
}

/// A service and what is below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServiceTree {
    /// Its qualified name.
    pub name: String,
    /// `loadBalancer`, `weighted`, `highestRandomWeight`, `mirroring`, `failover` or `internal`.
    pub kind: &'static str,
    /// Whether it can take requests, as health checks see it.
    pub up: bool,
    /// A load balancer's servers.
    pub servers: Vec<ServerState>,
    /// The services below: weighted children (with their weights), a mirroring's main service then
    /// its mirrors, a failover's main service then its fallback.
    pub children: Vec<ChildService>,
}

/// A server of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerState {
    /// Its URL.
    pub url: String,
    /// Whether health checks count it up.
    pub up: bool,
}

/// A service below another one, and its role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChildService {
    /// `weight 3`, `main`, `mirror 10%`, `fallback`.
    pub role: String,
    /// The service.
    pub service: ServiceTree,
}

impl Snapshot {
    /// Explains how this snapshot routes a request, without sending it anywhere.
    ///
    /// ```no_run
    /// use switchyard_proxy::ExplainRequest;
    ///
    /// # async fn run(gateway: switchyard_proxy::RunningGateway) -> Result<(), Box<dyn std::error::Error>> {
    /// let request = ExplainRequest::new("GET", "http://whoami.localhost/api")?.entry_point("web");
    /// let explanation = gateway.snapshot().explain(&request)?;
    /// if let Some(router) = &explanation.router {
    ///     println!("{} (priority {}) matched on {}", router.name, router.priority, router.matched.join(" && "));
    /// }
    /// for loser in &explanation.losers {
    ///     println!("also matches: {} (priority {})", loser.name, loser.priority);
    /// }
    /// println!("through {:?} to {:?}", explanation.middlewares, explanation.server);
    /// # Ok(()) }
    /// ```
    pub fn explain(&self, request: &ExplainRequest) -> Result<Explanation, ExplainError> {
        let (input, mut parts) = self.route_input(request)?;
        let entry_point = input.entry_point;
        let selected = routing::select(self, &input, &mut parts);
        let mut explanation = Explanation {
            entry_point: self.entry_points[entry_point].name.clone(),
            tls: request.tls,
            path: parts.uri.path_and_query().map_or_else(String::new, ToString::to_string),
            router: None,
            losers: Vec::new(),
            refused: None,
            middlewares: Vec::new(),
            service: None,
            server: None,
        };
        // A head the entrypoint refuses before routing reaches no router at all.
        let refused_before_routing = matches!(
            selected,
            Err(Refusal::Host(_) | Refusal::Path(_) | Refusal::UnderscoreHeader | Refusal::OptionsStar)
        );
        if !refused_before_routing {
            self.add_routers(&input, &parts, &mut explanation);
        }
        match selected {
            Ok((target, _)) => self.add_target(target, &mut explanation),
            Err(refusal) => {
                explanation.refused = Some(Refused {
                    status: refusal.status().as_u16(),
                    reason: refusal.to_string(),
                });
            }
        }
        Ok(explanation)
    }

    /// Where a request goes, in short: what the canary compares between two configurations.
    pub(crate) fn routing_of(&self, request: &ExplainRequest) -> Result<crate::canary::RoutedTo, ExplainError> {
        let (input, mut parts) = self.route_input(request)?;
        Ok(match routing::select(self, &input, &mut parts) {
            Ok((target, _)) => crate::canary::RoutedTo {
                router: Some(target.router.to_string()),
                service: Some(self.service_of(target).to_owned()),
                middlewares: target.middlewares.to_vec(),
                status: None,
            },
            Err(refusal) => crate::canary::RoutedTo {
                router: None,
                service: None,
                middlewares: Vec::new(),
                status: Some(refusal.status().as_u16()),
            },
        })
    }

    /// What routing needs besides the head, and the head as the entrypoint receives it.
    fn route_input(&self, request: &ExplainRequest) -> Result<(RouteInput, http::request::Parts), ExplainError> {
        let entry_point = self.explained_entry_point(request.entry_point.as_deref())?;
        let input = RouteInput {
            entry_point,
            target: self.entry_points[entry_point].target,
            underscores: self.entry_points[entry_point].underscores,
            client_ip: request.client_ip.to_canonical(),
            tls: request.tls,
            tls_options: self.handshake_options(entry_point, request),
            from_wire: true,
        };
        Ok((input, request.parts()?))
    }

    /// The name of a target's service, as its router names it.
    fn service_of(&self, target: &Target) -> &str {
        let routers = &self.published.runtime.config.http.routers;
        routers
            .get(&*target.router)
            .map(|r| r.service.as_str())
            .unwrap_or_default()
    }

    /// The index of the entrypoint to explain on.
    fn explained_entry_point(&self, name: Option<&str>) -> Result<usize, ExplainError> {
        let http = || self.entry_points.iter().enumerate().filter(|(_, ep)| !ep.udp);
        match name {
            Some(name) => http()
                .find(|(_, ep)| ep.name == name)
                .map(|(i, _)| i)
                .ok_or_else(|| ExplainError::UnknownEntryPoint(name.to_owned())),
            None => {
                let all: Vec<_> = http().collect();
                match all.as_slice() {
                    [(i, _)] => Ok(*i),
                    _ => Err(ExplainError::AmbiguousEntryPoint(
                        all.iter()
                            .map(|(_, ep)| format!("`{}`", ep.name))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )),
                }
            }
        }
    }

    /// The TLS options a handshake with the request's server name would use on the entrypoint.
    #[cfg(feature = "tls")]
    fn handshake_options(&self, entry_point: usize, request: &ExplainRequest) -> Option<u32> {
        let tls = self.tls.as_ref().filter(|_| request.tls)?;
        tls.for_server_name(entry_point, request.sni.as_deref(), None)
            .map(|(id, _)| id)
    }

    #[cfg(not(feature = "tls"))]
    fn handshake_options(&self, _: usize, _: &ExplainRequest) -> Option<u32> {
        None
    }

    /// The winner and the losers, from the head as the entrypoint left it for routing.
    fn add_routers(&self, input: &RouteInput, parts: &http::request::Parts, out: &mut Explanation) {
        let Some(table) = self.table(input.entry_point, input.tls) else {
            return;
        };
        let Ok(view) = RequestView::new(parts, Some(input.client_ip)) else {
            return;
        };
        let explained = table.explain(&view);
        let mut matching = explained.matching().iter().map(router_match);
        if explained.winner().is_some() {
            out.router = matching.next();
        }
        out.losers = matching.collect();
    }

    /// The middlewares, service and server of the route taken.
    fn add_target(&self, target: &Target, out: &mut Explanation) {
        out.middlewares = target.middlewares.to_vec();
        let service = self.service_of(target);
        let trees = Trees {
            services: &self.published.runtime.config.http.services,
        };
        out.service = Some(match &target.service {
            Some(node) => trees.tree(service, node),
            None => internal(service),
        });
        out.server = target.service.as_ref().and_then(decided_server);
    }
}

fn router_match(m: &MatchingRoute<'_, RouteTarget>) -> RouterMatch {
    let route = m.route();
    RouterMatch {
        name: route.name().to_owned(),
        priority: route.priority(),
        rule: route.rule().source().to_owned(),
        matched: m.parts().iter().map(ToString::to_string).collect(),
    }
}

/// A service of the gateway's own (`api@internal`, `noop@internal`, `prometheus@internal`).
fn internal(name: &str) -> ServiceTree {
    ServiceTree {
        name: name.to_owned(),
        kind: "internal",
        up: true,
        servers: Vec::new(),
        children: Vec::new(),
    }
}

/// Compiled services as trees, named from their definitions.
struct Trees<'s> {
    services: &'s std::collections::BTreeMap<String, switchyard_config::Service>,
}

impl Trees<'_> {
    /// A compiled service as a tree.
    fn tree(&self, name: &str, node: &Node) -> ServiceTree {
        let (kind, servers, children) = match node {
            Node::Balancer(lb) => {
                let servers = lb
                    .servers()
                    .iter()
                    .map(|s| ServerState {
                        url: s.url.to_string(),
                        up: s.stats.is_up(),
                    })
                    .collect();
                ("loadBalancer", servers, Vec::new())
            }
            Node::Weighted(w) => {
                let kind = match w.pick {
                    crate::service::ChildPick::RoundRobin(_) => "weighted",
                    crate::service::ChildPick::Rendezvous => "highestRandomWeight",
                };
                let children = w
                    .children
                    .iter()
                    .map(|c| self.child(format!("weight {}", c.weight), &c.name, &c.node))
                    .collect();
                (kind, Vec::new(), children)
            }
            Node::Mirroring(m) => ("mirroring", Vec::new(), self.mirroring_children(name, m)),
            Node::Failover(f) => {
                let (main, fallback) = match self.services.get(name).map(|s| &s.kind) {
                    Some(ServiceKind::Failover(config)) => (config.service.as_str(), config.fallback.as_str()),
                    _ => ("", ""),
                };
                let children = vec![
                    self.child("main".into(), main, &f.main),
                    self.child("fallback".into(), fallback, &f.fallback),
                ];
                ("failover", Vec::new(), children)
            }
            Node::Fixed(_) => (FixedAnswer::KEY, Vec::new(), Vec::new()),
        };
        ServiceTree {
            name: name.to_owned(),
            kind,
            up: node.is_up(),
            servers,
            children,
        }
    }

    fn child(&self, role: String, name: &str, node: &Node) -> ChildService {
        ChildService {
            role,
            service: self.tree(name, node),
        }
    }

    /// A mirroring's main service, then its mirrors (named from the definition, in its order).
    fn mirroring_children(&self, name: &str, m: &crate::service::Mirroring) -> Vec<ChildService> {
        let config = match self.services.get(name).map(|s| &s.kind) {
            Some(ServiceKind::Mirroring(config)) => Some(config),
            _ => None,
        };
        let mut children = vec![self.child("main".into(), config.map_or("", |c| c.service.as_str()), &m.main)];
        children.extend(m.mirrors.iter().enumerate().map(|(i, mirror)| {
            let name = config.and_then(|c| c.mirrors.get(i)).map_or("", |c| c.name.as_str());
            self.child(format!("mirror {}%", mirror.percent), name, &mirror.node)
        }));
        children
    }
}

/// The server a request goes to when nothing is left to chance: one healthy server of a load balancer,
/// down a failover's live side, a mirroring's main service, or a weighted service's only live child.
fn decided_server(node: &Node) -> Option<String> {
    match node {
        Node::Balancer(lb) => {
            let mut up = lb.servers().iter().filter(|s| s.stats.is_up());
            let only = up.next()?;
            up.next().is_none().then(|| only.url.to_string())
        }
        Node::Weighted(w) => {
            let mut live = w.children.iter().filter(|c| c.weight > 0 && c.node.is_up());
            let only = live.next()?;
            live.next().is_none().then(|| decided_server(&only.node)).flatten()
        }
        Node::Mirroring(m) => decided_server(&m.main),
        Node::Failover(f) if f.main.is_up() => decided_server(&f.main),
        Node::Failover(f) => decided_server(&f.fallback),
        // Answers itself: no server.
        Node::Fixed(_) => None,
    }
}

impl Refusal {
    /// The status of the entrypoint's own answer.
    pub(crate) fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Host(_)
            | Self::Path(_)
            | Self::Undecodable
            | Self::UnderscoreHeader
            | Self::EncodedCharacter
            | Self::SplitView => StatusCode::BAD_REQUEST,
            Self::OptionsStar => StatusCode::OK,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            Self::ShutDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::OutsideRoute => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host(error) => write!(f, "the Host is refused: {error}"),
            Self::Path(error) => write!(f, "the path is refused: {error}"),
            Self::Undecodable => f.write_str("the path cannot be decoded for routing"),
            Self::UnderscoreHeader => {
                f.write_str("a header name has an underscore (underscoreHeadersStrategy: reject)")
            }
            Self::OptionsStar => f.write_str("`OPTIONS *` is answered by the entrypoint"),
            Self::NotFound => f.write_str("no router matches"),
            Self::EncodedCharacter => f.write_str("an encoded character in the path is not allowed on this route"),
            Self::SplitView => {
                f.write_str("allowed encoded separators would take the request to another router once decoded")
            }
            Self::Misdirected => {
                f.write_str("the router's TLS options differ from those of the handshake for this server name")
            }
            Self::ShutDown => f.write_str("the gateway is shut down"),
            Self::OutsideRoute => f.write_str("a middleware lost the request's route"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_statuses_are_the_answers_statuses() {
        let all = [
            Refusal::Undecodable,
            Refusal::UnderscoreHeader,
            Refusal::OptionsStar,
            Refusal::NotFound,
            Refusal::EncodedCharacter,
            Refusal::SplitView,
            Refusal::Misdirected,
            Refusal::ShutDown,
            Refusal::OutsideRoute,
            Refusal::Path(crate::request_path::PathError::Backslash),
        ];
        for refusal in all {
            let status = refusal.status();
            assert_eq!(refusal.into_response().status(), status);
        }
    }

    #[test]
    fn targets_parse() {
        let request = ExplainRequest::new("GET", "https://a.example:8443/x?y=1").unwrap();
        assert_eq!(request.host.as_deref(), Some("a.example:8443"));
        assert_eq!(request.sni.as_deref(), Some("a.example"));
        assert_eq!(request.uri, "/x?y=1");
        assert!(ExplainRequest::new("GET", "a.example").is_err());
    }
}
