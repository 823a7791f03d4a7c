//! `loadBalancer` services: a set of servers and the choice among them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::Response;
use http::request::Parts;

use super::weighted_round_robin::EarliestDeadline;
use crate::forward::{self, Client, EntryHeaders, ForwardOptions, ForwardedPolicy};
use crate::upstream::{Pool, UpstreamError};
use switchyard_middleware::{RequestBody, ResponseBody};

/// One server of a load balancer.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) pool: Arc<Pool>,
    pub(crate) weight: u32,
    pub(crate) preserve_path: bool,
}

/// A compiled `loadBalancer` service.
#[derive(Debug)]
pub(crate) struct LoadBalancer {
    servers: Vec<Server>,
    picker: Picker,
    pass_host_header: bool,
}

#[derive(Debug)]
enum Picker {
    /// No server can take requests (none configured, or every weight is 0).
    Empty,
    /// Equal weights: a lock-free rotation over the servers with a positive weight.
    RoundRobin { next: AtomicUsize, eligible: Vec<usize> },
    /// Unequal weights: Traefik's earliest-deadline schedule.
    Weighted(Mutex<EarliestDeadline>),
}

impl LoadBalancer {
    pub(crate) fn new(servers: Vec<Server>, pass_host_header: bool) -> Self {
        let eligible: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].weight > 0).collect();
        let first_weight = eligible.first().map(|&i| servers[i].weight);
        let picker = if eligible.is_empty() {
            Picker::Empty
        } else if eligible.iter().all(|&i| Some(servers[i].weight) == first_weight) {
            Picker::RoundRobin {
                next: AtomicUsize::new(0),
                eligible,
            }
        } else {
            Picker::Weighted(Mutex::new(EarliestDeadline::new(
                eligible.iter().map(|&i| (i, servers[i].weight)),
            )))
        };
        Self {
            servers,
            picker,
            pass_host_header,
        }
    }

    pub(crate) fn servers(&self) -> &[Server] {
        &self.servers
    }

    fn pick(&self) -> Option<&Server> {
        let index = match &self.picker {
            Picker::Empty => return None,
            Picker::RoundRobin { next, eligible } => eligible[next.fetch_add(1, Ordering::Relaxed) % eligible.len()],
            Picker::Weighted(schedule) => schedule.lock().ok()?.next()?,
        };
        self.servers.get(index)
    }

    pub(crate) async fn forward(
        &self,
        parts: Parts,
        body: RequestBody,
        client: &Client,
        policy: &ForwardedPolicy,
        entry_headers: EntryHeaders,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let server = self.pick().ok_or(UpstreamError::NoServer)?;
        let options = ForwardOptions {
            pass_host_header: self.pass_host_header,
            preserve_path: server.preserve_path,
        };
        forward::forward(&server.pool, options, parts, body, client, policy, entry_headers).await
    }
}
