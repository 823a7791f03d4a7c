//! Middlewares of your own, configured like Traefik plugins.
//!
//! Run with `cargo run --example plugin_middleware`. Two plugins are registered from Rust code, each a
//! plain tower layer: `requestId` gives every request an `X-Request-Id` (keeping one the client sent),
//! and `tenant` refuses requests whose `X-Tenant` header is not in its list. The dynamic configuration,
//! built in code here, refers to them as a Traefik file refers to plugins, with their options:
//!
//! ```yaml
//! http:
//!   middlewares:
//!     ids:
//!       plugin:
//!         requestId:
//!           header: X-Request-Id
//! ```
//!
//! A third middleware names a plugin that is not registered: the report says so, and its router is
//! left out while the rest serves.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderName, HeaderValue, Request, StatusCode};
use serde::{Deserialize, Serialize};
use switchyard::Gateway;
use switchyard::config::{DynamicConfig, EntryPoint, LoadBalancer, MemoryProvider, Middleware, Router, StaticConfig};
use switchyard::middleware::{HttpService, Plugins, RequestBody, error_response};
use switchyard_examples::demo_backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::layer::layer_fn;
use tower::util::MapRequestLayer;
use tower::{ServiceExt, service_fn};

/// Options of the `requestId` plugin.
#[derive(Serialize, Deserialize)]
struct RequestIdOptions {
    header: String,
}

/// Options of the `tenant` plugin.
#[derive(Serialize, Deserialize)]
struct TenantOptions {
    allowed: BTreeSet<String>,
}

/// What one request was, and what it got.
#[derive(Debug)]
pub struct Exchange {
    /// The request's path.
    pub path: &'static str,
    /// The request's `X-Tenant`, if any.
    pub tenant: Option<&'static str>,
    /// The status line answered.
    pub status: String,
    /// The body answered.
    pub body: String,
}

/// What running the example showed: the problems reported, then each exchange.
#[derive(Debug)]
pub struct Outcome {
    /// The configuration errors the gateway reported.
    pub reported: Vec<String>,
    /// The requests sent and their answers.
    pub exchanges: Vec<Exchange>,
}

fn plugins() -> Plugins {
    Plugins::new()
        .with_typed("requestId", |options: RequestIdOptions| {
            let header = HeaderName::try_from(options.header)?;
            let next = Arc::new(AtomicU64::new(1));
            Ok(MapRequestLayer::new(move |mut req: Request<RequestBody>| {
                if !req.headers().contains_key(&header) {
                    let id = format!("req-{:08}", next.fetch_add(1, Ordering::Relaxed));
                    req.headers_mut()
                        .insert(&header, HeaderValue::from_str(&id).expect("ASCII id"));
                }
                req
            }))
        })
        .with_typed("tenant", |options: TenantOptions| {
            if options.allowed.is_empty() {
                return Err("`allowed` lists no tenant".into());
            }
            let allowed = Arc::new(options.allowed);
            Ok(layer_fn(move |inner: HttpService| {
                let allowed = Arc::clone(&allowed);
                service_fn(move |req: Request<RequestBody>| {
                    let tenant = req.headers().get("x-tenant").and_then(|v| v.to_str().ok());
                    let known = tenant.is_some_and(|t| allowed.contains(t));
                    let inner = inner.clone();
                    async move {
                        if known {
                            inner.oneshot(req).await
                        } else {
                            Ok::<_, Infallible>(error_response(StatusCode::FORBIDDEN))
                        }
                    }
                })
            }))
        })
}

/// The dynamic configuration: every path through `ids` and `tenants`, and `/broken` through a plugin
/// no one registered.
fn dynamic(backend: std::net::SocketAddr) -> Result<DynamicConfig, Box<dyn std::error::Error>> {
    let mut config = DynamicConfig::default();
    let http = &mut config.http;
    let ids = RequestIdOptions {
        header: "X-Request-Id".into(),
    };
    let tenants = TenantOptions {
        allowed: ["acme".into(), "globex".into()].into(),
    };
    http.middlewares
        .insert("ids".into(), Middleware::plugin("requestId", &ids)?);
    http.middlewares
        .insert("tenants".into(), Middleware::plugin("tenant", &tenants)?);
    http.middlewares.insert(
        "missing".into(),
        Middleware::plugin("rateShaper", &BTreeMap::<String, String>::new())?,
    );
    let app = Router::new("PathPrefix(`/`)", "app").with_middlewares(["ids", "tenants"]);
    http.routers.insert("app".into(), app);
    let broken = Router::new("PathPrefix(`/broken`)", "app").with_middlewares(["missing"]);
    http.routers.insert("broken".into(), broken);
    http.services.insert(
        "app".into(),
        LoadBalancer::with_urls([format!("http://{backend}")]).into(),
    );
    Ok(config)
}

/// Sends one HTTP/1.1 request over a plain TCP connection and returns the response text.
async fn request(addr: std::net::SocketAddr, path: &str, tenant: Option<&str>) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let tenant = tenant.map_or(String::new(), |t| format!("X-Tenant: {t}\r\n"));
    let head = format!("GET {path} HTTP/1.1\r\nHost: app.localhost\r\n{tenant}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

/// Starts a gateway with the plugins, sends three requests through it and returns what they got.
pub async fn run() -> Result<Outcome, Box<dyn std::error::Error>> {
    let backend = demo_backend("app").await?;
    let (provider, _handle) = MemoryProvider::new("file", dynamic(backend)?);
    let mut config = StaticConfig::default();
    config.entry_points.insert("web".into(), EntryPoint::new("127.0.0.1:0"));
    let gateway = Gateway::new(&config)
        .plugins(plugins())
        .provider(provider)
        .start()
        .await?;
    gateway.wait_for(|s| s.generation() > 0).await;
    let addr = gateway.local_addr("web").ok_or("no web entrypoint")?;

    let reported = gateway.snapshot().report().errors().map(ToString::to_string).collect();
    let mut exchanges = Vec::new();
    for (path, tenant) in [
        ("/orders", Some("acme")),
        ("/orders", Some("initech")),
        ("/broken", Some("acme")),
    ] {
        let response = request(addr, path, tenant).await?;
        exchanges.push(Exchange {
            path,
            tenant,
            status: response.lines().next().unwrap_or_default().to_owned(),
            body: response.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned(),
        });
    }
    gateway.shutdown().await;
    Ok(Outcome { reported, exchanges })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let outcome = run().await?;
    for error in &outcome.reported {
        println!("reported: {error}\n");
    }
    for exchange in &outcome.exchanges {
        println!(
            "GET {} as {:?} -> {}\n{}",
            exchange.path, exchange.tenant, exchange.status, exchange.body
        );
    }
    Ok(())
}
