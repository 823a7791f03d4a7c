//! What can go wrong setting up a routing test.

/// Why a [`RoutingTest`](crate::RoutingTest) could not start or send.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestKitError {
    /// The configuration could not be read (a missing file, YAML that does not parse).
    #[error("the configuration could not be loaded: {0}")]
    Load(String),
    /// The configuration did not go live in time.
    #[error("the configuration did not go live within {0:?}")]
    Timeout(std::time::Duration),
    /// The gateway could not start.
    #[error(transparent)]
    Gateway(#[from] switchyard_proxy::GatewayError),
    /// A request names an entrypoint the test does not have.
    #[error("no entrypoint `{0}` (the test's entrypoints are {1})")]
    UnknownEntryPoint(String, String),
    /// The request could not be explained (see [`ExplainError`](switchyard_proxy::ExplainError)).
    #[error(transparent)]
    Explain(#[from] switchyard_proxy::ExplainError),
    /// The response body could not be read.
    #[error("the response body could not be read: {0}")]
    Body(String),
}
