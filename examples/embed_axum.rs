//! Embedding switchyard's router in an axum application.
//!
//! `cargo run --example embed_axum` serves on 127.0.0.1 (a free port): axum answers `/health` itself
//! and hands every other request to switchyard, which routes it by Traefik rules to a demo backend and
//! follows configuration changes live. Stop it with Ctrl-C; `-- --for 10` stops after ten seconds.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router as AxumRouter;
use axum::extract::{ConnectInfo, Request};
use axum::routing::get;
use switchyard::Gateway;
use switchyard::config::{DynamicConfig, EntryPoint, LoadBalancer, MemoryProvider, Router, Service, StaticConfig};
use switchyard::proxy::PeerAddr;
use switchyard_examples::demo_backend;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    // The gateway's own listener is not used here: axum owns the socket, switchyard the routing.
    let mut config = StaticConfig::default();
    config.entry_points.insert("web".into(), EntryPoint::new("127.0.0.1:0"));
    let gateway = Gateway::new(&config)
        .provider(provider)
        .throttle(Duration::ZERO)
        .start()
        .await?;
    gateway.wait_for(|s| s.generation() > 0).await;
    let routing = gateway.service("web").ok_or("no entrypoint `web`")?;

    let app = AxumRouter::new()
        .route("/health", get(|| async { "ok\n" }))
        .fallback_service(WithPeer(routing));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("axum on http://{addr}: try `curl http://{addr}/health` and `curl http://{addr}/app/hello`");
    let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
    let run_for = std::env::args()
        .skip_while(|a| a != "--for")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    tokio::select! {
        result = serve => result?,
        () = async {
            match run_for {
                Some(period) => tokio::time::sleep(period).await,
                None => { let _ = tokio::signal::ctrl_c().await; }
            }
        } => {}
    }
    gateway.shutdown().await;
    Ok(())
}

/// Passes axum's client address on to switchyard (for `X-Forwarded-For` and `ClientIP` rules).
#[derive(Clone)]
struct WithPeer(switchyard::proxy::RouterService);

impl tower_service::Service<Request> for WithPeer {
    type Response = http::Response<switchyard::proxy::ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = <switchyard::proxy::RouterService as tower_service::Service<Request>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        tower_service::Service::<Request>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
            req.extensions_mut().insert(PeerAddr(peer));
        }
        self.0.call(req)
    }
}
