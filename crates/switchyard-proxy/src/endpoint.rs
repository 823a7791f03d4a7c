//! The ends of routes: a service (straight from the connection, or at the end of a middleware stack),
//! the internal API, `noop@internal`; and what the end of a stack needs to know of the connection,
//! carried in the request. [`forward`] is the one way into a service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use switchyard_middleware::{ClientInfo, HttpService, RequestBody, RequestRecord, ResponseBody};

use crate::api;
use crate::forward::{self, Client, EntryHeaders, ForwardedPolicy, Forwarding};
use crate::interim::InterimSink;
use crate::respond::{self, Refusal};
use crate::service::Node;
use crate::snapshot::Snapshot;

/// What the end of a stack needs from the connection and the router, set as a request extension before
/// the stack runs. It travels with copies of the request a middleware makes (for `errors` pages, say).
#[derive(Debug, Clone)]
pub(crate) struct RouteContext {
    /// The entrypoint's `forwardedHeaders` policy.
    pub(crate) policy: Arc<ForwardedPolicy>,
    pub(crate) client: Client,
    pub(crate) snapshot: Arc<Snapshot>,
    /// The router the request took, for the log line of a failure.
    pub(crate) router: Arc<str>,
    /// Where the backend's informational answers go.
    pub(crate) interim: Option<InterimSink>,
}

impl RouteContext {
    /// Prepares a request for a middleware stack: the entrypoint's forwarding headers, the public
    /// [`ClientInfo`] and this context.
    pub(crate) fn attach(self, parts: &mut http::request::Parts) {
        forward::set_entry_headers(parts, &self.client, &self.policy);
        parts
            .extensions
            .insert(ClientInfo::new(self.client.ip, self.client.tls));
        parts.extensions.insert(self);
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// A load-balanced service at the end of a stack.
#[derive(Debug, Clone)]
pub(crate) struct ServiceEndpoint {
    node: Node,
}

impl ServiceEndpoint {
    pub(crate) fn boxed(node: Node) -> HttpService {
        HttpService::new(Self { node })
    }
}

impl tower::Service<Request<RequestBody>> for ServiceEndpoint {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let node = self.node.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let Some(context) = parts.extensions.remove::<RouteContext>() else {
                return Ok(Refusal::OutsideRoute.into_response());
            };
            let how = Forwarding {
                client: &context.client,
                policy: &context.policy,
                entry_headers: EntryHeaders::Set,
                interim: context.interim.as_ref(),
            };
            Ok(forward(&node, parts, body, how, &context.router).await)
        })
    }
}

/// Forwards a request through a service, and answers its failure: the one entry into a service, for
/// requests straight from the connection and from the end of a middleware stack alike.
pub(crate) async fn forward(
    node: &Node,
    parts: http::request::Parts,
    body: RequestBody,
    how: Forwarding<'_>,
    router: &str,
) -> Response<ResponseBody> {
    let record = RequestRecord::of(&parts.extensions).cloned();
    match node.forward(parts, body, how).await {
        Ok(response) => response,
        Err(error) => {
            if let Some(record) = record {
                record.set_failure(&error.cause.to_string());
            }
            respond::forward_failure(router, &error)
        }
    }
}

/// The internal API at the end of a stack (a dashboard behind `basicAuth`, say).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiEndpoint;

impl tower::Service<Request<RequestBody>> for ApiEndpoint {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let (parts, _body) = req.into_parts();
        let response = match parts.extensions.get::<RouteContext>() {
            Some(context) => api::respond(&context.snapshot, &parts),
            None => Refusal::OutsideRoute.into_response(),
        };
        std::future::ready(Ok(response))
    }
}

/// `noop@internal` at the end of a stack: an empty 200 (its middlewares normally answer first).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoopEndpoint;

impl tower::Service<Request<RequestBody>> for NoopEndpoint {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<RequestBody>) -> Self::Future {
        std::future::ready(Ok(Response::new(ResponseBody::empty())))
    }
}
