//! The Kubernetes providers against a cluster, connected with a kubeconfig.
//!
//! ```sh
//! cargo run --example kubernetes -- [--kubeconfig ~/.kube/config] [--namespace default] [--listen 127.0.0.1:8000] [--crd]
//! ```
//!
//! With `--crd`, Traefik's custom resources are served too (IngressRoutes and friends; apply
//! `deploy/crds.yaml` first).
//!
//! Without `--kubeconfig`, `KUBECONFIG` or `~/.kube/config` is used (or the service account when run in
//! a pod). Serves the cluster's Ingresses (class `traefik`, or none) on the `web` entrypoint and prints
//! the routers each time the cluster changes, with the objects the provider had to skip. Try it with
//! `kubectl create deployment whoami --image=traefik/whoami --replicas=3`, `kubectl expose deployment
//! whoami --port=80` and `kubectl create ingress whoami --rule='/*=whoami:80'`, then
//! `curl http://127.0.0.1:8000/`.

use switchyard::Gateway;
use switchyard::config::{EntryPoint, StaticConfig};
use switchyard::kubernetes::{CrdProvider, IngressProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "switchyard=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let values =
        |name: &str| -> Vec<String> { args.windows(2).filter(|w| w[0] == name).map(|w| w[1].clone()).collect() };
    let kubeconfig = values("--kubeconfig").pop();
    let provider = match &kubeconfig {
        Some(path) => IngressProvider::kubeconfig(path),
        None => IngressProvider::new(),
    }
    .namespaces(values("--namespace"));
    let crd = args.iter().any(|a| a == "--crd").then(|| {
        match &kubeconfig {
            Some(path) => CrdProvider::kubeconfig(path),
            None => CrdProvider::new(),
        }
        .namespaces(values("--namespace"))
    });
    let listen = values("--listen").pop().unwrap_or_else(|| "127.0.0.1:8000".into());

    let mut config = StaticConfig::default();
    config.entry_points.insert("web".into(), EntryPoint::new(listen));
    let mut gateway = Gateway::new(&config).provider(provider);
    if let Some(crd) = crd {
        gateway = gateway.provider(crd);
    }
    let gateway = gateway.start().await?;
    if let Some(address) = gateway.local_addr("web") {
        eprintln!("serving the cluster's Ingresses on http://{address}");
    }
    let mut snapshots = gateway.subscribe();
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { break },
            _ = tokio::signal::ctrl_c() => break,
        }
        let snapshot = snapshots.borrow_and_update().clone();
        let published = snapshot.published();
        println!("-- generation {}", snapshot.generation());
        for (name, router) in &published.runtime.config.http.routers {
            println!("{name}: {} -> {}", router.rule, router.service);
        }
        for status in published.providers.values() {
            for warning in &status.warnings {
                println!("skipped: {warning}");
            }
        }
    }
    gateway.shutdown().await;
    Ok(())
}
