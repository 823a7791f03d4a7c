//! Extending a gateway from code: a load-balancing strategy of your own, and a tower layer around
//! every request.
//!
//! `cargo run --example extend_gateway` starts two demo backends and a gateway whose service names the
//! strategy `first-up` (send everything to the first server in rotation: a primary with a standby), and
//! whose every answer carries an `x-request-id` stamped by a layer of the example's own. It sends a
//! few requests, takes the primary out, sends more, and prints who answered.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard::Gateway;
use switchyard::config::{DynamicConfig, EntryPoint, Format, MemoryProvider, StaticConfig, load_str};
use switchyard::middleware::{HttpService, MiddlewareLayer};
use switchyard::proxy::balancing::{Balancer, ServerSet};
use switchyard_examples::demo_backend;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `first-up`: the first server with a weight that is in rotation.
#[derive(Debug)]
struct FirstUp;

impl Balancer for FirstUp {
    fn pick(&self, servers: &dyn ServerSet, _client: IpAddr) -> Option<usize> {
        (0..servers.len()).find(|&i| servers.weight(i) > 0 && servers.stats(i).is_up())
    }
}

/// A layer numbering every answer of the gateway, in `x-request-id`.
fn request_ids() -> MiddlewareLayer {
    let next = Arc::new(AtomicU64::new(1));
    MiddlewareLayer::new(tower::layer::layer_fn(move |inner: HttpService| {
        let next = Arc::clone(&next);
        HttpService::new(inner.map_response(move |mut response: http::Response<_>| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            response
                .headers_mut()
                .insert("x-request-id", http::HeaderValue::from(id));
            response
        }))
    }))
}

/// The service, as it would be written in a Traefik file: the strategy is the one registered below.
fn configuration(primary: &str, standby: &str, primary_weight: u32) -> Result<DynamicConfig, BoxError> {
    let yaml = format!(
        "http:\n  routers:\n    site:\n      rule: PathPrefix(`/`)\n      service: site\n  services:\n    site:\n      loadBalancer:\n        strategy: first-up\n        servers:\n          - url: http://{primary}\n            weight: {primary_weight}\n          - url: http://{standby}\n"
    );
    Ok(load_str(&yaml, Format::Yaml, "site.yml")?.value)
}

/// Who answered one request, and the id the layer gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The demo backend's name.
    pub backend: String,
    /// `x-request-id`.
    pub request_id: String,
}

/// Three requests with the primary in, then three with it out; who answered each.
pub async fn run() -> Result<Vec<Answer>, BoxError> {
    let (primary, standby) = (demo_backend("primary").await?, demo_backend("standby").await?);
    let (primary, standby) = (primary.to_string(), standby.to_string());
    let (provider, handle) = MemoryProvider::new("site", configuration(&primary, &standby, 1)?);
    let mut static_config = StaticConfig::default();
    static_config
        .entry_points
        .insert("web".into(), EntryPoint::new("127.0.0.1:0"));
    let gateway = Gateway::new(&static_config)
        .balancer("first-up", |_servers| Box::new(FirstUp))
        .layer(request_ids())
        .provider(provider)
        .throttle(Duration::ZERO)
        .start()
        .await?;
    gateway.wait_for(|s| s.generation() > 0).await;
    let router = gateway.service("web").ok_or("no entrypoint `web`")?;
    let mut answers = Vec::new();
    for round in 0..2 {
        if round == 1 {
            let before = gateway.snapshot().generation();
            let standby_only = configuration(&primary, &standby, 0)?;
            handle.update(move |config| *config = standby_only);
            gateway.wait_for(|s| s.generation() > before).await;
        }
        for _ in 0..3 {
            let request = http::Request::get("/").body(http_body_util::Empty::<bytes::Bytes>::new())?;
            let response = router.clone().oneshot(request).await?;
            let request_id = response.headers()["x-request-id"].to_str()?.to_owned();
            let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
            let text = String::from_utf8_lossy(&body);
            let backend = text.split_whitespace().next().unwrap_or_default().to_owned();
            answers.push(Answer { backend, request_id });
        }
    }
    gateway.shutdown().await;
    Ok(answers)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    for answer in run().await? {
        println!("request {} answered by {}", answer.request_id, answer.backend);
    }
    Ok(())
}
