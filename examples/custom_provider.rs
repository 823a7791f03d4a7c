//! Your own discovery in a few lines: a `Provider` over an in-process service registry.
//!
//! Run with `cargo run --example custom_provider`. The registry stands for whatever you discover from
//! (Consul, a database, an HTTP endpoint): each time it changes, the provider publishes a complete
//! snapshot, and the aggregator merges, validates and publishes it. One registration is broken on
//! purpose, to show how errors are reported per router while the rest goes live.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard::config::{
    Aggregator, DynamicConfig, LoadBalancer, Provider, ProviderError, ProviderSink, Router, Service,
};
use tokio::sync::Notify;

/// A toy service registry: application name → (host name it serves, backend URLs).
#[derive(Default)]
struct Registry {
    apps: Mutex<BTreeMap<String, (String, Vec<String>)>>,
    changed: Notify,
}

impl Registry {
    fn register(&self, app: &str, host: &str, backends: &[&str]) {
        let backends = backends.iter().map(|b| (*b).to_owned()).collect();
        self.apps
            .lock()
            .expect("registry lock")
            .insert(app.to_owned(), (host.to_owned(), backends));
        self.changed.notify_one();
    }
}

/// The provider: turns every registry entry into a router and a load-balanced service.
struct RegistryProvider(Arc<Registry>);

impl Provider for RegistryProvider {
    fn name(&self) -> &str {
        "registry"
    }

    async fn run(self, sink: ProviderSink) -> Result<(), ProviderError> {
        loop {
            let mut config = DynamicConfig::default();
            for (app, (host, backends)) in self.0.apps.lock().expect("registry lock").iter() {
                let rule = format!("Host(`{host}`)");
                config.http.routers.insert(app.clone(), Router::new(rule, app.clone()));
                let service = Service::from(LoadBalancer::with_urls(backends.iter().cloned()));
                config.http.services.insert(app.clone(), service);
            }
            sink.publish(config);
            tokio::select! {
                () = self.0.changed.notified() => {}
                () = sink.shutdown() => return Ok(()),
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let registry = Arc::new(Registry::default());
    registry.register(
        "shop",
        "shop.example.com",
        &["http://10.0.0.11:8080", "http://10.0.0.12:8080"],
    );

    let running = Aggregator::new()
        .throttle(Duration::from_millis(100))
        .provider(RegistryProvider(Arc::clone(&registry)))
        .start()
        .expect("one provider with a valid name");
    let mut updates = running.subscribe();

    // Later, the registry changes: a new app, and one registered with a backend URL that is not valid.
    let later = Arc::clone(&registry);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        later.register("blog", "blog.example.com", &["http://10.0.0.21:2368"]);
        later.register("legacy", "legacy.example.com", &["10.0.0.31:80"]);
    });

    while updates.changed().await.is_ok() {
        let published = Arc::clone(&updates.borrow_and_update());
        println!("configuration #{}:", published.generation);
        for (name, router) in &published.runtime.config.http.routers {
            println!("  live    {name}: {} -> {}", router.rule, router.service);
        }
        for error in published.runtime.report.errors() {
            println!("  error   {error}");
        }
        if published.runtime.report.routers.len() == 3 {
            break;
        }
    }
    running.shutdown().await;
}
