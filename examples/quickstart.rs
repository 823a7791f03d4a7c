//! The quickstart: a working gateway from an embedded configuration, with two demo backends.
//!
//! `cargo run --example quickstart` starts two demo backends and a gateway on 127.0.0.1:8000 (or a free
//! port if 8000 is taken), prints the requests to try, and after a few seconds changes the configuration
//! in code to show a live reload. Stop it with Ctrl-C; `-- --for 20` stops it after 20 seconds.

use std::time::Duration;

use switchyard::Gateway;
use switchyard::config::{
    DynamicConfig, EntryPoint, LoadBalancer, MemoryProvider, Middleware, RedirectRegex, Router, RouterTls, Service,
    StaticConfig,
};
use switchyard_examples::demo_backend;

const RELOAD_AFTER: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_for = std::env::args()
        .skip_while(|a| a != "--for")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);

    let demo_a = demo_backend("demo-a").await?;
    let demo_b = demo_backend("demo-b").await?;

    // The dynamic configuration, as a Traefik user would write it in a file.
    let mut dynamic = DynamicConfig::default();
    dynamic.http.routers.insert(
        "whoami".into(),
        Router::new("Host(`whoami.localhost`) || PathPrefix(`/whoami`)", "both"),
    );
    dynamic
        .http
        .routers
        .insert("a".into(), Router::new("PathPrefix(`/a`)", "demo-a"));
    // The same routes over TLS, on the same port: with no certificate configured, the gateway serves
    // a self-signed one it generates at start, as Traefik does.
    let mut over_tls = Router::new("Host(`whoami.localhost`) || PathPrefix(`/whoami`)", "both");
    over_tls.tls = Some(RouterTls::default());
    dynamic.http.routers.insert("whoami-tls".into(), over_tls);
    let both = LoadBalancer::with_urls([format!("http://{demo_a}"), format!("http://{demo_b}")]);
    dynamic.http.services.insert("both".into(), Service::from(both));
    dynamic.http.services.insert(
        "demo-a".into(),
        Service::from(LoadBalancer::with_urls([format!("http://{demo_a}")])),
    );
    let (provider, handle) = MemoryProvider::new("quickstart", dynamic);

    let gateway = start(provider).await?;
    let addr = gateway.local_addr("web").ok_or("the web entrypoint did not start")?;
    gateway.wait_for(|s| s.generation() > 0).await;
    println!("switchyard is routing on http://{addr} to two demo backends ({demo_a}, {demo_b}).");
    println!("Open http://{addr}/ in a browser for the dashboard, or try:");
    println!("  curl http://{addr}/whoami            # alternates demo-a / demo-b");
    println!("  curl -H 'Host: whoami.localhost' http://{addr}/");
    println!("  curl -k https://{addr}/whoami        # TLS on the same port, generated certificate");
    println!("  curl http://{addr}/a/anything        # demo-a only");
    println!("  curl http://{addr}/b                 # 404 until the reload below");
    println!("  curl http://{addr}/api/http/routers  # the configuration as JSON (internal API)");

    let reload = async {
        tokio::time::sleep(RELOAD_AFTER).await;
        handle.update(|c| {
            c.http
                .routers
                .insert("b".into(), Router::new("PathPrefix(`/b`)", "demo-b"));
            c.http.services.insert(
                "demo-b".into(),
                Service::from(LoadBalancer::with_urls([format!("http://{demo_b}")])),
            );
        });
        let live = gateway.wait_for(|s| s.route_count("web").plain == 5).await;
        println!(
            "reloaded without a restart (generation {}): `curl http://{addr}/b` now reaches demo-b",
            live.generation()
        );
        std::future::pending::<()>().await;
    };
    let stop = async {
        match run_for {
            Some(period) => tokio::time::sleep(period).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::select! {
        () = reload => {}
        () = stop => {}
    }
    println!("shutting down gracefully");
    gateway.shutdown().await;
    Ok(())
}

/// Starts the gateway with entrypoint `web` on 127.0.0.1:8000, or on a free port when 8000 is taken,
/// and the internal API and dashboard on the same entrypoint through an `api@internal` router, with
/// `/` redirected to the dashboard.
async fn start(provider: MemoryProvider) -> Result<switchyard::RunningGateway, Box<dyn std::error::Error>> {
    let mut api = DynamicConfig::default();
    api.http.routers.insert(
        "api".into(),
        Router::new(
            "PathPrefix(`/api`) || PathPrefix(`/dashboard`)",
            switchyard::proxy::API_SERVICE,
        ),
    );
    let mut home = Router::new("Path(`/`)", switchyard::proxy::NOOP_SERVICE);
    home.middlewares = vec!["to-dashboard".into()];
    api.http.routers.insert("home".into(), home);
    api.http.middlewares.insert(
        "to-dashboard".into(),
        Middleware::RedirectRegex(RedirectRegex {
            regex: "^(https?://[^/]+)/$".into(),
            replacement: "${1}/dashboard/".into(),
            permanent: false,
        }),
    );
    let (api, _) = MemoryProvider::new("dashboard", api);
    let address = match std::net::TcpListener::bind("127.0.0.1:8000") {
        Ok(_free) => "127.0.0.1:8000",
        Err(_) => "127.0.0.1:0",
    };
    let mut config = StaticConfig::default();
    config.entry_points.insert("web".into(), EntryPoint::new(address));
    let gateway = Gateway::new(&config)
        .throttle(Duration::from_millis(100))
        .provider(provider)
        .provider(api)
        .start()
        .await?;
    Ok(gateway)
}
