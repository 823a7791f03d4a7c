//! `loadBalancer` services: a set of servers and the choice among them.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http::request::Parts;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use switchyard_middleware::{BoxError, RequestBody, RequestRecord, ResponseBody};

use super::ForwardError;
use super::health::{ActiveChecks, Passive, Watched};
use super::sticky::Sticky;
use crate::balancing::{Candidate, InFlight, Picker, ServerStats};
use crate::forward::{self, ForwardOptions, Forwarding};
use crate::upstream::{Pool, UpstreamError};

/// One server of a load balancer.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) pool: Arc<Pool>,
    /// Its URL, as configured; shared with the records of the requests sent to it.
    pub(crate) url: Arc<str>,
    pub(crate) weight: u32,
    pub(crate) preserve_path: bool,
    pub(crate) stats: Arc<ServerStats>,
}

impl Candidate for Server {
    fn weight(&self) -> u32 {
        self.weight
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }
}

/// A compiled `loadBalancer` service.
#[derive(Debug)]
pub(crate) struct BalancedService {
    name: Arc<str>,
    servers: Vec<Server>,
    picker: Picker,
    sticky: Option<Sticky>,
    passive: Option<Passive>,
    /// The active probes of the servers, stopped with the service.
    _active: Option<ActiveChecks>,
    checks_health: bool,
    pass_host_header: bool,
}

/// How a load balancer is built, besides its servers.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) picker: Picker,
    pub(crate) sticky: Option<Sticky>,
    pub(crate) passive: Option<Passive>,
    /// The servers' active probes, running.
    pub(crate) active: Option<ActiveChecks>,
    pub(crate) pass_host_header: bool,
}

impl BalancedService {
    pub(crate) fn new(name: Arc<str>, servers: Vec<Server>, options: Options) -> Self {
        Self {
            name,
            servers,
            picker: options.picker,
            sticky: options.sticky,
            checks_health: options.active.is_some() || options.passive.is_some(),
            passive: options.passive,
            _active: options.active,
            pass_host_header: options.pass_host_header,
        }
    }

    pub(crate) fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Whether the service can take requests, as its parents see it: with health checks, while one of
    /// its servers is in rotation; without, always.
    pub(crate) fn is_up(&self) -> bool {
        !self.checks_health || (0..self.servers.len()).any(|i| self.available(i))
    }

    /// Whether the service has health checks, and so tells parents when it goes down.
    pub(crate) fn reports_health(&self) -> bool {
        self.checks_health
    }

    /// Whether a server can take new requests.
    fn available(&self, index: usize) -> bool {
        self.servers.get(index).is_some_and(|s| s.weight > 0 && s.stats.is_up())
    }

    /// The server for the next request from `client`, and the sticky cookie to set, if any: the server
    /// the request's cookie names while it is available, else the strategy's pick.
    fn choose(&self, headers: &http::HeaderMap, client: IpAddr) -> Option<(usize, bool)> {
        if let Some(sticky) = &self.sticky {
            if let Some((index, rewrite)) = sticky.server(headers).filter(|(i, _)| self.available(*i)) {
                return Some((index, rewrite));
            }
            return self.picker.pick(&self.servers, client).map(|i| (i, true));
        }
        self.picker.pick(&self.servers, client).map(|i| (i, false))
    }

    pub(crate) async fn forward(
        self: &Arc<Self>,
        parts: Parts,
        body: RequestBody,
        how: Forwarding<'_>,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        let (index, set_cookie) = self
            .choose(&parts.headers, how.client.ip)
            .ok_or_else(|| ForwardError::of_service(&self.name, UpstreamError::NoServer))?;
        let server = &self.servers[index];
        let options = ForwardOptions {
            pass_host_header: self.pass_host_header,
            preserve_path: server.preserve_path,
        };
        // p2c and leasttime count the request in flight until its response body is done, and
        // leasttime learns the time to first byte.
        let tracked = self
            .picker
            .tracks_load()
            .then(|| (server.stats.start(), Instant::now()));
        let record = RequestRecord::of(&parts.extensions).cloned();
        let mut parts = parts;
        let attempt = record.as_deref().map(|record| {
            record.set_service(Arc::clone(&self.name));
            record.attempt(&mut parts, &server.url)
        });
        // Awaited where it is made: a future kept in a local first would take its room twice in this
        // state machine, which hyper moves whole for every request.
        let outcome = forward::forward(&server.pool, options, parts, body, how).await;
        if let Some(attempt) = attempt {
            match &outcome {
                Ok(response) => attempt.answered(response.status()),
                Err(cause) => attempt.failed(&cause.to_string()),
            }
        }
        let outcome = match tracked {
            Some((in_flight, started)) => {
                server.stats.observe(started.elapsed());
                outcome.map(|response| counted(response, in_flight))
            }
            None => outcome,
        };
        if let Some(passive) = &self.passive {
            match &outcome {
                Ok(response) if response.status().as_u16() < 500 => passive.succeeded(&server.stats),
                // The client's own fault (its body failed to stream) tells nothing of the server.
                Err(cause) if cause.status().is_client_error() => {}
                _ => passive.failed(&Watched::new(
                    Arc::clone(&self.name),
                    &server.url,
                    Arc::clone(&server.stats),
                )),
            }
        }
        let mut response = outcome.map_err(|cause| ForwardError {
            cause,
            service: self.name.to_string(),
            server: Some(server.url.to_string()),
        })?;
        if let (true, Some(sticky)) = (set_cookie, &self.sticky) {
            sticky.write(response.headers_mut(), index);
        }
        Ok(response)
    }
}

/// A response whose body keeps its request counted in flight until it is done.
fn counted(response: Response<ResponseBody>, in_flight: InFlight) -> Response<ResponseBody> {
    response.map(|body| {
        ResponseBody::new(Counted {
            body,
            _in_flight: in_flight,
        })
    })
}

pin_project! {
    /// A response body that keeps its request counted in flight until it is dropped.
    struct Counted {
        #[pin]
        body: ResponseBody,
        _in_flight: InFlight,
    }
}

impl Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
