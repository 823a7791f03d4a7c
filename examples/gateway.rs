//! A standalone gateway driven by a Traefik static configuration file.
//!
//! ```sh
//! cargo run --release --example gateway -- --config traefik.yml [--workers N]
//! ```
//!
//! Reads `entryPoints`, `providers` (file, kubernetesIngress, kubernetesCRD), `api` and the rest of the static
//! configuration, serves until Ctrl-C or SIGTERM, then shuts down gracefully (each entrypoint's
//! `transport.lifeCycle`). Unknown keys are printed as warnings, as Traefik would silently ignore them.
//! Logs go to stderr; set `RUST_LOG=switchyard=debug` for more.

use std::path::PathBuf;

use switchyard::config::{StaticConfig, load_file};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "switchyard=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let Some(path) = flag("--config").map(PathBuf::from) else {
        return Err("usage: gateway --config <traefik static configuration> [--workers N]".into());
    };
    let workers = match flag("--workers") {
        Some(n) => n.parse()?,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let loaded = load_file::<StaticConfig>(&path)?;
    for unknown in &loaded.unknown_keys {
        eprintln!("warning: {unknown}");
    }
    // One worker: a current-thread runtime, with no work stealing or cross-thread wake-ups to pay for.
    let runtime = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(loaded.value))
}

async fn serve(config: StaticConfig) -> Result<(), Box<dyn std::error::Error>> {
    let gateway = switchyard::gateway_from_static(&config)?.start().await?;
    for name in config.effective_entry_points().keys() {
        if let Some(address) = gateway.local_addr(name) {
            eprintln!("entrypoint {name} listening on {address}");
        }
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing requests in flight");
    gateway.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut terminate) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
