//! A standalone gateway driven by a Traefik static configuration file.
//!
//! ```sh
//! cargo run --release --example gateway -- --config traefik.yml [--workers N]
//! ```
//!
//! Reads `entryPoints`, `providers` (file, kubernetesIngress, kubernetesCRD), `api` and the rest of the static
//! configuration, serves until Ctrl-C or SIGTERM, then shuts down gracefully (each entrypoint's
//! `transport.lifeCycle`). Unknown keys are printed as warnings, as Traefik would silently ignore them.
//!
//! Traefik's `log` section sets up the logs: `level`, `format` (`common` or `json`), `filePath` (else
//! stderr) and `noColor`; without it, the level is INFO. `RUST_LOG` (say `switchyard=debug`) overrides
//! the level. The rotation options (`maxSize`, `maxBackups`, `maxAge`, `compress`) are refused: rotate
//! with logrotate instead.

use std::path::PathBuf;

use switchyard::config::{Log, StaticConfig, load_file};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    init_logs(loaded.value.log.as_ref())?;
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

/// The `tracing` subscriber Traefik's `log` section describes.
fn init_logs(log: Option<&Log>) -> Result<(), Box<dyn std::error::Error>> {
    let level = match log {
        Some(log) => switchyard::observe::log_level(log)?,
        None => tracing::Level::INFO,
    };
    let log = log.cloned().unwrap_or_default();
    if log.max_size > 0 || log.max_backups > 0 || log.max_age > 0 || log.compress {
        return Err(
            "log.maxSize, maxBackups, maxAge and compress are not supported: rotate the file with logrotate".into(),
        );
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| format!("switchyard={}", level.as_str().to_ascii_lowercase()).into());
    let writer = if log.file_path.is_empty() {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log.file_path)?;
        BoxMakeWriter::new(std::sync::Mutex::new(file))
    };
    let ansi = !log.no_color && log.file_path.is_empty();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match log.format.as_str() {
        "json" => builder.json().init(),
        "common" | "" => builder.with_ansi(ansi).init(),
        other => return Err(format!("log.format: `{other}` is neither `common` nor `json`").into()),
    }
    Ok(())
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
