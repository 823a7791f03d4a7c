//! The innermost services of a middleware stack — a load-balanced service, the internal API — and what
//! they need to know of the connection, carried in the request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use switchyard_middleware::{ClientInfo, HttpService, RequestBody, ResponseBody};

use crate::api;
use crate::forward::{self, Client, EntryHeaders, Forwarding};
use crate::interim::InterimSink;
use crate::respond::{self, status_response};
use crate::router::EntryPointContext;
use crate::service::Node;
use crate::snapshot::Snapshot;

/// What the end of a stack needs from the connection and the router, set as a request extension before
/// the stack runs. It travels with copies of the request a middleware makes (for `errors` pages, say).
#[derive(Debug, Clone)]
pub(crate) struct RouteContext {
    pub(crate) entry: Arc<EntryPointContext>,
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
        forward::set_entry_headers(parts, &self.client, &self.entry.policy);
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
                tracing::error!(target: "switchyard::proxy", "a service was called outside of a route");
                return Ok(status_response(StatusCode::INTERNAL_SERVER_ERROR));
            };
            let how = Forwarding {
                client: &context.client,
                policy: &context.entry.policy,
                entry_headers: EntryHeaders::Set,
                interim: context.interim.as_ref(),
            };
            Ok(match node.forward(parts, body, how).await {
                Ok(response) => response,
                Err(error) => respond::forward_failure(&context.router, &error),
            })
        })
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
            None => status_response(StatusCode::INTERNAL_SERVER_ERROR),
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
