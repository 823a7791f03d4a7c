//! Embedding switchyard's router in an axum application.
//!
//! `cargo run --example embed_axum` serves on 127.0.0.1 (a free port): axum answers `/health` itself
//! and hands every other request to switchyard, which routes it by Traefik rules to a demo backend and
//! follows configuration changes live. The `app` entrypoint listens on no socket of its own: axum owns
//! the socket, switchyard the routing. Stop it with Ctrl-C; `-- --for 10` stops after ten seconds.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router as AxumRouter;
use axum::extract::ConnectInfo;
use axum::routing::get;
use switchyard::Gateway;
use switchyard::config::{DynamicConfig, LoadBalancer, MemoryProvider, Router, Service, StaticConfig};
use switchyard::proxy::RunningGateway;
use switchyard_examples::demo_backend;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// axum serving on a port of its own, with switchyard's router behind it.
pub struct Embedded {
    /// Where axum listens.
    pub addr: SocketAddr,
    /// The gateway whose `app` entrypoint axum serves.
    pub gateway: RunningGateway,
    serving: JoinHandle<std::io::Result<()>>,
}

/// Starts a demo backend, a gateway routing `/app` to it on the embedded entrypoint `app`, and axum.
pub async fn start() -> Result<Embedded, BoxError> {
    let backend = demo_backend("demo").await?;
    let mut dynamic = DynamicConfig::default();
    dynamic
        .http
        .routers
        .insert("app".into(), Router::new("PathPrefix(`/app`)", "app"));
    dynamic.http.services.insert(
        "app".into(),
        Service::from(LoadBalancer::with_urls([format!("http://{backend}")])),
    );
    let (provider, _handle) = MemoryProvider::new("embedded", dynamic);
    let gateway = Gateway::new(&StaticConfig::default())
        .embedded("app")
        .provider(provider)
        .throttle(Duration::ZERO)
        .start()
        .await?;
    gateway.wait_for(|s| s.generation() > 0).await;
    // The client's address for X-Forwarded-For and ClientIP rules, from what axum records.
    let routing = gateway
        .service("app")
        .ok_or("no entrypoint `app`")?
        .peer_from(|extensions| extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0));
    let app = AxumRouter::new()
        .route("/health", get(|| async { "ok\n" }))
        .fallback_service(routing);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving =
        tokio::spawn(
            async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await },
        );
    Ok(Embedded { addr, gateway, serving })
}

impl Embedded {
    /// Stops axum, then the gateway.
    pub async fn stop(self) {
        self.serving.abort();
        self.gateway.shutdown().await;
    }
}

/// A request through axum: its status line and body.
pub async fn fetch(addr: SocketAddr, path: &str) -> Result<(u16, String), BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    Ok((status, body))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let embedded = start().await?;
    let addr = embedded.addr;
    println!("axum on http://{addr}: try `curl http://{addr}/health` and `curl http://{addr}/app/hello`");
    let run_for = std::env::args()
        .skip_while(|a| a != "--for")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    match run_for {
        Some(period) => tokio::time::sleep(period).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    embedded.stop().await;
    Ok(())
}
