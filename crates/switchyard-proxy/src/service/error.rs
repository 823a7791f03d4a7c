//! A request a service could not forward, with where in the service tree it failed.

use crate::upstream::UpstreamError;

/// A request that could not be forwarded: the cause, the service that failed (the load balancer that
/// chose a server, or the parent that had no child to pick) and the server, when one was chosen.
#[derive(Debug)]
pub(crate) struct ForwardError {
    pub(crate) cause: UpstreamError,
    pub(crate) service: String,
    pub(crate) server: Option<String>,
}

impl ForwardError {
    /// A failure of `service` itself, before any server was chosen.
    pub(crate) fn of_service(service: &str, cause: UpstreamError) -> Self {
        Self {
            cause,
            service: service.to_owned(),
            server: None,
        }
    }
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service {}", self.service)?;
        if let Some(server) = &self.server {
            write!(f, ", server {server}")?;
        }
        write!(f, ": {}", self.cause)
    }
}
