//! The types a middleware stack is made of, and the building block most middlewares share: a step that
//! sees the request on the way in and the response on the way out.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service};

use crate::{RequestBody, ResponseBody};

/// What routes, services and middleware stacks are: a cloneable, type-erased tower service from a proxied
/// request to its response. Errors are answers (a `502`, a `401`), so the service never fails.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use switchyard_middleware::{HttpService, RequestBody, ResponseBody};
///
/// let hello = HttpService::new(tower::service_fn(|_req: Request<RequestBody>| async {
///     Ok::<_, Infallible>(Response::new(ResponseBody::from("hello")))
/// }));
/// # let _ = hello;
/// ```
pub type HttpService = BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, Infallible>;

/// Any tower service an [`HttpService`] can be made of: it answers a `Request<RequestBody>` with a
/// `Response<ResponseBody>`, never fails (errors are answers), and is `Clone + Send + Sync` with a
/// `Send` future. Implemented for every such service; the bound the constructors of layers, plugins
/// and error pages take.
///
/// ```
/// use std::convert::Infallible;
/// use switchyard_middleware::{HttpCompatible, HttpService, RequestBody, ResponseBody};
///
/// fn boxed(service: impl HttpCompatible) -> HttpService {
///     HttpService::new(service)
/// }
///
/// let empty = tower::service_fn(|_req: http::Request<RequestBody>| async {
///     Ok::<_, Infallible>(http::Response::new(ResponseBody::empty()))
/// });
/// let service: HttpService = boxed(empty);
/// # drop(service);
/// ```
pub trait HttpCompatible:
    Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> HttpCompatible for S where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// A middleware: a type-erased tower layer that wraps the rest of the stack, cheap to clone. [`build`]
/// makes one from a middleware's configuration; [`MiddlewareLayer::new`] makes one from any tower layer
/// of yours.
///
/// It layers any service an [`HttpService`] could be made of, and gives an [`HttpService`], as the
/// built-in layers of [`layers`](crate::layers) do.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use switchyard_middleware::{HttpService, MiddlewareLayer, RequestBody, ResponseBody};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // A middleware that does nothing but pass requests on.
/// let identity = MiddlewareLayer::new(tower::layer::util::Identity::new());
/// let hello = tower::service_fn(|_req: Request<RequestBody>| async {
///     Ok::<_, Infallible>(Response::new(ResponseBody::from("hello")))
/// });
/// let service: HttpService = identity.layer(hello);
/// let response = service.oneshot(Request::new(RequestBody::empty())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
///
/// [`build`]: crate::build
#[derive(Clone)]
pub struct MiddlewareLayer(Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>);

impl MiddlewareLayer {
    /// Takes any tower layer over [`HttpService`] whose service answers a `Request<RequestBody>` with a
    /// `Response<ResponseBody>`, never fails (errors are answers), and is `Clone + Send + Sync` with a
    /// `Send` future: no wrapper is needed around it or around the service it makes.
    ///
    /// A service that already is an [`HttpService`] is not boxed again, and a `MiddlewareLayer` given to
    /// `new` is returned as it is, so that wrapping costs nothing per request.
    ///
    /// ```
    /// use http::{HeaderValue, Request};
    /// use switchyard_middleware::{MiddlewareLayer, RequestBody};
    /// use tower::util::MapRequestLayer;
    ///
    /// let tag = MiddlewareLayer::new(MapRequestLayer::new(|mut req: Request<RequestBody>| {
    ///     req.headers_mut().insert("x-edge", HeaderValue::from_static("switchyard"));
    ///     req
    /// }));
    /// # let _ = tag;
    /// ```
    pub fn new<L>(layer: L) -> Self
    where
        L: Layer<HttpService> + Send + Sync + 'static,
        L::Service: HttpCompatible,
    {
        match try_downcast::<Self, L>(layer) {
            Ok(erased) => erased,
            Err(layer) => Self(Arc::new(move |inner| erase(layer.layer(inner)))),
        }
    }
}

impl<S> Layer<S> for MiddlewareLayer
where
    S: HttpCompatible,
{
    type Service = HttpService;

    fn layer(&self, inner: S) -> HttpService {
        (self.0)(erase(inner))
    }
}

impl fmt::Debug for MiddlewareLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiddlewareLayer").finish_non_exhaustive()
    }
}

/// Type-erases `service` into an [`HttpService`], without boxing it again when it already is one: each
/// box is an allocation and an indirect call per request.
pub(crate) fn erase<S>(service: S) -> HttpService
where
    S: HttpCompatible,
{
    try_downcast::<HttpService, S>(service).unwrap_or_else(HttpService::new)
}

/// `value` as a `T` when it is one, else `value` back.
fn try_downcast<T: 'static, V: 'static>(value: V) -> Result<T, V> {
    let mut slot = Some(value);
    let same = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<T>>()
        .and_then(Option::take);
    match (same, slot) {
        (Some(same), _) => Ok(same),
        (None, Some(value)) => Err(value),
        (None, None) => unreachable!("the value is taken out only when it is a `T`"),
    }
}

/// Applies `layers` around `service`, the first layer outermost (it sees the request first), as a
/// router's `middlewares` list and a `chain` are applied.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use switchyard_middleware::{chain, HttpService, RequestBody, ResponseBody};
///
/// let service = HttpService::new(tower::service_fn(|_req: Request<RequestBody>| async {
///     Ok::<_, Infallible>(Response::new(ResponseBody::empty()))
/// }));
/// let stacked = chain(&[], service);
/// # let _ = stacked;
/// ```
pub fn chain(layers: &[MiddlewareLayer], service: HttpService) -> HttpService {
    layers.iter().rev().fold(service, |inner, layer| layer.layer(inner))
}

/// The client of a request, as the connection it came on tells: set by the proxy as a request extension
/// before a middleware stack runs. Without it, middlewares see the client as `0.0.0.0` over plain HTTP.
///
/// ```
/// use switchyard_middleware::ClientInfo;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientInfo::new("192.0.2.7".parse().unwrap(), true));
/// assert!(ClientInfo::of(&req).tls);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The peer's address (after the PROXY protocol, if the entrypoint accepts it).
    pub ip: IpAddr,
    /// Whether the request came over TLS.
    pub tls: bool,
    /// The peer's port; 0 when unknown.
    pub port: u16,
    /// The TLS version of the connection (`1.3`), when the entrypoint terminated TLS.
    pub tls_version: Option<&'static str>,
    /// The connection's cipher suite by its IANA name (`TLS_AES_128_GCM_SHA256`), when the entrypoint
    /// terminated TLS.
    pub tls_cipher: Option<&'static str>,
}

impl ClientInfo {
    /// The client at `ip`, over TLS or not.
    pub fn new(ip: IpAddr, tls: bool) -> Self {
        Self {
            ip,
            tls,
            port: 0,
            tls_version: None,
            tls_cipher: None,
        }
    }

    /// The client, over a TLS session with `version` and `cipher`.
    ///
    /// ```
    /// use switchyard_middleware::ClientInfo;
    ///
    /// let client = ClientInfo::new("192.0.2.7".parse().unwrap(), true)
    ///     .with_tls_session(Some("1.3"), Some("TLS_AES_128_GCM_SHA256"));
    /// assert_eq!(client.tls_version, Some("1.3"));
    /// ```
    #[must_use]
    pub fn with_tls_session(mut self, version: Option<&'static str>, cipher: Option<&'static str>) -> Self {
        self.tls_version = version;
        self.tls_cipher = cipher;
        self
    }

    /// The client, from port `port`.
    ///
    /// ```
    /// use switchyard_middleware::ClientInfo;
    ///
    /// let client = ClientInfo::new("192.0.2.7".parse().unwrap(), false).with_port(51000);
    /// assert_eq!(client.port, 51000);
    /// ```
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The client of `req`, or `0.0.0.0` over plain HTTP when the extension is missing.
    pub fn of<B>(req: &Request<B>) -> Self {
        req.extensions()
            .get::<Self>()
            .copied()
            .unwrap_or(Self::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), false))
    }
}

/// A request extension telling the proxy not to add `X-Forwarded-For` when it forwards the request, as
/// a `headers` middleware with an empty `X-Forwarded-For` in `customRequestHeaders` asks in Traefik.
///
/// ```
/// use switchyard_middleware::OmitForwardedFor;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(OmitForwardedFor);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OmitForwardedFor;

/// A middleware step around the rest of the stack: it sees each request first and may answer it itself;
/// otherwise the request goes on and the step sees its response on the way back.
pub(crate) trait Around: Send + Sync + 'static {
    /// What the step remembers of a request for its response.
    type State: Send + 'static;

    /// Looks at (and may change) a request; `Err` answers it without going further.
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<Self::State, Response<ResponseBody>>;

    /// Shapes the response of a request that went on.
    fn on_response(&self, state: Self::State, response: Response<ResponseBody>) -> Response<ResponseBody>;
}

/// A step with nothing to do on the way back.
pub(crate) trait OnRequest: Send + Sync + 'static {
    /// Looks at (and may change) a request; `Err` answers it without going further.
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>>;
}

/// Wraps an [`OnRequest`] step so that it is an [`Around`] one.
pub(crate) struct RequestOnly<T>(pub(crate) T);

impl<T: OnRequest> Around for RequestOnly<T> {
    type State = ();

    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        self.0.on_request(req)
    }

    fn on_response(&self, (): (), response: Response<ResponseBody>) -> Response<ResponseBody> {
        response
    }
}

/// Boxes an [`Around`] step as a middleware layer.
pub(crate) fn around<T: Around>(step: T) -> MiddlewareLayer {
    MiddlewareLayer::new(AroundLayer(Arc::new(step)))
}

/// Boxes an [`OnRequest`] step as a middleware layer.
pub(crate) fn on_request<T: OnRequest>(step: T) -> MiddlewareLayer {
    around(RequestOnly(step))
}

/// The layer of an [`Around`] step.
pub(crate) struct AroundLayer<T>(Arc<T>);

impl<T> Clone for AroundLayer<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T, S> Layer<S> for AroundLayer<T> {
    type Service = AroundService<T, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            step: Arc::clone(&self.0),
            inner,
        }
    }
}

/// The service of an [`Around`] step.
pub(crate) struct AroundService<T, S> {
    step: Arc<T>,
    inner: S,
}

impl<T, S: Clone> Clone for AroundService<T, S> {
    fn clone(&self) -> Self {
        Self {
            step: Arc::clone(&self.step),
            inner: self.inner.clone(),
        }
    }
}

impl<T, S> Service<Request<RequestBody>> for AroundService<T, S>
where
    T: Around,
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Infallible>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = AroundFuture<T, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<RequestBody>) -> Self::Future {
        match self.step.on_request(&mut req) {
            Ok(state) => AroundFuture::Inner {
                future: self.inner.call(req),
                step: Arc::clone(&self.step),
                state: Some(state),
            },
            Err(response) => AroundFuture::Answered {
                response: Some(response),
            },
        }
    }
}

pin_project! {
    /// The response of an [`AroundService`]: answered by the step, or the inner service's, shaped.
    #[project = AroundProj]
    pub(crate) enum AroundFuture<T: Around, F> {
        Answered { response: Option<Response<ResponseBody>> },
        Inner { #[pin] future: F, step: Arc<T>, state: Option<T::State> },
    }
}

impl<T, F> Future for AroundFuture<T, F>
where
    T: Around,
    F: Future<Output = Result<Response<ResponseBody>, Infallible>>,
{
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AroundProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            AroundProj::Inner { future, step, state } => {
                let Ok(response) = std::task::ready!(future.poll(cx));
                match state.take() {
                    Some(state) => Poll::Ready(Ok(step.on_response(state, response))),
                    None => Poll::Pending,
                }
            }
        }
    }
}

/// The future of an [`AsyncStep`].
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// A middleware step that works asynchronously around the rest of the stack: it may wait, call the rest
/// more than once (retries) or not at all, or read the response body before answering.
pub(crate) trait AsyncStep: Send + Sync + 'static {
    /// Answers `req`, calling `inner` (the rest of the stack) as it needs.
    fn call(self: &Arc<Self>, inner: &mut HttpService, req: Request<RequestBody>) -> Answer;
}

/// Boxes an [`AsyncStep`] as a middleware layer.
pub(crate) fn async_step<T: AsyncStep>(step: Arc<T>) -> MiddlewareLayer {
    MiddlewareLayer::new(tower::layer::layer_fn(move |inner: HttpService| AsyncService {
        step: Arc::clone(&step),
        inner,
    }))
}

/// The service of an [`AsyncStep`].
struct AsyncService<T> {
    step: Arc<T>,
    inner: HttpService,
}

impl<T> Clone for AsyncService<T> {
    fn clone(&self) -> Self {
        Self {
            step: Arc::clone(&self.step),
            inner: self.inner.clone(),
        }
    }
}

impl<T: AsyncStep> Service<Request<RequestBody>> for AsyncService<T> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<RequestBody>) -> Answer {
        self.step.call(&mut self.inner, req)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use tower::ServiceExt;
    use tower::util::MapRequestLayer;

    use super::*;

    fn echo_header() -> HttpService {
        HttpService::new(tower::service_fn(|req: Request<RequestBody>| async move {
            let seen = req.headers().get("x-tag").cloned();
            let mut response = Response::new(ResponseBody::empty());
            response
                .headers_mut()
                .extend(seen.map(|v| (http::header::HeaderName::from_static("x-tag"), v)));
            Ok::<_, Infallible>(response)
        }))
    }

    #[test]
    fn try_downcast_gives_back_what_is_not_the_type() {
        assert_eq!(try_downcast::<u8, u8>(7), Ok(7));
        assert_eq!(try_downcast::<u16, u8>(7), Err(7));
    }

    #[test]
    fn a_middleware_layer_is_not_wrapped_again() {
        let layer = MiddlewareLayer::new(tower::layer::util::Identity::new());
        let again = MiddlewareLayer::new(layer.clone());
        assert!(Arc::ptr_eq(&layer.0, &again.0));
    }

    #[tokio::test]
    async fn any_tower_layer_becomes_a_middleware() {
        let tag = MiddlewareLayer::new(MapRequestLayer::new(|mut req: Request<RequestBody>| {
            req.headers_mut().insert("x-tag", HeaderValue::from_static("tagged"));
            req
        }));
        let response = tag
            .layer(echo_header())
            .oneshot(Request::new(RequestBody::empty()))
            .await
            .unwrap();
        assert_eq!(response.headers()["x-tag"], "tagged");
    }
}
