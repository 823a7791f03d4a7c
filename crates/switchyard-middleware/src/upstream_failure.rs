//! The mark the proxy puts on the answers it makes up when a backend could not be reached or did not
//! answer, so that middlewares can tell them from a backend's own `502`.

/// How far a failed exchange with a backend got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureStage {
    /// The service had no server to send the request to (the `503` of an empty or fully unhealthy
    /// service). Nothing was sent; Traefik does not count it as a network error.
    NoServer,
    /// Connecting or the protocol handshake failed: the request was not sent and its body was not read.
    BeforeSending,
    /// The request (or part of it) was sent, then the exchange failed (reset, response timeout): the
    /// backend may have acted on it and its body may have been partly or wholly read.
    AfterSending,
}

/// A response extension on the `502`/`503`/`504` answers the proxy builds when forwarding fails; a
/// response a backend sent never carries it.
///
/// `retry` retries only marked answers whose request was not sent; `circuitBreaker`'s
/// `NetworkErrorRatio()` and `buffering`'s `IsNetworkError()` count marked answers as network errors.
///
/// ```
/// use switchyard_middleware::{FailureStage, UpstreamFailure};
///
/// let mut response = http::Response::new(());
/// response.extensions_mut().insert(UpstreamFailure::new(FailureStage::BeforeSending));
/// let failure = UpstreamFailure::of(&response).unwrap();
/// assert!(!failure.may_have_reached_backend());
/// assert!(failure.is_network_error());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamFailure {
    stage: FailureStage,
}

impl UpstreamFailure {
    /// A failure that happened at `stage`.
    pub fn new(stage: FailureStage) -> Self {
        Self { stage }
    }

    /// The mark on `response`, if the proxy made it up.
    pub fn of<B>(response: &http::Response<B>) -> Option<Self> {
        response.extensions().get::<Self>().copied()
    }

    /// How far the exchange got.
    pub fn stage(&self) -> FailureStage {
        self.stage
    }

    /// Whether the backend may have received (part of) the request, and the request body may have been
    /// (partly) consumed.
    pub fn may_have_reached_backend(&self) -> bool {
        self.stage == FailureStage::AfterSending
    }

    /// Whether a server was picked and the exchange with it failed (connect, reset, timeout).
    pub fn is_network_error(&self) -> bool {
        self.stage != FailureStage::NoServer
    }
}
