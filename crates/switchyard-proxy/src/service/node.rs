//! Services built from other services: `weighted`, `highestRandomWeight`, `mirroring` and `failover`,
//! and the tree they form with load balancers at the leaves.
//!
//! Health flows upwards as in Traefik: a parent with `healthCheck: {}` skips children that report no
//! healthy server and reports itself down when all its children are; a load balancer reports health
//! only when it has active or passive checks. `failover` sends requests to the fallback while the main
//! service is down, and — with `errors` — replays a request to the fallback when the main service
//! answered one of the listed statuses (the request body is kept for that, up to
//! `maxRequestBodyBytes`; beyond, 413). Mirrors get copies of a share of the requests in tasks of
//! their own: their answers are discarded and they never slow down or fail the main request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use switchyard_middleware::{CodeRanges, RequestBody, ResponseBody, Resumed};

use super::ForwardError;
use super::balanced::BalancedService;
use super::fixed::Fixed;
use super::sticky::Sticky;
use crate::balancing::{EarliestDeadline, client_key, mix, name_hash, weighted_score};
use crate::forward::{Client, Forwarding};
use crate::upstream::UpstreamError;

type Forwarded<'a> = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, ForwardError>> + Send + 'a>>;

/// A compiled service: a load balancer, or a service over other services.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Balancer(Arc<BalancedService>),
    Weighted(Arc<Weighted>),
    Mirroring(Arc<Mirroring>),
    Failover(Arc<Failover>),
    /// Answers every request itself (a provider's stand-in for a backend it could not resolve).
    Fixed(Arc<Fixed>),
}

impl Node {
    /// Whether the service can take requests, as its parents see it.
    pub(crate) fn is_up(&self) -> bool {
        match self {
            Self::Balancer(lb) => lb.is_up(),
            Self::Weighted(w) => !w.checks_health || w.children.iter().any(|c| c.weight > 0 && c.node.is_up()),
            Self::Mirroring(m) => !m.checks_health || m.main.is_up(),
            Self::Failover(f) => !f.checks_health || f.main.is_up() || f.fallback.is_up(),
            Self::Fixed(_) => true,
        }
    }

    /// Whether the service tells its parents when it goes down: a load balancer with active or passive
    /// health checks, a parent with `healthCheck`.
    pub(crate) fn reports_health(&self) -> bool {
        match self {
            Self::Balancer(lb) => lb.reports_health(),
            Self::Weighted(w) => w.checks_health,
            Self::Mirroring(m) => m.checks_health,
            Self::Failover(f) => f.checks_health,
            Self::Fixed(_) => false,
        }
    }

    /// The load balancer, for a load-balancer node.
    pub(crate) fn balancer(&self) -> Option<&Arc<BalancedService>> {
        match self {
            Self::Balancer(lb) => Some(lb),
            _ => None,
        }
    }

    /// Whether two nodes are the same compiled service.
    pub(crate) fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Balancer(a), Self::Balancer(b)) => Arc::ptr_eq(a, b),
            (Self::Weighted(a), Self::Weighted(b)) => Arc::ptr_eq(a, b),
            (Self::Mirroring(a), Self::Mirroring(b)) => Arc::ptr_eq(a, b),
            (Self::Failover(a), Self::Failover(b)) => Arc::ptr_eq(a, b),
            // Stateless: the same answer is the same service, so parents over it are kept.
            (Self::Fixed(a), Self::Fixed(b)) => a == b,
            _ => false,
        }
    }

    /// Forwards a request through this service.
    pub(crate) async fn forward(
        &self,
        parts: Parts,
        body: RequestBody,
        how: Forwarding<'_>,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        match self {
            Self::Balancer(lb) => lb.forward(parts, body, how).await,
            Self::Weighted(w) => w.forward(parts, body, how).await,
            Self::Mirroring(m) => m.forward(parts, body, how).await,
            Self::Failover(f) => f.forward(parts, body, how).await,
            Self::Fixed(f) => Ok(f.respond()),
        }
    }

    fn forward_boxed<'a>(&'a self, parts: Parts, body: RequestBody, how: Forwarding<'a>) -> Forwarded<'a> {
        Box::pin(self.forward(parts, body, how))
    }
}

/// A child of a `weighted` or `highestRandomWeight` service.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) name: String,
    pub(crate) weight: u32,
    pub(crate) node: Node,
}

/// How a weighted service picks a child.
#[derive(Debug)]
pub(crate) enum ChildPick {
    /// `weighted`: weighted round robin.
    RoundRobin(Mutex<EarliestDeadline>),
    /// `highestRandomWeight`: rendezvous hashing of the client address.
    Rendezvous,
}

/// `weighted` and `highestRandomWeight` services.
#[derive(Debug)]
pub(crate) struct Weighted {
    pub(crate) name: String,
    pub(crate) children: Vec<Child>,
    pub(crate) pick: ChildPick,
    pub(crate) sticky: Option<Sticky>,
    pub(crate) checks_health: bool,
}

impl Weighted {
    pub(crate) fn new(
        name: &str,
        children: Vec<Child>,
        rendezvous: bool,
        sticky: Option<Sticky>,
        checks_health: bool,
    ) -> Self {
        let pick = if rendezvous {
            ChildPick::Rendezvous
        } else {
            ChildPick::RoundRobin(Mutex::new(EarliestDeadline::new(
                children
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.weight > 0)
                    .map(|(i, c)| (i, c.weight)),
            )))
        };
        Self {
            name: name.to_owned(),
            children,
            pick,
            sticky,
            checks_health,
        }
    }

    fn available(&self, index: usize) -> bool {
        self.children
            .get(index)
            .is_some_and(|c| c.weight > 0 && (!self.checks_health || c.node.is_up()))
    }

    fn pick(&self, client: &Client) -> Option<usize> {
        match &self.pick {
            ChildPick::RoundRobin(schedule) => {
                let mut schedule = schedule.lock().ok()?;
                (0..schedule.len())
                    .filter_map(|_| schedule.next())
                    .find(|&i| self.available(i))
            }
            ChildPick::Rendezvous => {
                let key = client_key(client.ip);
                (0..self.children.len())
                    .filter(|&i| self.available(i))
                    .map(|i| {
                        let child = &self.children[i];
                        (i, weighted_score(mix(key, name_hash(&child.name)), child.weight))
                    })
                    .fold(None, |best: Option<(usize, f64)>, (i, score)| match best {
                        Some((_, top)) if top >= score => best,
                        _ => Some((i, score)),
                    })
                    .map(|(i, _)| i)
            }
        }
    }

    async fn forward(
        &self,
        parts: Parts,
        body: RequestBody,
        how: Forwarding<'_>,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        let sticky = self
            .sticky
            .as_ref()
            .and_then(|s| s.server(&parts.headers))
            .filter(|(i, _)| self.available(*i));
        let (index, set_cookie) = match sticky {
            Some(found) => found,
            None => (
                self.pick(how.client)
                    .ok_or_else(|| ForwardError::of_service(&self.name, UpstreamError::NoServer))?,
                self.sticky.is_some(),
            ),
        };
        let mut response = self.children[index].node.forward_boxed(parts, body, how).await?;
        if let (true, Some(sticky)) = (set_cookie, &self.sticky) {
            sticky.write(response.headers_mut(), index);
        }
        Ok(response)
    }
}

/// A mirror of a `mirroring` service.
#[derive(Debug)]
pub(crate) struct Mirror {
    pub(crate) node: Node,
    pub(crate) percent: u32,
}

/// `mirroring`.
#[derive(Debug)]
pub(crate) struct Mirroring {
    pub(crate) name: String,
    pub(crate) main: Node,
    pub(crate) mirrors: Vec<Mirror>,
    pub(crate) mirror_body: bool,
    /// The largest body copied to mirrors; `None` for no limit.
    pub(crate) max_body_size: Option<u64>,
    pub(crate) checks_health: bool,
    /// Requests seen, and requests sent to each mirror, for Traefik's exact percentages.
    counts: Mutex<(u64, Vec<u64>)>,
    /// Mirror requests that failed (for tests and logs; the client never sees them).
    pub(crate) mirror_failures: AtomicU64,
}

impl Mirroring {
    pub(crate) fn new(
        name: &str,
        main: Node,
        mirrors: Vec<Mirror>,
        mirror_body: bool,
        max_body_size: i64,
        checks_health: bool,
    ) -> Self {
        let counts = Mutex::new((0, vec![0; mirrors.len()]));
        Self {
            name: name.to_owned(),
            main,
            mirrors,
            mirror_body,
            max_body_size: u64::try_from(max_body_size).ok(),
            checks_health,
            counts,
            mirror_failures: AtomicU64::new(0),
        }
    }

    /// The mirrors this request goes to: each keeps its share of all requests so far.
    fn active(&self) -> Vec<usize> {
        let Ok(mut counts) = self.counts.lock() else {
            return Vec::new();
        };
        counts.0 += 1;
        let total = counts.0;
        let mut active = Vec::new();
        for (index, mirror) in self.mirrors.iter().enumerate() {
            if counts.1[index] * 100 < total * u64::from(mirror.percent) {
                counts.1[index] += 1;
                active.push(index);
            }
        }
        active
    }

    async fn forward(
        self: &Arc<Self>,
        parts: Parts,
        body: RequestBody,
        how: Forwarding<'_>,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        let active = self.active();
        if active.is_empty() {
            return self.main.forward_boxed(parts, body, how).await;
        }
        let (copy, body) = if self.mirror_body {
            let buffered = buffer(body, self.max_body_size).await;
            match buffered.map_err(|cause| ForwardError::of_service(&self.name, cause))? {
                Buffered::Whole(bytes) => (bytes.clone(), RequestBody::from(bytes)),
                // Too large to mirror: the main service gets it all, the mirrors nothing.
                Buffered::Partial(body) => return self.main.forward_boxed(parts, body, how).await,
            }
        } else {
            (Bytes::new(), body)
        };
        for index in active {
            let (request, mirror_body) = self.mirror_copy(&parts, &copy);
            self.spawn_mirror(index, request, mirror_body, &how);
        }
        self.main.forward_boxed(parts, body, how).await
    }

    /// The request a mirror gets: the head, and the body when mirrors get bodies.
    fn mirror_copy(&self, parts: &Parts, body: &Bytes) -> (Parts, RequestBody) {
        let mut request = copy_parts(parts);
        if self.mirror_body {
            return (request, RequestBody::from(body.clone()));
        }
        // The mirror gets the head alone: nothing may announce the body it does not get.
        for framing in [CONTENT_LENGTH, TRANSFER_ENCODING, EXPECT] {
            request.headers.remove(framing);
        }
        (request, RequestBody::empty())
    }

    /// Sends a copy of the request to mirror `index` in the background; its answer, informational ones
    /// included, is dropped, and a failure only counted.
    fn spawn_mirror(self: &Arc<Self>, index: usize, request: Parts, body: RequestBody, how: &Forwarding<'_>) {
        let (client, policy, entry_headers) = (how.client.clone(), how.policy.clone(), how.entry_headers);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let how = Forwarding {
                client: &client,
                policy: &policy,
                entry_headers,
                interim: None,
            };
            let outcome = this.mirrors[index].node.forward_boxed(request, body, how).await;
            let drained = match outcome {
                Ok(response) => response.into_body().collect().await.is_ok(),
                Err(error) => {
                    tracing::debug!(target: "switchyard::proxy", %error, "mirror request failed");
                    false
                }
            };
            if !drained {
                this.mirror_failures.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// `failover`.
#[derive(Debug)]
pub(crate) struct Failover {
    pub(crate) name: String,
    pub(crate) main: Node,
    pub(crate) fallback: Node,
    /// Statuses of the main service's answers that send the request to the fallback, and the largest
    /// body kept to replay it (`None`: no limit).
    pub(crate) on_status: Option<(CodeRanges, Option<u64>)>,
    pub(crate) checks_health: bool,
}

impl Failover {
    async fn forward(
        &self,
        parts: Parts,
        body: RequestBody,
        how: Forwarding<'_>,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        if self.main.is_up() {
            let Some((statuses, limit)) = &self.on_status else {
                return self.main.forward_boxed(parts, body, how).await;
            };
            let failed = |cause| ForwardError::of_service(&self.name, cause);
            let bytes = match buffer(body, *limit).await.map_err(failed)? {
                Buffered::Whole(bytes) => bytes,
                Buffered::Partial(_) => return Err(failed(UpstreamError::RequestBodyTooLarge)),
            };
            let response = self
                .main
                .forward_boxed(copy_parts(&parts), RequestBody::from(bytes.clone()), how)
                .await?;
            let status = response.status().as_u16();
            if !statuses.contains(status) {
                return Ok(response);
            }
            drop(response);
            return self.to_fallback(parts, RequestBody::from(bytes), how).await;
        }
        self.to_fallback(parts, body, how).await
    }

    async fn to_fallback(
        &self,
        parts: Parts,
        body: RequestBody,
        how: Forwarding<'_>,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        if !self.fallback.is_up() {
            return Err(ForwardError::of_service(&self.name, UpstreamError::NoServer));
        }
        self.fallback.forward_boxed(parts, body, how).await
    }
}

/// A copy of a request head for a second request (the body goes separately).
fn copy_parts(parts: &Parts) -> Parts {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}

/// A request body read into memory, or as much of it as the limit allowed and the rest still streaming.
enum Buffered {
    Whole(Bytes),
    Partial(RequestBody),
}

/// Reads a body up to `limit` bytes.
async fn buffer(mut body: RequestBody, limit: Option<u64>) -> Result<Buffered, UpstreamError> {
    if let (Some(limit), Some(size)) = (limit, body.size_hint().exact()) {
        if size > limit {
            return Ok(Buffered::Partial(body));
        }
    }
    let mut read: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(UpstreamError::RequestBody)?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len() as u64;
        read.push(data);
        if limit.is_some_and(|limit| total > limit) {
            return Ok(Buffered::Partial(RequestBody::new(Resumed::new(
                read,
                None,
                Some(body),
            ))));
        }
    }
    Ok(Buffered::Whole(match read.len() {
        0 => Bytes::new(),
        1 => read.remove(0),
        _ => read.concat().into(),
    }))
}

#[cfg(test)]
mod tests {
    use http_body::Frame;
    use switchyard_middleware::BoxError;

    use super::*;

    #[tokio::test]
    async fn bodies_beyond_the_limit_keep_every_byte() {
        let body = RequestBody::new(http_body_util::StreamBody::new(futures_util::stream::iter(
            ["abc", "def", "ghi"].map(|s| Ok::<_, BoxError>(Frame::data(Bytes::from(s)))),
        )));
        let Buffered::Partial(rest) = buffer(body, Some(4)).await.unwrap() else {
            panic!("over the limit");
        };
        assert_eq!(rest.collect().await.unwrap().to_bytes(), "abcdefghi");
    }
}
