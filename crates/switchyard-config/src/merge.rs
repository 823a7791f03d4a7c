//! Merging every provider's latest snapshot into one configuration with qualified names.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::names::qualify;
use crate::provider::Snapshot;
use crate::report::{ConfigError, Problem};
use crate::{DynamicConfig, Router};

/// The name of the TLS options and store that every provider shares rather than qualifies.
pub const DEFAULT_TLS_NAME: &str = "default";

/// The merged configuration, with where each element came from.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub config: DynamicConfig,
    /// Qualified key path (`http.routers.api@file`) → (provider, file or other origin within it).
    pub origins: BTreeMap<String, (String, Option<String>)>,
    /// Problems of the merge itself (the default TLS options defined twice, unsupported sections).
    pub errors: Vec<ConfigError>,
}

impl Merged {
    pub fn origin_of(&self, key: &str) -> (String, Option<String>) {
        self.origins.get(key).cloned().unwrap_or_default()
    }
}

/// Merges the snapshots (by provider name). Routers without entrypoints get `default_entry_points`.
pub(crate) fn merge(snapshots: &BTreeMap<Arc<str>, Arc<Snapshot>>, default_entry_points: &[String]) -> Merged {
    let mut merged = Merged::default();
    let mut default_options_from = Vec::new();
    let mut default_store_from = Vec::new();
    for (provider, snapshot) in snapshots {
        let provider: &str = provider;
        let origin = |section: &str, name: &str| {
            (
                provider.to_owned(),
                snapshot.origins.get(&format!("{section}.{name}")).cloned(),
            )
        };
        let http = &snapshot.config.http;
        let out = &mut merged.config.http;
        for (name, router) in &http.routers {
            let key = qualify(name, provider);
            merged
                .origins
                .insert(format!("http.routers.{key}"), origin("http.routers", name));
            out.routers
                .insert(key, qualified_router(router, provider, default_entry_points));
        }
        for (name, service) in &http.services {
            let key = qualify(name, provider);
            let mut service = service.clone();
            service.qualify_references(provider);
            merged
                .origins
                .insert(format!("http.services.{key}"), origin("http.services", name));
            out.services.insert(key, service);
        }
        for (name, middleware) in &http.middlewares {
            let key = qualify(name, provider);
            let mut middleware = middleware.clone();
            middleware.qualify_references(provider);
            merged
                .origins
                .insert(format!("http.middlewares.{key}"), origin("http.middlewares", name));
            out.middlewares.insert(key, middleware);
        }
        for (name, transport) in &http.servers_transports {
            let key = qualify(name, provider);
            merged.origins.insert(
                format!("http.serversTransports.{key}"),
                origin("http.serversTransports", name),
            );
            out.servers_transports.insert(key, transport.clone());
        }
        for (section, present) in [("tcp", &snapshot.config.tcp), ("udp", &snapshot.config.udp)] {
            if present.is_some() {
                merged.errors.push(ConfigError {
                    provider: provider.to_owned(),
                    origin: None,
                    key_path: section.to_owned(),
                    problem: Problem::Unsupported(format!(
                        "{} routing is not supported yet; this section is ignored",
                        section.to_uppercase()
                    )),
                });
            }
        }
        let tls = &snapshot.config.tls;
        merged.config.tls.certificates.extend(tls.certificates.iter().cloned());
        for (name, options) in &tls.options {
            let key = if name == DEFAULT_TLS_NAME {
                default_options_from.push(provider.to_owned());
                name.clone()
            } else {
                qualify(name, provider)
            };
            merged.config.tls.options.insert(key, options.clone());
        }
        for (name, store) in &tls.stores {
            let key = if name == DEFAULT_TLS_NAME {
                default_store_from.push(provider.to_owned());
                name.clone()
            } else {
                qualify(name, provider)
            };
            merged.config.tls.stores.insert(key, store.clone());
        }
    }
    for (what, providers) in [("options", default_options_from), ("stores", default_store_from)] {
        if providers.len() > 1 {
            if what == "options" {
                merged.config.tls.options.remove(DEFAULT_TLS_NAME);
            } else {
                merged.config.tls.stores.remove(DEFAULT_TLS_NAME);
            }
            merged.errors.push(ConfigError {
                provider: providers.join(", "),
                origin: None,
                key_path: format!("tls.{what}.{DEFAULT_TLS_NAME}"),
                problem: Problem::Conflict(format!(
                    "the default TLS {what} are defined by several providers ({}); none of them is used",
                    providers.join(", ")
                )),
            });
        }
    }
    merged
}

fn qualified_router(router: &Router, provider: &str, default_entry_points: &[String]) -> Router {
    let mut router = router.clone();
    if !router.service.is_empty() {
        router.service = qualify(&router.service, provider);
    }
    for middleware in &mut router.middlewares {
        *middleware = qualify(middleware, provider);
    }
    if let Some(tls) = &mut router.tls {
        if !tls.options.is_empty() && tls.options != DEFAULT_TLS_NAME {
            tls.options = qualify(&tls.options, provider);
        }
    }
    if router.entry_points.is_empty() {
        router.entry_points = default_entry_points.to_vec();
    }
    router
}
