//! Middlewares of your own, configured like Traefik plugins.
//!
//! Run with `cargo run --example plugin_middleware`. Two plugins are registered from Rust code:
//! `requestId` gives every request an `X-Request-Id` (keeping one the client sent), and `tenant` refuses
//! requests whose `X-Tenant` header is not in its list. The dynamic configuration below refers to them
//! under `plugin:`, with their options, as a Traefik file refers to plugins; a third middleware names a
//! plugin that is not registered, and the report says so while the rest serves.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderName, HeaderValue, Request, StatusCode};
use serde::Deserialize;
use switchyard::Gateway;
use switchyard::config::{DynamicConfig, EntryPoint, Format, MemoryProvider, StaticConfig, load_str};
use switchyard::middleware::{HttpService, MiddlewareLayer, Plugins, RequestBody, error_response};
use switchyard_examples::demo_backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::layer::layer_fn;
use tower::{ServiceExt, service_fn};

const DYNAMIC: &str = r#"
http:
  routers:
    app:
      rule: PathPrefix(`/`)
      service: app
      middlewares: [ids, tenants]
    broken:
      rule: PathPrefix(`/broken`)
      service: app
      middlewares: [missing]
  middlewares:
    ids:
      plugin:
        requestId:
          header: X-Request-Id
    tenants:
      plugin:
        tenant:
          allowed: [acme, globex]
    missing:
      plugin:
        rateShaper: {}
  services:
    app:
      loadBalancer:
        servers:
          - url: http://BACKEND
"#;

/// Options of the `requestId` plugin.
#[derive(Deserialize)]
struct RequestIdOptions {
    header: String,
}

/// Options of the `tenant` plugin.
#[derive(Deserialize)]
struct TenantOptions {
    allowed: BTreeSet<String>,
}

fn plugins() -> Plugins {
    Plugins::new()
        .with_typed("requestId", |options: RequestIdOptions| {
            let header = HeaderName::try_from(options.header)?;
            let next = Arc::new(AtomicU64::new(1));
            Ok(MiddlewareLayer::new(layer_fn(move |inner: HttpService| {
                let (header, next) = (header.clone(), Arc::clone(&next));
                HttpService::new(inner.map_request(move |mut req: Request<RequestBody>| {
                    if !req.headers().contains_key(&header) {
                        let id = format!("req-{:08}", next.fetch_add(1, Ordering::Relaxed));
                        req.headers_mut()
                            .insert(&header, HeaderValue::from_str(&id).expect("ASCII id"));
                    }
                    req
                }))
            })))
        })
        .with_typed("tenant", |options: TenantOptions| {
            if options.allowed.is_empty() {
                return Err("`allowed` lists no tenant".into());
            }
            let allowed = Arc::new(options.allowed);
            Ok(MiddlewareLayer::new(layer_fn(move |inner: HttpService| {
                let allowed = Arc::clone(&allowed);
                HttpService::new(service_fn(move |req: Request<RequestBody>| {
                    let tenant = req.headers().get("x-tenant").and_then(|v| v.to_str().ok());
                    let known = tenant.is_some_and(|t| allowed.contains(t));
                    let inner = inner.clone();
                    async move {
                        if known {
                            inner.oneshot(req).await
                        } else {
                            Ok(error_response(StatusCode::FORBIDDEN))
                        }
                    }
                }))
            })))
        })
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = demo_backend("app").await?;
    let yaml = DYNAMIC.replace("BACKEND", &backend.to_string());
    let dynamic: DynamicConfig = load_str(&yaml, Format::Yaml, "dynamic.yml")?.value;
    let (provider, _handle) = MemoryProvider::new("file", dynamic);

    let mut config = StaticConfig::default();
    config.entry_points.insert("web".into(), EntryPoint::new("127.0.0.1:0"));
    let gateway = Gateway::new(&config)
        .plugins(plugins())
        .provider(provider)
        .start()
        .await?;
    gateway.wait_for(|s| s.generation() > 0).await;
    let addr = gateway.local_addr("web").ok_or("no web entrypoint")?;

    for error in gateway.snapshot().report().errors() {
        println!("reported: {error}\n");
    }
    for (path, tenant) in [
        ("/orders", Some("acme")),
        ("/orders", Some("initech")),
        ("/broken", Some("acme")),
    ] {
        let response = request(addr, path, tenant).await?;
        let status = response.lines().next().unwrap_or_default();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        println!("GET {path} as {tenant:?} -> {status}\n{body}");
    }
    gateway.shutdown().await;
    Ok(())
}
