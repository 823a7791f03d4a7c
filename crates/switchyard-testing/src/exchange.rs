//! One request sent through a [`RoutingTest`](crate::RoutingTest), and everything there is to assert
//! about it.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use switchyard_proxy::Explanation;

use crate::recorder::Received;

/// A request's trip through the gateway: the response the client got, the routing decision
/// (router, middlewares, service, from [`Snapshot::explain`](switchyard_proxy::Snapshot::explain)),
/// and what the backend received, if anything.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) explanation: Explanation,
    pub(crate) received: Vec<Received>,
}

impl Exchange {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A response header's first value, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The response body. The in-process backend answers with the URL of the server it played.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The response body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The router that took the request (`api@file`), or `None` when none matched.
    pub fn router(&self) -> Option<&str> {
        self.explanation.router.as_ref().map(|r| r.name.as_str())
    }

    /// The router's service (`api@file`, `api@internal`…).
    pub fn service(&self) -> Option<&str> {
        self.explanation.service.as_ref().map(|s| s.name.as_str())
    }

    /// The middlewares in front of the service, outermost first: the entrypoint's, the router's, the
    /// service's own. A middleware that answers by itself (a redirect) stops the ones after it.
    pub fn middlewares(&self) -> Vec<&str> {
        self.explanation.middlewares.iter().map(String::as_str).collect()
    }

    /// Where a redirect sends the client: the `Location` of a 3xx answer.
    pub fn redirect(&self) -> Option<&str> {
        self.status.is_redirection().then(|| self.header("location")).flatten()
    }

    /// The request the backend received, or `None` when nothing reached a backend (no router, a
    /// redirect, a middleware that refused it).
    pub fn received(&self) -> Option<&Received> {
        self.received.first()
    }

    /// Every request backends received during the exchange (a retry sends several; mirrors' copies
    /// may arrive after the exchange ends and are then not here).
    pub fn all_received(&self) -> &[Received] {
        &self.received
    }

    /// The whole routing decision: the matched parts of the rule, the routers that lost, the service
    /// tree.
    pub fn explanation(&self) -> &Explanation {
        &self.explanation
    }
}
